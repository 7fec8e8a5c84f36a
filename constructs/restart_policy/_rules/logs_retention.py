"""RP-LOGS-RETENTION: logs are kept for a bounded time."""

from __future__ import annotations

from collections.abc import Iterator

from ._model import Finding, LogGroup, Options, Rule, intrinsic, unreadable

WHERE = "Properties/RetentionInDays"


def check(group: LogGroup, options: Options) -> Iterator[Finding]:
    retention = group.props.get("RetentionInDays")
    if retention is None:
        yield Finding(RULE.id, group.logical_id, WHERE, "no RetentionInDays")
    elif intrinsic(retention):
        yield unreadable(group.logical_id, WHERE, "RetentionInDays")


RULE = Rule(
    id="RP-LOGS-RETENTION",
    title="log group that keeps logs for ever",
    fix="set the log group's RetentionInDays (logs.LogGroup(retention=logs.RetentionDays...)), "
    "e.g. the LogPolicy's 30 days",
    subject="log-group",
    check=check,
)
