"""restart_policy.testing: churn is masked, real changes still fail a snapshot."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack, assertions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_

from restart_policy.testing import CdkTemplateSnapshotExtension, normalize_template


def _lambda_stack(code_dir: Path, memory: int = 128) -> dict[str, Any]:
    stack = Stack(App(), "Fn")
    lambda_.Function(
        stack,
        "Handler",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_asset(str(code_dir)),
        memory_size=memory,
    )
    return dict(assertions.Template.from_stack(stack).to_json())


def _code(tmp_path: Path, name: str, body: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "index.py").write_text(body)
    return folder


def serialize(template: dict[str, Any]) -> str:
    return CdkTemplateSnapshotExtension().serialize(template)


def test_asset_content_change_keeps_the_serialization(tmp_path: Path) -> None:
    before = _lambda_stack(_code(tmp_path, "a", "def handler(e, c):\n    return 1\n"))
    after = _lambda_stack(_code(tmp_path, "b", "def handler(e, c):\n    return 2\n"))
    assert before != after  # the raw templates differ in the asset hash
    assert serialize(before) == serialize(after)


def test_real_change_changes_the_serialization(tmp_path: Path) -> None:
    code = _code(tmp_path, "a", "def handler(e, c):\n    return 1\n")
    assert serialize(_lambda_stack(code)) != serialize(_lambda_stack(code, memory=256))


def test_bootstrap_version_and_cdk_metadata_are_dropped() -> None:
    template = {
        "Parameters": {"BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>"}},
        "Rules": {"CheckBootstrapVersion": {"Assertions": []}},
        "Conditions": {"CDKMetadataAvailable": {"Fn::Or": []}},
        "Resources": {
            "CDKMetadata": {"Type": "AWS::CDK::Metadata"},
            "Q": {"Type": "AWS::SQS::Queue"},
        },
    }
    assert normalize_template(template) == {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}


def test_distinct_assets_stay_distinct() -> None:
    first, second = "a" * 64, "b" * 64
    template = {
        "Resources": {"X": {"Properties": {"A": f"{first}.zip", "B": f"{second}.zip", "C": first}}}
    }
    props = normalize_template(template)["Resources"]["X"]["Properties"]
    assert props == {"A": "[ASSET_1].zip", "B": "[ASSET_2].zip", "C": "[ASSET_1]"}


def test_ssm_ami_parameters_are_renamed_with_their_references() -> None:
    stack = Stack(App(), "Ami")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    ec2.Instance(
        stack,
        "Host",
        vpc=vpc,
        instance_type=ec2.InstanceType("t3.micro"),
        machine_image=ec2.MachineImage.latest_amazon_linux2023(),
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
    )
    raw = assertions.Template.from_stack(stack).to_json()
    normalized = normalize_template(raw)
    assert "SsmAmiParameter1" in normalized["Parameters"]
    (instance,) = (r for r in normalized["Resources"].values() if r["Type"] == "AWS::EC2::Instance")
    assert instance["Properties"]["ImageId"] == {"Ref": "SsmAmiParameter1"}
    assert not any(name.startswith("SsmParameterValue") for name in normalized["Parameters"])


def test_input_is_not_changed() -> None:
    template = {"Parameters": {"BootstrapVersion": {}}, "Resources": {}}
    normalize_template(template)
    assert "BootstrapVersion" in template["Parameters"]


def test_unknown_objects_are_refused() -> None:
    with pytest.raises(TypeError, match="cannot snapshot a int as a CDK template"):
        serialize(42)  # type: ignore[arg-type]


def test_serialization_is_sorted_json() -> None:
    text = serialize({"Resources": {"B": {"Type": "x"}, "A": {"Type": "y"}}})
    assert text.index('"A"') < text.index('"B"')
    assert json.loads(text) == {"Resources": {"A": {"Type": "y"}, "B": {"Type": "x"}}}


USER_TEST = textwrap.dedent(
    """
    import os
    from pathlib import Path
    from aws_cdk import App, Stack
    from aws_cdk import aws_lambda as lambda_

    def test_stack(cdk_snapshot, tmp_path):
        code = tmp_path / "code"
        code.mkdir()
        (code / "index.py").write_text(os.environ["HANDLER_BODY"])
        stack = Stack(App(), "Service")
        lambda_.Function(
            stack, "Handler", runtime=lambda_.Runtime.PYTHON_3_12, handler="index.handler",
            code=lambda_.Code.from_asset(str(code)),
            memory_size=int(os.environ["MEMORY"]),
        )
        assert stack == cdk_snapshot
    """
)


@pytest.mark.e2e
def test_fixture_from_the_entry_point_survives_asset_change_and_catches_real_change(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_service=USER_TEST)
    monkeypatch.setenv("HANDLER_BODY", "def handler(e, c):\n    return 1\n")
    monkeypatch.setenv("MEMORY", "128")
    pytester.runpytest_subprocess("--snapshot-update").assert_outcomes(passed=1)
    snapshots = list(Path(pytester.path, "__snapshots__").rglob("*.json"))
    assert len(snapshots) == 1 and "[ASSET_1].zip" in snapshots[0].read_text()

    monkeypatch.setenv("HANDLER_BODY", "def handler(e, c):\n    return 2\n")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)

    monkeypatch.setenv("MEMORY", "256")
    pytester.runpytest_subprocess().assert_outcomes(failed=1)
