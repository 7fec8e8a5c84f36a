"""RP-ECS-LOGS: what a crashing daemon last wrote must be kept."""

from __future__ import annotations

from collections.abc import Iterator

from ._model import Finding, Options, Rule, TaskDefinition


def check(task: TaskDefinition, options: Options) -> Iterator[Finding]:
    for base, name, container in task.containers():
        if not container.get("LogConfiguration"):
            yield Finding(
                RULE.id, task.logical_id, f"{base}/LogConfiguration",
                f"container {name} has no LogConfiguration",
            )  # fmt: skip


RULE = Rule(
    id="RP-ECS-LOGS",
    title="essential container of a service's task definition without a log configuration",
    fix="set the container's LogConfiguration (add_container(logging=ecs.LogDrivers.aws_logs("
    "...)) into a log group with retention)",
    subject="task",
    check=check,
)
