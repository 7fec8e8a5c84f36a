"""restart_policy.testing through pytester: a user's test module, run twice.

Each test writes a test module that builds a stack from knobs (the ``KNOBS`` environment
variable), records its snapshot (``--snapshot-update``), changes one knob and runs again: a real
change must fail the snapshot, churn must keep it.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

# pytester's in-process runs drop the modules they import; imported here, jsii loads each CDK
# module once for the whole file instead of once a run.
import aws_cdk
import aws_cdk.aws_ec2
import aws_cdk.aws_ecs
import aws_cdk.aws_elasticloadbalancingv2
import aws_cdk.aws_kms
import aws_cdk.aws_lambda
import aws_cdk.aws_route53
import aws_cdk.aws_s3
import aws_cdk.aws_s3_assets
import aws_cdk.aws_sqs
import aws_cdk.aws_ssm  # noqa: F401
import pytest
import syrupy.filters
import syrupy.matchers  # noqa: F401

import restart_policy.testing._assertion  # noqa: F401

HEADER = textwrap.dedent(
    """
    import json
    import os

    from aws_cdk import App, CfnOutput, Duration, NestedStack, RemovalPolicy, Stack, Tags
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_ecs as ecs
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_s3 as s3
    from aws_cdk import aws_sqs as sqs
    from constructs import Construct

    K = json.loads(os.environ["KNOBS"])


    def code(tmp_path, name, body):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "index.py").write_text(body)
        return lambda_.Code.from_asset(str(folder))


    def function(scope, name, tmp_path, body="def handler(e, c):\\n    return 1\\n", **extra):
        return lambda_.Function(
            scope, name, runtime=lambda_.Runtime.PYTHON_3_12, handler="index.handler",
            code=code(tmp_path, name, body), **extra,
        )
    """
)

PYTEST_ARGS = ("-p", "no:randomly", "-p", "no:xdist", "-p", "no:cacheprovider")


def run_twice(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    body: str,
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    update_after: bool = False,
) -> tuple[pytest.RunResult, str, str]:
    """Record the snapshot with ``before``, check it with ``after``: (result, old text, and
    with ``update_after`` the text recorded for ``after``)."""
    pytester.makepyfile(test_user=HEADER + textwrap.dedent(body))
    monkeypatch.setenv("KNOBS", json.dumps(before))
    pytester.runpytest_inprocess("--snapshot-update", *PYTEST_ARGS).assert_outcomes(passed=1)
    old = snapshot_text(pytester)
    monkeypatch.setenv("KNOBS", json.dumps(after))
    result = pytester.runpytest_inprocess(*PYTEST_ARGS)
    if not update_after:
        return result, old, ""
    pytester.runpytest_inprocess("--snapshot-update", *PYTEST_ARGS)
    return result, old, snapshot_text(pytester)


def snapshot_text(pytester: pytest.Pytester) -> str:
    (path,) = [p for p in Path(pytester.path, "__snapshots__").rglob("*") if p.is_file()]
    return path.read_text()


def fails(result: pytest.RunResult) -> bool:
    outcomes = result.parseoutcomes()
    return outcomes.get("failed", 0) == 1 and "passed" not in outcomes


def passes(result: pytest.RunResult) -> bool:
    outcomes = result.parseoutcomes()
    return outcomes.get("passed") == 1 and not outcomes.get("failed") and not outcomes.get("errors")


# --- what CDK churns is masked -------------------------------------------------------------

LAMBDA = """
def test_stack(cdk_snapshot, tmp_path):
    stack = Stack(App(), "Service")
    function(stack, "Handler", tmp_path, body=K["body"], memory_size=K.get("memory", 128))
    assert stack == cdk_snapshot
"""


def test_asset_content_change_keeps_the_snapshot(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, old, _ = run_twice(
        pytester, monkeypatch, LAMBDA, {"body": "a = 1\n"}, {"body": "a = 2\n"}
    )
    assert passes(result)
    assert '"S3Key": "[ASSET Service/Handler].zip"' in old


def test_a_real_change_fails_the_snapshot(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    knobs = {"body": "a = 1\n"}
    result, _, _ = run_twice(pytester, monkeypatch, LAMBDA, knobs, knobs | {"memory": 256})
    assert fails(result)


CURRENT_VERSION = """
def test_stack(cdk_snapshot, tmp_path):
    stack = Stack(App(), "Service")
    handler = function(stack, "Handler", tmp_path, body=K["body"])
    lambda_.Alias(stack, "Live", alias_name="live", version=handler.current_version)
    CfnOutput(stack, "Version", value=handler.current_version.version)
    assert stack == cdk_snapshot(**K.get("options", {}))
"""


def test_current_version_code_change_keeps_the_snapshot(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, old, _ = run_twice(
        pytester, monkeypatch, CURRENT_VERSION, {"body": "a = 1\n"}, {"body": "a = 2\n"}
    )
    assert passes(result)
    assert '"HandlerCurrentVersion' in old and "[HASH]" in old


def test_ignore_current_version_false_keeps_the_hash(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = {"options": {"ignore_current_version": False}}
    result, _, _ = run_twice(
        pytester,
        monkeypatch,
        CURRENT_VERSION,
        {"body": "a = 1\n"} | options,
        {"body": "a = 2\n"} | options,
    )
    assert fails(result)


ASSETS = """
def test_stack(cdk_snapshot, tmp_path):
    stack = Stack(App(), "Service")
    for name in K["functions"]:
        function(stack, name, tmp_path, body=f"name = {name!r}\\n")
    assert stack == cdk_snapshot(**K.get("options", {}))
"""


def test_adding_an_asset_keeps_the_names_of_the_others(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "Alpha" sorts before "Beta": a running number would renumber Beta's asset.
    result, old, new = run_twice(
        pytester,
        monkeypatch,
        ASSETS,
        {"functions": ["Beta"]},
        {"functions": ["Alpha", "Beta"]},
        update_after=True,
    )
    assert fails(result)
    asset_lines = [line for line in old.splitlines() if "[ASSET" in line]
    assert asset_lines and all(line in new.splitlines() for line in asset_lines)
    added = set(new.splitlines()) - set(old.splitlines())
    assert [line.strip() for line in added if "[ASSET" in line] == [
        '"S3Key": "[ASSET Service/Alpha].zip"'
    ]


def test_ignore_assets_false_keeps_the_hashes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, _, _ = run_twice(
        pytester,
        monkeypatch,
        LAMBDA.replace("== cdk_snapshot", "== cdk_snapshot(ignore_assets=False)"),
        {"body": "a = 1\n"},
        {"body": "a = 2\n"},
    )
    assert fails(result)


CDK_HANDLER = """
def test_stack(cdk_snapshot, tmp_path):
    stack = Stack(App(context=K["context"]), "Service")
    s3.Bucket(stack, "Site", auto_delete_objects=True, removal_policy=RemovalPolicy.DESTROY)
    # The user's own provider: a "Provider" in the path does not make it CDK's.
    lambda_.Function(
        Construct(stack, "Provider"), "Handler",
        runtime=getattr(lambda_.Runtime, K["user_runtime"]),
        handler="index.handler", code=lambda_.Code.from_inline("x = 1"),
    )
    # What a CDK upgrade does: its own handler gets a newer runtime.
    provider = stack.node.find_child("Custom::S3AutoDeleteObjectsCustomResourceProvider")
    provider.node.find_child("Handler").add_property_override("Runtime", K["cdk_runtime"])
    assert stack == cdk_snapshot
"""


@pytest.mark.parametrize(
    "context", [{}, {"aws:cdk:enable-path-metadata": True}], ids=["plain-app", "cli-metadata"]
)
def test_cdk_handler_runtime_upgrade_keeps_the_snapshot(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, context: dict[str, Any]
) -> None:
    knobs = {"context": context, "user_runtime": "PYTHON_3_12", "cdk_runtime": "nodejs22.x"}
    result, old, _ = run_twice(
        pytester, monkeypatch, CDK_HANDLER, knobs, knobs | {"cdk_runtime": "nodejs24.x"}
    )
    assert passes(result)
    assert old.count('"Runtime": "[CDK_HANDLER_RUNTIME]"') == 1
    assert '"Runtime": "python3.12"' in old


@pytest.mark.parametrize(
    "context", [{}, {"aws:cdk:enable-path-metadata": True}], ids=["plain-app", "cli-metadata"]
)
def test_user_function_runtime_downgrade_fails_the_snapshot(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, context: dict[str, Any]
) -> None:
    knobs = {"context": context, "user_runtime": "PYTHON_3_12", "cdk_runtime": "nodejs22.x"}
    result, _, _ = run_twice(
        pytester, monkeypatch, CDK_HANDLER, knobs, knobs | {"user_runtime": "PYTHON_3_9"}
    )
    assert fails(result)


# --- what a user writes is never masked ----------------------------------------------------

USER_HASHES = """
def test_stack(cdk_snapshot, tmp_path):
    stack = Stack(App(), "Service")
    task = ecs.FargateTaskDefinition(stack, "Task")
    task.add_container(
        "App", memory_limit_mib=512,
        image=ecs.ContainerImage.from_registry("public.ecr.aws/docker/library/python@sha256:"
                                               + K["digest"]),
    )
    user_data = ec2.UserData.for_linux()
    user_data.add_commands(f"echo '{K['checksum']}  /opt/app.tgz' | sha256sum -c")
    ec2.LaunchTemplate(stack, "Hosts", user_data=user_data)
    CfnOutput(stack, "Checksum", value=K["output"])
    assert stack == cdk_snapshot
"""
HASHES = {"digest": "a" * 64, "checksum": "b" * 64, "output": "c" * 64}


@pytest.mark.parametrize("knob", ["digest", "checksum", "output"])
def test_a_changed_user_hash_fails_the_snapshot(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, knob: str
) -> None:
    result, old, _ = run_twice(
        pytester, monkeypatch, USER_HASHES, HASHES, HASHES | {knob: "d" * 64}
    )
    assert fails(result)
    assert HASHES[knob] in old


AMI = """
def test_stack(cdk_snapshot, tmp_path):
    stack = Stack(App(), "Service")
    ec2.LaunchTemplate(
        stack, "Hosts", instance_type=ec2.InstanceType(K["type"]),
        machine_image=ec2.MachineImage.latest_amazon_linux2023(),
    )
    assert stack == cdk_snapshot
"""


def test_ssm_ami_parameter_ids_are_the_users(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, old, _ = run_twice(
        pytester, monkeypatch, AMI, {"type": "t3.micro"}, {"type": "t3.small"}
    )
    assert fails(result)
    assert '"SsmParameterValueawsserviceamiamazonlinuxlatestal2023ami' in old
    assert "SsmAmiParameter" not in old


NESTED = """
def test_stack(cdk_snapshot, tmp_path):
    stack = Stack(App(), "Service")
    storage = NestedStack(stack, "Storage")
    sqs.Queue(storage, "Jobs", visibility_timeout=Duration.seconds(K["timeout"]))
    function(storage, "Worker", tmp_path, body=K.get("body", "a = 1\\n"))
    assert stack == cdk_snapshot
"""


def test_a_change_inside_a_nested_stack_fails_the_parents_snapshot(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, old, _ = run_twice(pytester, monkeypatch, NESTED, {"timeout": 30}, {"timeout": 60})
    assert fails(result)
    assert '"NestedStacks": {\n    "Service/Storage": {' in old


def test_an_asset_change_inside_a_nested_stack_keeps_the_parents_snapshot(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, _, _ = run_twice(
        pytester, monkeypatch, NESTED, {"timeout": 30}, {"timeout": 30, "body": "a = 2\n"}
    )
    assert passes(result)


# --- syrupy's own options ------------------------------------------------------------------

SYRUPY = """
from syrupy.filters import paths, props
from syrupy.matchers import path_type

def test_stack(cdk_snapshot, tmp_path):
    stack = Stack(App(), "Service")
    sqs.Queue(stack, "Jobs", visibility_timeout=Duration.seconds(K["timeout"]),
              retention_period=Duration.days(K["days"]))
    assert stack == cdk_snapshot(**OPTIONS)
"""


@pytest.mark.parametrize(
    ("options", "change", "outcome"),
    [
        ('{"exclude": props("VisibilityTimeout")}', {"timeout": 60}, "passed"),
        ('{"exclude": props("VisibilityTimeout")}', {"days": 5}, "failed"),
        ('{"include": paths("Resources", "Resources.JobsDF1CC2D4", '
         '"Resources.JobsDF1CC2D4.Properties", '
         '"Resources.JobsDF1CC2D4.Properties.MessageRetentionPeriod")}', {"timeout": 60}, "passed"),
        ('{"matcher": path_type({"Resources.JobsDF1CC2D4.Properties.VisibilityTimeout": (int,)})}',
         {"timeout": 60}, "passed"),
        ('{"matcher": path_type({"Resources.JobsDF1CC2D4.Properties.VisibilityTimeout": (int,)})}',
         {"days": 5}, "failed"),
    ],
    ids=["exclude", "exclude-other-change", "include", "matcher", "matcher-other-change"],
)  # fmt: skip
def test_syrupy_filters_are_honoured(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    options: str,
    change: dict[str, Any],
    outcome: str,
) -> None:
    body = SYRUPY.replace("**OPTIONS", f"**{options}")
    knobs = {"timeout": 30, "days": 4}
    result, _, _ = run_twice(pytester, monkeypatch, body, knobs, knobs | change)
    assert passes(result) if outcome == "passed" else fails(result)


# --- jest-cdk-snapshot's options -----------------------------------------------------------

TAGGED = """
def test_stack(cdk_snapshot, tmp_path):
    stack = Stack(App(), "Service")
    queue = sqs.Queue(stack, "Jobs", visibility_timeout=Duration.seconds(K["timeout"]))
    sqs.Queue(stack, "Dead")
    Tags.of(stack).add("team", K["team"])
    queue.node.default_child.add_metadata("owner", K["owner"])
    assert stack == cdk_snapshot(**K.get("options", {}))
"""
TAGS = {"timeout": 30, "team": "a", "owner": "x"}


@pytest.mark.parametrize(
    ("options", "change", "outcome"),
    [
        ({}, {"team": "b"}, "failed"),
        ({"ignore_tags": True}, {"team": "b"}, "passed"),
        ({"ignore_tags": True}, {"timeout": 60}, "failed"),
        ({}, {"owner": "y"}, "failed"),
        ({"ignore_metadata": True}, {"owner": "y"}, "passed"),
        ({"ignore_metadata": True}, {"timeout": 60}, "failed"),
        ({"subset_resource_types": ["AWS::SQS::Queue"]}, {"timeout": 60}, "failed"),
        ({"subset_resource_keys": ["DeadB2807C34"]}, {"timeout": 60}, "passed"),
        ({"subset_resource_keys": ["JobsDF1CC2D4"]}, {"timeout": 60}, "failed"),
    ],
    ids=[
        "tags-default", "ignore_tags", "ignore_tags-other-change", "metadata-default",
        "ignore_metadata", "ignore_metadata-other-change", "subset_resource_types",
        "subset_resource_keys-other", "subset_resource_keys-same",
    ],
)  # fmt: skip
def test_jest_options(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    options: dict[str, Any],
    change: dict[str, Any],
    outcome: str,
) -> None:
    knobs = TAGS | {"options": options}
    result, _, _ = run_twice(pytester, monkeypatch, TAGGED, knobs, knobs | change)
    assert passes(result) if outcome == "passed" else fails(result)


def test_subset_resource_types_leaves_other_types_out(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = LAMBDA.replace(
        "== cdk_snapshot", '== cdk_snapshot(subset_resource_types=["AWS::IAM::Role"])'
    )
    result, old, _ = run_twice(
        pytester, monkeypatch, body, {"body": "a = 1\n"}, {"body": "a = 1\n", "memory": 256}
    )
    assert passes(result)
    assert "AWS::IAM::Role" in old and "AWS::Lambda::Function" not in old


def test_ignore_bootstrap_version_false_keeps_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = LAMBDA.replace("== cdk_snapshot", "== cdk_snapshot(ignore_bootstrap_version=False)")
    _, old, _ = run_twice(pytester, monkeypatch, body, {"body": "a = 1\n"}, {"body": "a = 1\n"})
    assert '"BootstrapVersion"' in old and '"CheckBootstrapVersion"' in old


def test_bootstrap_version_is_left_out_by_default(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, old, _ = run_twice(pytester, monkeypatch, LAMBDA, {"body": "a = 1\n"}, {"body": "a = 1\n"})
    assert "BootstrapVersion" not in old


def test_yaml_writes_a_yaml_snapshot_that_catches_changes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = LAMBDA.replace("== cdk_snapshot", "== cdk_snapshot(yaml=True)")
    result, old, _ = run_twice(
        pytester, monkeypatch, body, {"body": "a = 1\n"}, {"body": "a = 1\n", "memory": 256}
    )
    assert fails(result)
    (written,) = Path(pytester.path, "__snapshots__").rglob("*.yaml")
    assert written.name == "test_stack.yaml"
    assert "S3Key: '[ASSET Service/Handler].zip'" in old


def test_with_defaults_carries_options_to_every_assertion(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = """
    import pytest

    @pytest.fixture
    def cdk_yaml(cdk_snapshot):
        return cdk_snapshot.with_defaults(yaml=True, ignore_tags=True)

    def test_stack(cdk_yaml, tmp_path):
        stack = Stack(App(), "Service")
        sqs.Queue(stack, "Jobs")
        Tags.of(stack).add("team", K["team"])
        assert stack == cdk_yaml
    """
    result, old, _ = run_twice(pytester, monkeypatch, body, {"team": "a"}, {"team": "b"})
    assert passes(result)
    assert old.startswith("Resources:")


# --- dummy values and bad input ------------------------------------------------------------

DUMMY = """
from aws_cdk import aws_ssm as ssm

def test_stack(cdk_snapshot, tmp_path):
    stack = Stack(App(), "Service", env={"account": "123456789012", "region": "eu-west-1"})
    name = ssm.StringParameter.value_from_lookup(stack, "/app/queue-name")
    sqs.Queue(stack, "Jobs", queue_name=name)
    assert stack == cdk_snapshot
"""


def test_dummy_values_from_missing_context_warn(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_user=HEADER + textwrap.dedent(DUMMY))
    monkeypatch.setenv("KNOBS", "{}")
    result = pytester.runpytest_inprocess("--snapshot-update", *PYTEST_ARGS)
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*CdkSnapshotWarning*dummy values*'dummy-value-for-/app/queue-name'*QueueName*"]
    )


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ("ignore_tags='yes'", "TypeError: cdk_snapshot option ignore_tags must be True or False"),
        ("subset_resource_types='AWS::SQS::Queue'",
         "TypeError: cdk_snapshot option subset_resource_types must be a list of strings"),
        ("subset_resource_types=['AWS::SQS::Queu']",
         "ValueError: cdk_snapshot option subset_resource_types: no resource of type "
         "'AWS::SQS::Queu'*"),
        ("subset_resource_types=['SQS Queue']",
         "ValueError: cdk_snapshot option subset_resource_types: 'SQS Queue' is not a "
         "CloudFormation resource type*"),
        ("subset_resource_keys=['Job']",
         "ValueError: cdk_snapshot option subset_resource_keys: no resource with logical id "
         "'Job'*"),
        ("ignoreTags=True", "TypeError: unknown cdk_snapshot option 'ignoreTags'; did you mean "
         "'ignore_tags'?*"),
    ],
    ids=["bool", "bare-string", "unknown-type", "malformed-type", "unknown-key", "camel-case"],
)  # fmt: skip
def test_bad_options_fail_at_the_first_snapshot(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, options: str, error: str
) -> None:
    body = f"""
    def test_stack(cdk_snapshot, tmp_path):
        stack = Stack(App(), "Service")
        sqs.Queue(stack, "Jobs")
        assert stack == cdk_snapshot({options})
    """
    pytester.makepyfile(test_user=HEADER + textwrap.dedent(body))
    monkeypatch.setenv("KNOBS", "{}")
    result = pytester.runpytest_inprocess("--snapshot-update", *PYTEST_ARGS)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"E*{error}*"])


# The lookups of aws-cdk-lib 2.275 whose dummy values a first snapshot without context records.
LOOKUPS = {
    "security-group": "ec2.SecurityGroup.from_lookup_by_name(stack, 'Sg', 'web', "
    "ec2.Vpc.from_vpc_attributes(stack, 'Vpc', vpc_id='vpc-0abc', "
    "availability_zones=['eu-west-1a'])).security_group_id",
    "kms-key": "kms.Key.from_lookup(stack, 'Key', alias_name='alias/app').key_arn",
    "load-balancer": "elbv2.ApplicationLoadBalancer.from_lookup(stack, 'Alb', "
    "load_balancer_tags={'app': 'x'}).load_balancer_arn",
}


@pytest.mark.parametrize(
    ("lookup", "dummy"),
    [
        ("security-group", "'sg-12345678'"),
        ("kms-key", "*1234abcd-12ab-34cd-56ef-1234567890ab*"),
        ("load-balancer", "*/my-load-balancer/50dc6c495c0c9188*"),
    ],
)
def test_dummy_values_of_every_lookup_warn(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, lookup: str, dummy: str
) -> None:
    body = f"""
    from aws_cdk import aws_elasticloadbalancingv2 as elbv2
    from aws_cdk import aws_kms as kms

    def test_stack(cdk_snapshot, tmp_path):
        stack = Stack(App(), "Look", env={{"account": "111111111111", "region": "eu-west-1"}})
        CfnOutput(stack, "Found", value={LOOKUPS[lookup]})
        assert stack == cdk_snapshot
    """
    pytester.makepyfile(test_user=HEADER + textwrap.dedent(body))
    monkeypatch.setenv("KNOBS", "{}")
    result = pytester.runpytest_inprocess("--snapshot-update", *PYTEST_ARGS)
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines([f"*CdkSnapshotWarning*dummy values*{dummy}*Outputs.Found*"])


BAD_INPUT = """
import pytest
from syrupy.filters import props

def test_stack(cdk_snapshot, tmp_path):
    stack = Stack(App(), "Service")
    sqs.Queue(stack, "Jobs")
    with pytest.raises(ERROR, match=MATCH):
        assert INPUT == cdk_snapshot(**OPTIONS)
"""


@pytest.mark.parametrize(
    ("given", "options", "error", "match"),
    [
        ("stack", "{'subset_resource_types': ['AWS::SNS::Topic']}", "ValueError",
         "subset_resource_types: no resource of type 'AWS::SNS::Topic'"),
        ("stack", "{'subset_resource_keys': ['Nope']}", "ValueError",
         "subset_resource_keys: no resource with logical id 'Nope'"),
        ("5", "{}", "TypeError", "cannot snapshot a int as a CDK template"),
        ("None", "{}", "TypeError", "cannot snapshot a NoneType as a CDK template"),
        ("App()", "{}", "TypeError", "cannot snapshot a App as a CDK template"),
        ("sqs.Queue(stack, 'Other')", "{}", "TypeError", "cannot snapshot a Queue"),
        ("stack", "{'exclude': 'VisibilityTimeout'}", "TypeError",
         "cdk_snapshot option exclude must be a function"),
        ("stack", "{'include': 5}", "TypeError", "cdk_snapshot option include must be a function"),
        ("stack", "{'matcher': 5}", "TypeError", "cdk_snapshot option matcher must be a function"),
    ],
    ids=["absent-type", "absent-key", "int", "none", "app", "construct", "exclude-str",
         "include-int", "matcher-int"],
)  # fmt: skip
def test_bad_input_raises_itself_at_the_first_snapshot(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    given: str,
    options: str,
    error: str,
    match: str,
) -> None:
    # Raised as itself, not reported as a failed comparison (an AssertionError with a diff).
    body = (
        BAD_INPUT.replace("ERROR", error)
        .replace("MATCH", repr(match))
        .replace("INPUT", given)
        .replace("OPTIONS", options)
    )
    pytester.makepyfile(test_user=HEADER + textwrap.dedent(body))
    monkeypatch.setenv("KNOBS", "{}")
    pytester.runpytest_inprocess(*PYTEST_ARGS).assert_outcomes(passed=1)


def test_bad_input_raises_itself_when_a_snapshot_exists(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = """
    def test_stack(cdk_snapshot, tmp_path):
        stack = Stack(App(), "Service")
        sqs.Queue(stack, "Jobs")
        assert stack == cdk_snapshot(**K["options"])
    """
    result, _, _ = run_twice(
        pytester,
        monkeypatch,
        body,
        {"options": {}},
        {"options": {"subset_resource_types": ["AWS::SNS::Topic"]}},
    )
    assert fails(result)
    result.stdout.fnmatch_lines(["E*ValueError: cdk_snapshot option subset_resource_types*"])
    result.stdout.no_fnmatch_line("*AssertionError*")


# --- masking by location, not by value -----------------------------------------------------

PINNED = """
def test_stack(cdk_snapshot, tmp_path):
    stack = Stack(App(), "Pin")
    pinned = K["hash"]
    CfnOutput(stack, "Pinned", value=f"s3://cdk-hnb659fds-assets-111111111111-eu-west-1/{pinned}.zip")
    mine = s3.Bucket.from_bucket_name(stack, "Mine", "my-artifacts")
    lambda_.Function(stack, "FromMine", runtime=lambda_.Runtime.PYTHON_3_12,
                     handler="index.handler", code=lambda_.Code.from_bucket(mine, f"{pinned}.zip"))
    assert stack == cdk_snapshot
"""


def test_a_users_key_equal_to_a_masked_hash_stays_compared(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The URL into the bootstrap bucket is an asset location (masked); the same hash as a key in
    # the user's own bucket is not, so a changed pinned key fails.
    result, old, _ = run_twice(
        pytester, monkeypatch, PINNED, {"hash": "1" * 64}, {"hash": "2" * 64}
    )
    assert fails(result)
    assert '"S3Key": "' + "1" * 64 + '.zip"' in old


ASSET_URLS = """
from aws_cdk import aws_s3_assets as s3_assets

def test_stack(cdk_snapshot, tmp_path):
    stack = Stack(App(), "Service")
    folder = tmp_path / "blob"
    folder.mkdir()
    (folder / "a.txt").write_text(K["blob"])
    blob = s3_assets.Asset(stack, "Blob", path=str(folder))
    user_data = ec2.UserData.for_linux()
    local = user_data.add_s3_download_command(bucket=blob.bucket, bucket_key=blob.s3_object_key)
    user_data.add_commands(f"tar -xf {local}")
    ec2.LaunchTemplate(stack, "Template", user_data=user_data,
                       machine_image=ec2.MachineImage.generic_linux({"eu-west-1": "ami-0abc"}))
    CfnOutput(stack, "Url", value=blob.s3_object_url)
    CfnOutput(stack, "Http", value=blob.http_url)
    assert stack == cdk_snapshot
"""


def test_asset_urls_and_download_paths_keep_the_snapshot(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, old, _ = run_twice(pytester, monkeypatch, ASSET_URLS, {"blob": "1"}, {"blob": "2"})
    assert passes(result)
    # Named after the asset's own construct path, not after the launch template that uses it.
    assert "[ASSET Service/Blob]" in old and "[ASSET Service/Template" not in old


# --- synthesized stacks, nested stacks and asset names -------------------------------------

ARTIFACT = """
def test_stack(cdk_snapshot, tmp_path):
    app = App()
    stack = Stack(app, "Service")
    function(stack, "Worker", tmp_path)
    (tmp_path / "nested").mkdir()
    storage = NestedStack(stack, "Storage")
    sqs.Queue(storage, "Jobs", visibility_timeout=Duration.seconds(K["timeout"]))
    function(storage, "Worker", tmp_path / "nested", body=K.get("body", "b = 1\\n"))
    assert app.synth().get_stack_by_name("Service") == cdk_snapshot
"""


def test_a_nested_change_fails_a_synthesized_stacks_snapshot(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, old, _ = run_twice(pytester, monkeypatch, ARTIFACT, {"timeout": 30}, {"timeout": 60})
    assert fails(result)
    result.stdout.no_fnmatch_line("*CdkSnapshotWarning*")
    # The parent's and the nested stack's function share a logical id: each asset by its path.
    assert '"S3Key": "[ASSET Service/Worker].zip"' in old
    assert '"S3Key": "[ASSET Service/Storage/Worker].zip"' in old


def test_a_nested_asset_change_keeps_a_synthesized_stacks_snapshot(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, _, _ = run_twice(
        pytester, monkeypatch, ARTIFACT, {"timeout": 30}, {"timeout": 30, "body": "b = 2\n"}
    )
    assert passes(result)


SHARED = """
def test_stack(cdk_snapshot, tmp_path):
    stack = Stack(App(), "Service")
    shared = code(tmp_path, "shared", "a = 1\\n")
    for name in K["functions"]:
        lambda_.Function(stack, name, runtime=lambda_.Runtime.PYTHON_3_12,
                         handler="index.handler", code=shared)
    storage = NestedStack(stack, "Storage")
    lambda_.Function(storage, "Inner", runtime=lambda_.Runtime.PYTHON_3_12,
                     handler="index.handler", code=code(tmp_path, "inner", "a = 1\\n"))
    assert stack == cdk_snapshot
"""


def test_a_shared_asset_keeps_its_name_when_a_new_user_comes_first(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "Zeta" defined first now makes the shared Code's asset under itself.
    result, old, new = run_twice(
        pytester,
        monkeypatch,
        SHARED,
        {"functions": ["Beta", "Gamma"]},
        {"functions": ["Zeta", "Beta", "Gamma"]},
        update_after=True,
    )
    assert fails(result)
    names = {line.strip() for line in old.splitlines() if '"S3Key"' in line}
    assert names == {'"S3Key": "[ASSET Service/Beta].zip"'}  # the nested copy: the same name
    assert {line.strip() for line in new.splitlines() if '"S3Key"' in line} == names


# --- from the installed entry point, in a fresh interpreter --------------------------------


@pytest.mark.e2e
def test_fixture_from_the_entry_point_in_a_subprocess(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_user=HEADER + textwrap.dedent(LAMBDA))
    monkeypatch.setenv("KNOBS", json.dumps({"body": "a = 1\n"}))
    pytester.runpytest_subprocess("--snapshot-update", *PYTEST_ARGS).assert_outcomes(passed=1)
    monkeypatch.setenv("KNOBS", json.dumps({"body": "a = 2\n"}))
    pytester.runpytest_subprocess(*PYTEST_ARGS).assert_outcomes(passed=1)
    monkeypatch.setenv("KNOBS", json.dumps({"body": "a = 2\n", "memory": 256}))
    pytester.runpytest_subprocess(*PYTEST_ARGS).assert_outcomes(failed=1)
