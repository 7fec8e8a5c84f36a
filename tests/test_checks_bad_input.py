"""Bad input to RestartPolicyChecks: a warning naming the resource, never a crash, never silence.

These run the plugin's ``validate`` on hand-made cloud assemblies, the shapes CDK does not make
on its own (a nested template missing from the assembly, broken MIME, base64 or gzip).
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from restart_policy import RestartPolicyChecks

DIGEST = "ab" * 32


@dataclass
class Context:
    template_paths: list[str]


def validate(tmp_path: Path, resources: dict[str, Any], **files: Any) -> list[tuple[str, str, str]]:
    """(rule, logical id, description) of each finding on a one-template assembly."""
    for name, body in files.items():
        content = body if isinstance(body, str) else json.dumps(body)
        (tmp_path / name.replace("__", ".")).write_text(content)
    top = tmp_path / "Test.template.json"
    top.write_text(json.dumps({"Resources": resources}))
    report = RestartPolicyChecks().validate(Context([str(top)]))  # type: ignore[arg-type]
    return [
        (v.rule_name, str(v.violating_resources[0].resource_logical_id), v.description)
        for v in report.violations
    ]


def nested_stack(asset_path: str | None = None) -> dict[str, Any]:
    url = {"Fn::Join": ["", ["https://s3.amazonaws.com/bucket/", f"{DIGEST}.json"]]}
    resource: dict[str, Any] = {
        "Type": "AWS::CloudFormation::Stack",
        "Properties": {"TemplateURL": url},
    }
    if asset_path is not None:
        resource["Metadata"] = {"aws:asset:path": asset_path}
    return {"Inner": resource}


def assets(path: str) -> dict[str, Any]:
    return {"files": {DIGEST: {"source": {"path": path, "packaging": "file"}}}}


def test_nested_template_missing_from_the_assembly_is_a_warning_naming_it(tmp_path: Path) -> None:
    findings = validate(tmp_path, nested_stack())
    assert [(rule, resource) for rule, resource, _ in findings] == [("RP-UNREADABLE", "Inner")]
    assert "not in the cloud assembly" in findings[0][2]


def test_nested_template_named_by_asset_metadata_but_absent_is_a_warning(tmp_path: Path) -> None:
    findings = validate(tmp_path, nested_stack("Gone.nested.template.json"))
    assert [(rule, resource) for rule, resource, _ in findings] == [("RP-UNREADABLE", "Inner")]


def test_nested_template_that_is_not_json_is_a_warning(tmp_path: Path) -> None:
    findings = validate(
        tmp_path, nested_stack(), Test__assets__json=assets("Inner.json"), Inner__json="{oops"
    )
    assert [(rule, resource) for rule, resource, _ in findings] == [("RP-UNREADABLE", "Inner")]


def test_nested_template_with_zero_resources_is_a_warning(tmp_path: Path) -> None:
    findings = validate(
        tmp_path, nested_stack(), Test__assets__json=assets("Inner.json"),
        Inner__json={"Resources": {}},
    )  # fmt: skip
    assert [(rule, resource) for rule, resource, _ in findings] == [("RP-UNREADABLE", "Inner")]
    assert "no resources" in findings[0][2]


def test_nested_template_found_through_the_asset_manifest_is_judged(tmp_path: Path) -> None:
    inner = {"Resources": {"Forever": {"Type": "AWS::Logs::LogGroup", "Properties": {}}}}
    findings = validate(
        tmp_path, nested_stack(), Test__assets__json=assets("Inner.json"), Inner__json=inner
    )
    assert [(rule, resource) for rule, resource, _ in findings] == [
        ("RP-LOGS-RETENTION", "Forever")
    ]


def test_top_level_template_with_zero_resources_is_not_a_crash(tmp_path: Path) -> None:
    assert validate(tmp_path, {}) == []


def host(user_data: object) -> dict[str, Any]:
    return {
        "Hosts": {
            "Type": "AWS::EC2::LaunchTemplate",
            "Properties": {"LaunchTemplateData": {"UserData": user_data}},
        }
    }


MIME_HEAD = (
    'Content-Type: multipart/mixed; boundary="SEP"\nMIME-Version: 1.0\n\n--SEP\n'
    'Content-Type: text/x-shellscript; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n'
)


def test_malformed_mime_is_a_warning_naming_the_resource(tmp_path: Path) -> None:
    script = base64.b64encode(b"echo hi\n").decode()
    findings = validate(tmp_path, host({"Fn::Base64": MIME_HEAD + script + "\n"}))  # no --SEP--
    assert [(rule, resource) for rule, resource, _ in findings] == [("RP-UNREADABLE", "Hosts")]
    assert "malformed MIME" in findings[0][2]


def test_mime_part_whose_base64_does_not_decode_is_a_warning(tmp_path: Path) -> None:
    findings = validate(tmp_path, host({"Fn::Base64": MIME_HEAD + "!!not base64!!\n--SEP--\n"}))
    assert [(rule, resource) for rule, resource, _ in findings] == [("RP-UNREADABLE", "Hosts")]
    assert "base64 that does not decode" in findings[0][2]


def test_literal_user_data_that_is_not_base64_is_a_warning(tmp_path: Path) -> None:
    findings = validate(tmp_path, host("#!/bin/bash\n[program:x]\n"))
    assert [(rule, resource) for rule, resource, _ in findings] == [("RP-UNREADABLE", "Hosts")]


def test_literal_base64_user_data_is_read(tmp_path: Path) -> None:
    script = "cat > /etc/w.conf <<'EOF'\n[program:w]\ncommand=/bin/w\nstartsecs=0\nEOF\n"
    findings = validate(tmp_path, host(base64.b64encode(script.encode()).decode()))
    assert "RP-SUP-STARTSECS" in {rule for rule, _, _ in findings}


def test_gzip_user_data_is_read_and_broken_gzip_is_a_warning(tmp_path: Path) -> None:
    script = b"cat > /etc/w.conf <<'EOF'\n[program:w]\ncommand=/bin/w\nstartsecs=0\nEOF\n"
    packed = base64.b64encode(gzip.compress(script)).decode()
    assert "RP-SUP-STARTSECS" in {rule for rule, _, _ in validate(tmp_path, host(packed))}
    broken = base64.b64encode(gzip.compress(script)[:20]).decode()
    findings = validate(tmp_path, host(broken))
    assert [(rule, resource) for rule, resource, _ in findings] == [("RP-UNREADABLE", "Hosts")]


def test_user_data_from_an_attribute_is_a_warning(tmp_path: Path) -> None:
    findings = validate(tmp_path, host({"Fn::GetAtt": ["Other", "Script"]}))
    assert [(rule, resource) for rule, resource, _ in findings] == [("RP-UNREADABLE", "Hosts")]


def test_fn_sub_user_data_is_read_with_its_escapes(tmp_path: Path) -> None:
    script = (
        "cat > /etc/w.conf <<'EOF'\n[program:w]\ncommand=/bin/w ${!HOME}\nstartsecs=0\n"
        "autorestart=true\nstartretries=5\nstopwaitsecs=${Wait}\nEOF\n"
    )
    findings = validate(tmp_path, host({"Fn::Base64": {"Fn::Sub": script}}))
    assert {rule for rule, _, _ in findings} == {"RP-SUP-STARTSECS", "RP-UNREADABLE"}
    assert any("stopwaitsecs" in description for _, _, description in findings)


def test_section_inside_a_deploy_time_choice_is_a_warning(tmp_path: Path) -> None:
    chosen = {"Fn::If": ["Prod", "[program:w]\ncommand=/bin/w\nstartsecs=0\n", ""]}
    user_data = {"Fn::Base64": {"Fn::Join": ["", ["cat > /etc/w.conf <<'EOF'\n", chosen, "EOF\n"]]}}
    findings = validate(tmp_path, host(user_data))
    assert [(rule, resource) for rule, resource, _ in findings] == [("RP-UNREADABLE", "Hosts")]
    assert "Fn::If" in findings[0][2]
