"""normalize_template on plain template dicts: where a hash is masked, and where it is not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from restart_policy.testing import (
    CdkSnapshotWarning,
    CdkTemplateSnapshotExtension,
    SnapshotOptions,
    StackTemplate,
    normalize_template,
)

H1, H2, USER = "1" * 64, "2" * 64, "f" * 64
BUCKET = {"Fn::Sub": "cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}"}


def function(key: str, bucket: Any = None) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Code": {"S3Bucket": bucket or BUCKET, "S3Key": key}, "Runtime": "x"},
    }


def test_s3_key_next_to_the_asset_bucket_is_masked() -> None:
    out = normalize_template({"Resources": {"Fn": function(f"{H1}.zip")}})
    assert out["Resources"]["Fn"]["Properties"]["Code"]["S3Key"] == "[ASSET Fn].zip"


def test_s3_key_next_to_a_users_bucket_is_kept() -> None:
    out = normalize_template({"Resources": {"Fn": function(f"{USER}.zip", bucket="my-bucket")}})
    assert out["Resources"]["Fn"]["Properties"]["Code"]["S3Key"] == f"{USER}.zip"


def test_asset_bucket_of_a_stack_with_an_account_and_region_is_known() -> None:
    bucket = "cdk-hnb659fds-assets-123456789012-eu-west-1"
    out = normalize_template({"Resources": {"Fn": function(f"{H1}.zip", bucket=bucket)}})
    assert out["Resources"]["Fn"]["Properties"]["Code"]["S3Key"] == "[ASSET Fn].zip"


def test_a_64_hex_string_anywhere_else_is_kept() -> None:
    template = {
        "Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": USER}}},
        "Outputs": {"Sum": {"Value": f"sha256:{USER}"}},
    }
    assert normalize_template(template) == template


def test_the_same_hash_at_another_asset_location_gets_the_assets_name() -> None:
    url = f"s3://cdk-hnb659fds-assets-123456789012-eu-west-1/{H1}.zip"
    template = {
        "Resources": {"Fn": function(f"{H1}.zip")},
        "Outputs": {"Url": {"Value": url}},
    }
    out = normalize_template(template)["Outputs"]["Url"]["Value"]
    assert out == "s3://cdk-hnb659fds-assets-123456789012-eu-west-1/[ASSET Fn].zip"


def test_the_same_hash_outside_an_asset_location_is_kept() -> None:
    # A user's value that equals an asset's hash: a change of it must show.
    template = {
        "Resources": {
            "Fn": function(f"{H1}.zip"),
            "Mine": function(f"{H1}.zip", bucket="my-artifacts"),
        },
        "Outputs": {"Key": {"Value": f"{H1}.zip"}, "Sum": {"Value": H1}},
    }
    out = normalize_template(template)
    assert out["Resources"]["Mine"]["Properties"]["Code"]["S3Key"] == f"{H1}.zip"
    assert out["Outputs"] == template["Outputs"]
    assert out["Resources"]["Fn"]["Properties"]["Code"]["S3Key"] == "[ASSET Fn].zip"


def test_two_assets_of_one_resource_stay_apart() -> None:
    deployment = {
        "Type": "Custom::CDKBucketDeployment",
        "Properties": {
            "SourceBucketNames": [BUCKET, BUCKET],
            "SourceObjectKeys": [f"{H1}.zip", f"{H2}.zip"],
        },
    }
    out = normalize_template({"Resources": {"Dep": deployment}})
    keys = out["Resources"]["Dep"]["Properties"]["SourceObjectKeys"]
    assert keys == ["[ASSET Dep].zip", "[ASSET Dep #2].zip"]


def test_only_keys_in_an_asset_bucket_are_masked_in_a_list() -> None:
    deployment = {
        "Type": "Custom::CDKBucketDeployment",
        "Properties": {
            "SourceBucketNames": ["users-bucket", BUCKET],
            "SourceObjectKeys": [f"{USER}.zip", f"{H2}.zip"],
        },
    }
    out = normalize_template({"Resources": {"Dep": deployment}})
    keys = out["Resources"]["Dep"]["Properties"]["SourceObjectKeys"]
    assert keys == [f"{USER}.zip", "[ASSET Dep].zip"]


def test_the_key_after_the_bucket_in_a_join_is_masked() -> None:
    url = {"Fn::Join": ["", ["https://s3.", {"Ref": "AWS::Region"}, "/", BUCKET, f"/{H1}.json"]]}
    nested = {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": url}}
    with pytest.warns(CdkSnapshotWarning, match="nested stacks Nested are not in the snapshot"):
        out = normalize_template({"Resources": {"Nested": nested}})
    assert out["Resources"]["Nested"]["Properties"]["TemplateURL"]["Fn::Join"][1][-1] == (
        "/[ASSET Nested].json"
    )


def test_the_container_asset_tag_is_masked_and_a_pinned_digest_kept() -> None:
    image = (
        "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/"
        f"cdk-hnb659fds-container-assets-${{AWS::AccountId}}-${{AWS::Region}}:{H1}"
    )
    task = {
        "Type": "AWS::ECS::TaskDefinition",
        "Properties": {
            "ContainerDefinitions": [
                {"Image": {"Fn::Sub": image}},
                {"Image": f"public.ecr.aws/docker/library/python@sha256:{USER}"},
            ]
        },
    }
    out = normalize_template({"Resources": {"Task": task}})
    first, second = out["Resources"]["Task"]["Properties"]["ContainerDefinitions"]
    assert first["Image"]["Fn::Sub"].endswith(":[ASSET Task]")
    assert second["Image"].endswith(USER)


def test_assets_are_named_after_the_construct_path() -> None:
    template = StackTemplate(
        {"Resources": {"HandlerA1B2C3D4": function(f"{H1}.zip")}},
        paths={"HandlerA1B2C3D4": "Service/Handler/Resource"},
    )
    out = normalize_template(template)
    assert out["Resources"]["HandlerA1B2C3D4"]["Properties"]["Code"]["S3Key"] == (
        "[ASSET Service/Handler].zip"
    )


def test_cdk_handler_is_known_by_its_logical_id_without_paths() -> None:
    template = {
        "Resources": {
            "CustomS3AutoDeleteObjectsCustomResourceProviderHandler9D90184F": function("a.zip"),
            "CustomS3AutoDeleteObjectsCustomResourceProviderHandler00000000": function("a.zip"),
        }
    }
    out = normalize_template(template)["Resources"]
    runtimes = {logical_id: r["Properties"]["Runtime"] for logical_id, r in out.items()}
    assert runtimes == {
        "CustomS3AutoDeleteObjectsCustomResourceProviderHandler9D90184F": "[CDK_HANDLER_RUNTIME]",
        # The same words, but not the id that CDK's path gives: a user's function.
        "CustomS3AutoDeleteObjectsCustomResourceProviderHandler00000000": "x",
    }


def test_bootstrap_version_and_cdk_metadata_are_dropped() -> None:
    template = {
        "Parameters": {
            "BootstrapVersion": {
                "Type": "AWS::SSM::Parameter::Value<String>",
                "Default": "/cdk-bootstrap/hnb659fds/version",
            }
        },
        "Rules": {"CheckBootstrapVersion": {"Assertions": []}},
        "Conditions": {"CDKMetadataAvailable": {"Fn::Or": []}},
        "Resources": {
            "CDKMetadata": {"Type": "AWS::CDK::Metadata"},
            "Q": {"Type": "AWS::SQS::Queue"},
        },
    }
    assert normalize_template(template) == {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}


def test_a_users_own_bootstrap_version_parameter_is_kept() -> None:
    template = {"Parameters": {"BootstrapVersion": {"Type": "String", "Default": "7"}}}
    assert normalize_template(template) == template


def test_input_is_not_changed() -> None:
    template = {"Resources": {"Fn": function(f"{H1}.zip")}}
    before = json.dumps(template)
    normalize_template(template)
    assert json.dumps(template) == before


def test_options_come_as_keywords_or_as_an_object() -> None:
    template = {"Resources": {"Fn": function(f"{H1}.zip")}}
    assert normalize_template(template, ignore_assets=False) == normalize_template(
        template, SnapshotOptions(ignore_assets=False)
    )


def test_unknown_objects_are_refused() -> None:
    with pytest.raises(TypeError, match="cannot snapshot a int as a CDK template"):
        CdkTemplateSnapshotExtension().serialize(42)


def test_serialization_is_sorted_json() -> None:
    text = CdkTemplateSnapshotExtension().serialize(
        {"Resources": {"B": {"Type": "x"}, "A": {"Type": "y"}}}
    )
    assert text.index('"A"') < text.index('"B"')
    assert json.loads(text) == {"Resources": {"A": {"Type": "y"}, "B": {"Type": "x"}}}


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"ignore_assets": 1}, TypeError, "ignore_assets must be True or False, got 1"),
        ({"subset_resource_keys": "Q"}, TypeError, r"subset_resource_keys must be a list"),
        ({"subset_resource_keys": [1]}, TypeError, r"got 1 \(int\) in it"),
        ({"subset_resource_types": []}, ValueError, "subset_resource_types is empty"),
        ({"subset_resource_types": ["Queue"]}, ValueError, "'Queue' is not a CloudFormation"),
        ({"ignore_asset": True}, TypeError, "did you mean 'ignore_assets'"),
    ],
)
def test_bad_options_are_named(changes: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        SnapshotOptions.of(**changes)


def instance(user_data: str) -> dict[str, Any]:
    return {
        "Type": "AWS::EC2::Instance",
        "Metadata": {"AWS::CloudFormation::Init": {"config": {}}},
        "Properties": {"UserData": {"Fn::Base64": user_data}},
    }


def test_an_instance_id_suffixed_with_its_user_data_hash_is_masked() -> None:
    lid = "HostA1B2C3D40123456789abcdef"
    template = {
        "Resources": {lid: instance(f"cfn-init --resource {lid}")},
        "Outputs": {"Id": {"Value": {"Ref": lid}}},
    }
    out = normalize_template(template)
    assert list(out["Resources"]) == ["HostA1B2C3D4[HASH]"]
    assert out["Outputs"]["Id"]["Value"] == {"Ref": "HostA1B2C3D4[HASH]"}
    user_data = out["Resources"]["HostA1B2C3D4[HASH]"]["Properties"]["UserData"]["Fn::Base64"]
    assert user_data == "cfn-init --resource HostA1B2C3D4[HASH]"


def test_an_instance_id_that_is_not_the_paths_id_is_kept() -> None:
    lid = "HostA1B2C3D40123456789abcdef"
    template = StackTemplate({"Resources": {lid: instance("x")}}, paths={lid: "Box/Host/Resource"})
    assert list(normalize_template(template)["Resources"]) == [lid]


def test_the_init_fingerprint_in_user_data_is_masked() -> None:
    template = {"Resources": {"Host": instance("#!/bin/bash\n# fingerprint: 0123456789abcdef\nx")}}
    out = normalize_template(template)
    user_data = out["Resources"]["Host"]["Properties"]["UserData"]["Fn::Base64"]
    assert user_data == "#!/bin/bash\n# fingerprint: [HASH]\nx"


def test_a_fingerprint_line_without_init_metadata_is_the_users() -> None:
    resource = instance("# fingerprint: 0123456789abcdef\n")
    del resource["Metadata"]
    assert normalize_template({"Resources": {"Host": resource}})["Resources"]["Host"] == resource


@pytest.mark.parametrize("value", ["dummy1a", "vpc-12345", "dummy-value-for-/app/name"])
def test_dummy_values_of_lookups_warn_with_where(value: str) -> None:
    template = {"Resources": {"Subnet": {"Type": "AWS::EC2::Subnet", "Properties": {"X": value}}}}
    with pytest.warns(CdkSnapshotWarning, match=rf"'{value}' at Resources\.Subnet\.Properties\.X"):
        normalize_template(template)


def test_a_hosted_zone_lookups_dummy_id_warns_where_a_zone_id_goes() -> None:
    record = {"Type": "AWS::Route53::RecordSet", "Properties": {"HostedZoneId": "DUMMY"}}
    with pytest.warns(
        CdkSnapshotWarning, match=r"'DUMMY' at Resources\.R\.Properties\.HostedZoneId"
    ):
        normalize_template({"Resources": {"R": record}})


def test_a_users_own_dummy_word_does_not_warn(recwarn: pytest.WarningsRecorder) -> None:
    queue = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "DUMMY"}}
    normalize_template({"Resources": {"Q": queue}, "Outputs": {"O": {"Value": "TEST"}}})
    assert not [w for w in recwarn if issubclass(w.category, CdkSnapshotWarning)]


def test_a_join_part_with_a_lookups_dummy_arn_warns() -> None:
    arn = {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::123456789012:role/DUMMY_ARN"]]
    }
    with pytest.warns(CdkSnapshotWarning, match=r"role/DUMMY_ARN' at Outputs\.Role\.Value"):
        normalize_template({"Resources": {}, "Outputs": {"Role": {"Value": arn}}})


def test_the_same_hash_in_a_nested_stack_gets_the_parents_name() -> None:
    nested = StackTemplate({"Resources": {"Fn": function(f"{H1}.zip")}}, {"Fn": "S/N/Fn/Resource"})
    parent = StackTemplate(
        {"Resources": {"Fn": function(f"{H1}.zip")}}, {"Fn": "S/Fn/Resource"}, {"S/N": nested}
    )
    out = normalize_template(parent)
    inner = out["NestedStacks"]["S/N"]["Resources"]["Fn"]["Properties"]["Code"]["S3Key"]
    assert inner == out["Resources"]["Fn"]["Properties"]["Code"]["S3Key"] == "[ASSET S/Fn].zip"


def test_an_assets_own_path_names_it_and_names_stay_apart() -> None:
    template = {"Resources": {"Dep": {
        "Type": "Custom::CDKBucketDeployment",
        "Properties": {"SourceBucketNames": [BUCKET, BUCKET],
                       "SourceObjectKeys": [f"{H1}.zip", f"{H2}.zip"]},
    }}}  # fmt: skip
    stack = StackTemplate(template, {"Dep": "S/Dep/Default"}, assets={H2: ("S/Dep",)})
    keys = normalize_template(stack)["Resources"]["Dep"]["Properties"]["SourceObjectKeys"]
    assert keys == ["[ASSET S/Dep #2].zip", "[ASSET S/Dep].zip"]


def user_data(*parts: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::EC2::LaunchTemplate",
        "Properties": {"UserData": {"Fn::Base64": {"Fn::Join": ["", list(parts)]}}},
    }


def test_the_download_path_of_an_asset_in_user_data_is_masked() -> None:
    # UserData.for_windows().add_s3_download_command: the key after the bucket, the local file.
    template = {"Resources": {"T": user_data(
        f"mkdir (Split-Path -Path 'C:/temp/{H1}.zip' ) -ea 0\nRead-S3Object -BucketName '",
        BUCKET,
        f"' -key '{H1}.zip' -file 'C:/temp/{H1}.zip' -ErrorAction Stop\n",
    )}}  # fmt: skip
    out = json.dumps(normalize_template(template))
    assert H1 not in out and out.count("[ASSET T]") == 3


def test_a_users_tmp_file_with_another_hash_is_kept() -> None:
    template = {"Resources": {"T": user_data(
        f"mkdir -p $(dirname '/tmp/{H1}.zip')\naws s3 cp 's3://",
        BUCKET,
        f"/{H1}.zip' '/tmp/{H1}.zip'\nsha256sum /tmp/{USER}.zip\n",
    )}}  # fmt: skip
    out = json.dumps(normalize_template(template))
    assert H1 not in out and f"/tmp/{USER}.zip" in out


def test_an_api_deployment_id_hash_is_masked_with_current_version() -> None:
    lid = "RestDeployment633E6720" + "a" * 32
    template = {
        "Resources": {
            lid: {"Type": "AWS::ApiGateway::Deployment"},
            "Stage": {
                "Type": "AWS::ApiGateway::Stage",
                "Properties": {"DeploymentId": {"Ref": lid}},
            },
        }
    }
    out = normalize_template(template)
    assert out["Resources"]["Stage"]["Properties"]["DeploymentId"] == {
        "Ref": "RestDeployment633E6720[HASH]"
    }
    assert lid in normalize_template(template, ignore_current_version=False)["Resources"]
