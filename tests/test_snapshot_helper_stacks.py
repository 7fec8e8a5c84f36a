"""cdk_snapshot on a varied set of stacks: no real change passes, no asset change fails.

Each stack is built from knobs. A real change (any knob a user sets) must change the snapshot;
new content of an asset (Lambda code, a Docker context, a bucket deployment's files, a file
the user data downloads, code inside a nested stack) must not, not even for a function whose
``current_version`` is published.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from aws_cdk import (
    App,
    CfnOutput,
    CustomResource,
    Duration,
    NestedStack,
    RemovalPolicy,
    Stack,
    assertions,
)
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as s3_deployment
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr

from restart_policy.testing import CdkTemplateSnapshotExtension

Knobs = dict[str, Any]


def folder(root: Path, name: str, files: dict[str, str]) -> str:
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    for file_name, text in files.items():
        (path / file_name).write_text(text)
    return str(path)


def ecs_stack(root: Path, k: Knobs) -> Stack:
    stack = Stack(App(), "Workers")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    cluster = ecs.Cluster(stack, "Cluster", vpc=vpc)
    task = ecs.FargateTaskDefinition(stack, "Task", cpu=k["cpu"], memory_limit_mib=1024)
    app = task.add_container(
        "App",
        image=ecs.ContainerImage.from_asset(folder(root, "image", {"Dockerfile": k["docker"]})),
        environment={"MODE": k["mode"]},
    )
    app.add_port_mappings(ecs.PortMapping(container_port=k["port"]))
    task.add_container(
        "Sidecar",
        image=ecs.ContainerImage.from_registry(
            f"public.ecr.aws/docker/library/python@sha256:{k['digest']}"
        ),
    )
    task.add_container("Proxy", image=ecs.ContainerImage.from_registry(f"nginx:{k['tag']}"))
    ecs.FargateService(
        stack,
        "Service",
        cluster=cluster,
        task_definition=task,
        desired_count=k["count"],
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        assign_public_ip=True,
    )
    return stack


ECS: Knobs = {
    "cpu": 512,
    "docker": "FROM scratch\n",
    "mode": "batch",
    "port": 8080,
    "digest": "a" * 64,
    "tag": "1.27",
    "count": 1,
}


def lambda_stack(root: Path, k: Knobs) -> Stack:
    stack = Stack(App(), "Functions")
    handler = lambda_.Function(
        stack,
        "Handler",
        runtime=getattr(lambda_.Runtime, k["runtime"]),
        handler=k["handler"],
        code=lambda_.Code.from_asset(folder(root, "fn", {"index.py": k["code"]})),
        memory_size=k["memory"],
        environment={"LEVEL": k["level"]},
    )
    lambda_.Alias(stack, "Live", alias_name=k["alias"], version=handler.current_version)
    lambda_.Function(
        stack,
        "Inline",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline(k["inline"]),
    )
    site = s3.Bucket(stack, "Site", auto_delete_objects=True, removal_policy=RemovalPolicy.DESTROY)
    s3_deployment.BucketDeployment(
        stack,
        "Deploy",
        sources=[s3_deployment.Source.asset(folder(root, "site", {"index.html": k["site"]}))],
        destination_bucket=site,
        destination_key_prefix=k["prefix"],
    )
    on_event = lambda_.Function(
        stack,
        "OnEvent",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_asset(folder(root, "on_event", {"index.py": k["on_event"]})),
        timeout=Duration.seconds(k["timeout"]),
    )
    provider = cr.Provider(stack, "Provider", on_event_handler=on_event)
    CustomResource(stack, "Setting", service_token=provider.service_token)
    CfnOutput(stack, "Version", value=handler.current_version.version)
    return stack


LAMBDA: Knobs = {
    "runtime": "PYTHON_3_12",
    "handler": "index.handler",
    "code": "def handler(e, c):\n    return 1\n",
    "memory": 128,
    "level": "info",
    "alias": "live",
    "inline": "def handler(e, c):\n    return 1\n",
    "site": "<p>one</p>",
    "prefix": "web/",
    "on_event": "def handler(e, c):\n    return {}\n",
    "timeout": 30,
}


def nested_stack(root: Path, k: Knobs) -> Stack:
    stack = Stack(App(), "Parent")
    storage = NestedStack(stack, "Storage")
    queue = sqs.Queue(storage, "Jobs", visibility_timeout=Duration.seconds(k["visibility"]))
    lambda_.Function(
        storage,
        "Worker",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_asset(folder(root, "worker", {"index.py": k["worker"]})),
        memory_size=k["memory"],
    )
    CfnOutput(storage, "Limit", value=k["limit"])
    CfnOutput(stack, "Queue", value=queue.queue_url)
    return stack


NESTED: Knobs = {
    "visibility": 30,
    "worker": "def handler(e, c):\n    return 1\n",
    "memory": 128,
    "limit": "10",
}


def hosts_stack(root: Path, k: Knobs) -> Stack:
    stack = Stack(App(), "Hosts")
    bundle = s3_assets.Asset(stack, "Bundle", path=folder(root, "bundle", {"app.py": k["bundle"]}))
    user_data = ec2.UserData.for_linux()
    local = user_data.add_s3_download_command(bucket=bundle.bucket, bucket_key=bundle.s3_object_key)
    user_data.add_commands(
        f"echo '{k['checksum']}  {local}' | sha256sum -c", f"echo {k['greeting']}"
    )
    ec2.LaunchTemplate(
        stack,
        "Template",
        user_data=user_data,
        instance_type=ec2.InstanceType(k["type"]),
        machine_image=getattr(ec2.MachineImage, k["ami"])(),
    )
    CfnOutput(stack, "Release", value=k["release"])
    return stack


HOSTS: Knobs = {
    "bundle": "print(1)\n",
    "checksum": "b" * 64,
    "greeting": "hello",
    "type": "t3.micro",
    "ami": "latest_amazon_linux2023",
    "release": "c" * 64,
}


def instance_stack(root: Path, k: Knobs) -> Stack:
    # An instance replaced when its user data or init config changes: CDK puts a hash of both in
    # its logical id and a fingerprint of the init config (asset URLs included) in user data.
    stack = Stack(App(), "Box")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    bundle = s3_assets.Asset(stack, "Bundle", path=folder(root, "bundle", {"a.txt": k["bundle"]}))
    user_data = ec2.UserData.for_linux()
    user_data.add_s3_download_command(bucket=bundle.bucket, bucket_key=bundle.s3_object_key)
    user_data.add_commands(k["command"])
    init_file = folder(root, "init", {"app.conf": k["init_asset"]})
    ec2.Instance(
        stack,
        "Host",
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        instance_type=ec2.InstanceType("t3.micro"),
        machine_image=ec2.MachineImage.latest_amazon_linux2023(),
        user_data=user_data,
        user_data_causes_replacement=True,
        init=ec2.CloudFormationInit.from_elements(
            ec2.InitFile.from_asset("/etc/app.conf", str(Path(init_file) / "app.conf")),
            ec2.InitFile.from_string("/etc/motd", k["motd"]),
        ),
    )
    return stack


INSTANCE: Knobs = {"bundle": "one", "command": "echo hi", "init_asset": "a=1", "motd": "hello"}


def api_stack(root: Path, k: Knobs) -> Stack:
    # API Gateway names its deployment after a hash of the API's model, which holds the
    # current_version id: a code change must not fail the snapshot, an API change must.
    stack = Stack(App(), "Api")
    handler = lambda_.Function(
        stack,
        "Handler",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_asset(folder(root, "api", {"index.py": k["code"]})),
    )
    alias = lambda_.Alias(stack, "Live", alias_name="live", version=handler.current_version)
    api = apigateway.RestApi(stack, "Rest")
    api.root.add_method(k["verb"], apigateway.LambdaIntegration(alias))
    api.root.add_resource(k["part"]).add_method(
        "POST", apigateway.LambdaIntegration(handler.current_version)
    )
    return stack


API: Knobs = {"code": "def handler(e, c):\n    return 1\n", "verb": "GET", "part": "v1"}

Builder = Callable[[Path, Knobs], Stack]

REAL_CHANGES: list[tuple[Builder, Knobs, Knobs]] = [
    *[(ecs_stack, ECS, {knob: value}) for knob, value in [
        ("cpu", 1024), ("mode", "stream"), ("port", 9090), ("digest", "d" * 64), ("tag", "1.28"),
        ("count", 2),
    ]],
    *[(lambda_stack, LAMBDA, {knob: value}) for knob, value in [
        ("runtime", "PYTHON_3_9"), ("handler", "main.handler"), ("memory", 256),
        ("level", "debug"), ("alias", "next"), ("inline", "def handler(e, c):\n    return 2\n"),
        ("prefix", "site/"), ("timeout", 60),
    ]],
    *[(nested_stack, NESTED, {knob: value}) for knob, value in [
        ("visibility", 60), ("memory", 256), ("limit", "20"),
    ]],
    *[(hosts_stack, HOSTS, {knob: value}) for knob, value in [
        ("checksum", "e" * 64), ("greeting", "bye"), ("type", "t3.small"),
        ("ami", "latest_amazon_linux2"), ("release", "f" * 64),
    ]],
    *[(api_stack, API, {knob: value}) for knob, value in [("verb", "PUT"), ("part", "v2")]],
    *[(instance_stack, INSTANCE, {knob: value}) for knob, value in [
        ("command", "echo bye"), ("motd", "welcome"),
    ]],
]  # fmt: skip

ASSET_CHANGES: list[tuple[Builder, Knobs, Knobs]] = [
    (ecs_stack, ECS, {"docker": "FROM scratch\nCOPY . /\n"}),
    (lambda_stack, LAMBDA, {"code": "def handler(e, c):\n    return 2\n"}),  # current_version
    (lambda_stack, LAMBDA, {"site": "<p>two</p>"}),
    (lambda_stack, LAMBDA, {"on_event": "def handler(e, c):\n    return {'a': 1}\n"}),
    (nested_stack, NESTED, {"worker": "def handler(e, c):\n    return 2\n"}),
    (hosts_stack, HOSTS, {"bundle": "print(2)\n"}),
    (api_stack, API, {"code": "def handler(e, c):\n    return 2\n"}),  # current_version
    (instance_stack, INSTANCE, {"bundle": "two"}),
    (instance_stack, INSTANCE, {"init_asset": "a=2"}),
]


def snapshot_of(builder: Builder, root: Path, knobs: Knobs, given: str = "stack") -> str:
    text: str = CdkTemplateSnapshotExtension().serialize(as_given(builder(root, knobs), given))
    return text


def as_given(stack: Stack, given: str) -> Any:
    # A template dict has no construct paths and no nested templates; a synthesized artifact has
    # both (its nested templates are files of the assembly): masking must hold anyway.
    if given == "stack":
        return stack
    if given == "artifact":
        return cast(App, stack.node.root).synth().get_stack_by_name(stack.stack_name)
    return assertions.Template.from_stack(stack).to_json()


GIVEN = pytest.mark.parametrize("given", ["stack", "template", "artifact"])


def _id(case: tuple[Builder, Knobs, Knobs]) -> str:
    builder, _, change = case
    return f"{builder.__name__}-{'-'.join(change)}"


@GIVEN
@pytest.mark.parametrize("case", REAL_CHANGES, ids=[_id(c) for c in REAL_CHANGES])
def test_a_real_change_changes_the_snapshot(
    case: tuple[Builder, Knobs, Knobs], given: str, tmp_path: Path
) -> None:
    builder, base, change = case
    if given == "template" and builder is nested_stack:
        pytest.skip("a template dict does not hold its nested stacks (a warning says so)")
    before = snapshot_of(builder, tmp_path / "before", base, given)
    after = snapshot_of(builder, tmp_path / "after", base | change, given)
    assert before != after


@pytest.mark.filterwarnings("ignore::restart_policy.testing.CdkSnapshotWarning")
@GIVEN
@pytest.mark.parametrize("case", ASSET_CHANGES, ids=[_id(c) for c in ASSET_CHANGES])
def test_new_asset_content_keeps_the_snapshot(
    case: tuple[Builder, Knobs, Knobs], given: str, tmp_path: Path
) -> None:
    builder, base, change = case
    before = as_given(builder(tmp_path / "before", base), given)
    after = as_given(builder(tmp_path / "after", base | change), given)
    raw = CdkTemplateSnapshotExtension.with_options(
        ignore_assets=False, ignore_current_version=False
    )
    assert raw().serialize(before) != raw().serialize(after)  # the hashes did change
    assert CdkTemplateSnapshotExtension().serialize(before) == (
        CdkTemplateSnapshotExtension().serialize(after)
    )


def test_the_stacks_leave_no_asset_hash_unmasked(tmp_path: Path) -> None:
    # Every 64-hex string left is one the knobs put there.
    users = {ECS["digest"], HOSTS["checksum"], HOSTS["release"]}
    for builder, knobs in [(ecs_stack, ECS), (lambda_stack, LAMBDA), (nested_stack, NESTED),
                           (hosts_stack, HOSTS), (instance_stack, INSTANCE),
                           (api_stack, API)]:  # fmt: skip
        text = snapshot_of(builder, tmp_path / builder.__name__, knobs)
        assert set(re.findall(r"[0-9a-f]{64}", text)) <= users


@pytest.mark.parametrize(
    ("given", "asset", "cdk_handlers"),
    [
        ("stack", "Functions/Handler", 3),
        ("artifact", "Functions/Handler", 3),
        # No paths: assets go by logical id, and the Provider framework's function (its id
        # depends on the user's path) is not known.
        ("template", "Handler886CB40B", 2),
    ],
)
def test_names_and_cdk_handlers_by_what_is_given(
    given: str, asset: str, cdk_handlers: int, tmp_path: Path
) -> None:
    text = snapshot_of(lambda_stack, tmp_path, LAMBDA, given)
    assert f'"S3Key": "[ASSET {asset}].zip"' in text
    # CDK's: auto-delete provider, bucket deployment, Provider framework; the user's three keep.
    assert text.count('"Runtime": "[CDK_HANDLER_RUNTIME]"') == cdk_handlers
    assert text.count('"Runtime": "python3.12"') == 3
