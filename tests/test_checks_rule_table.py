"""The README's rule table is generated from the one list of rules; they never differ."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from restart_policy import RestartPolicyChecks
from restart_policy._rules import RULES, rule_table

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- rule table: generated from restart_policy._rules.RULES -->\n"
END = "<!-- end of rule table -->"


def test_readme_rule_table_is_the_generated_one() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    assert table == rule_table(), "run `python -m restart_policy._rules` and paste its output"


def test_every_rule_has_its_own_module_named_after_its_id() -> None:
    for rule in RULES:
        name = rule.id.removeprefix("RP-").lower().replace("-", "_")
        module = importlib.import_module(f"restart_policy._rules.{name}")
        assert module.RULE is rule


def test_ids_are_unique_and_the_plugin_names_them_all() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    assert RestartPolicyChecks().rule_ids == ids


def test_every_fix_names_a_property() -> None:
    for rule in RULES:
        if rule.subject == "reader":
            continue  # its finding names the value it could not read
        # "set DeploymentConfiguration...", "set the container's StopTimeout", "set startsecs"
        named = re.match(r"(set|leave) (the [\w ]+'s )?([A-Z][A-Za-z.]+|[a-z_]+)\b", rule.fix)
        assert named and named.group(3) not in ("the", "it"), rule.id
