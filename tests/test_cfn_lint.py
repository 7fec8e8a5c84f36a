"""cfn-lint over every synthesized template of the example app: no errors, no warnings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from bin.app import STACKS

ROOT = Path(__file__).resolve().parent.parent


def _lint_config() -> ManualArgs:
    config = json.loads((ROOT / ".cfnlintrc.json").read_text())
    return ManualArgs(
        ignore_checks=[entry["rule"] for entry in config["ignore_checks"]],
        regions=config["regions"],
    )


def test_every_ignored_rule_has_a_reason() -> None:
    config = json.loads((ROOT / ".cfnlintrc.json").read_text())
    for entry in config["ignore_checks"]:
        assert len(entry["reason"]) > 20, entry


@pytest.mark.parametrize("stack_name", STACKS)
def test_template_is_lint_clean(
    stack_name: str, example_templates: dict[str, dict[str, Any]]
) -> None:
    matches = lint(json.dumps(example_templates[stack_name]), config=_lint_config())
    assert [str(match) for match in matches] == []
