"""The policy's rules, one module each, in cdk-nag's style: find a rule by its id's module.

``RULES`` is the one list the plugin runs and the README's rule table is made from
(``python -m restart_policy._rules`` prints the table).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import (
    ecs_breaker,
    ecs_healthy,
    ecs_job_restart,
    ecs_logs,
    ecs_restart,
    ecs_stop,
    logs_retention,
    policy_record,
    sup_autorestart,
    sup_logs,
    sup_retries,
    sup_startsecs,
    sup_stopwait,
    unreadable,
)
from ._model import Finding, Options, Rule

RULES: tuple[Rule, ...] = (
    ecs_breaker.RULE,
    ecs_healthy.RULE,
    ecs_restart.RULE,
    ecs_stop.RULE,
    ecs_logs.RULE,
    ecs_job_restart.RULE,
    logs_retention.RULE,
    policy_record.RULE,
    sup_startsecs.RULE,
    sup_retries.RULE,
    sup_autorestart.RULE,
    sup_logs.RULE,
    sup_stopwait.RULE,
    unreadable.RULE,
)
RULES_BY_ID = {rule.id: rule for rule in RULES}


def run(subject: str, judged: Any, options: Options) -> Iterator[Finding]:
    for rule in RULES:
        if rule.subject == subject and rule.check is not None:
            yield from rule.check(judged, options)


_SUBJECTS = {
    "service": "ECS service",
    "task": "task definition a service runs",
    "job": "task definition no service runs",
    "log-group": "log group",
    "process": "supervisor section",
    "record": "resource with a recorded policy",
    "reader": "anything (warning)",
}


def rule_table() -> str:
    """The README's rule table, from ``RULES``."""
    rows = ["| rule | judges | finds | fix |", "| --- | --- | --- | --- |"]
    for rule in RULES:
        fix = rule.fix.replace("|", "\\|")
        rows.append(f"| `{rule.id}` | {_SUBJECTS[rule.subject]} | {rule.title} | {fix} |")
    return "\n".join(rows) + "\n"


__all__ = ["RULES", "RULES_BY_ID", "Finding", "Options", "Rule", "rule_table", "run"]
