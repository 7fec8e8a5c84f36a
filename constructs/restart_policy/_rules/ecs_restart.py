"""RP-ECS-RESTART: a long-running container is restarted in place, inside ECS's limits."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .._ecs_limits import RESTART_PERIOD_MAX, RESTART_PERIOD_MIN
from ._model import Finding, Options, Rule, TaskDefinition, intrinsic, number, unreadable


def check(task: TaskDefinition, options: Options) -> Iterator[Finding]:
    for base, name, container in task.containers():
        where = f"{base}/RestartPolicy"
        restart = container.get("RestartPolicy")
        if intrinsic(restart):
            yield unreadable(task.logical_id, where, f"container {name}'s restart policy")
        elif not isinstance(restart, Mapping) or restart.get("Enabled") is not True:
            yield Finding(
                RULE.id, task.logical_id, where, f"container {name} has no enabled restart policy"
            )
        else:
            period = restart.get("RestartAttemptPeriod", 300)
            if intrinsic(period):
                yield unreadable(task.logical_id, where, "RestartAttemptPeriod")
            elif not (number(period) and RESTART_PERIOD_MIN <= period <= RESTART_PERIOD_MAX):
                yield Finding(
                    RULE.id, task.logical_id, where,
                    f"container {name} RestartAttemptPeriod {period!r} is outside "
                    f"{RESTART_PERIOD_MIN}..{RESTART_PERIOD_MAX} s",
                )  # fmt: skip


RULE = Rule(
    id="RP-ECS-RESTART",
    title="essential container of a service's task definition without a restart policy "
    "inside ECS's limits",
    fix="set the container's RestartPolicy {Enabled: true, RestartAttemptPeriod: 60..1800} "
    "(add_container(enable_restart_policy=True, restart_attempt_period=...); WorkerService "
    "uses the policy's start window)",
    subject="task",
    check=check,
)
