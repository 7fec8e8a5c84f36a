"""RP-ECS-STOP: a container gets the policy's time to stop, within what the platform allows."""

from __future__ import annotations

from collections.abc import Iterator

from .._ecs_limits import FARGATE_STOP_TIMEOUT_MAX
from ._model import Finding, Options, Rule, TaskDefinition, intrinsic, number, unreadable

#: Fargate's documented range for a container's stopTimeout.
FARGATE_STOP_TIMEOUT_MIN = 2


def check(task: TaskDefinition, options: Options) -> Iterator[Finding]:
    policy_stop = task.policy.stop_timeout
    if task.fargate:
        low, high = FARGATE_STOP_TIMEOUT_MIN, min(policy_stop, FARGATE_STOP_TIMEOUT_MAX)
    else:
        low, high = 1, policy_stop
    for base, name, container in task.containers():
        where = f"{base}/StopTimeout"
        stop = container.get("StopTimeout")
        if intrinsic(stop):
            yield unreadable(task.logical_id, where, "StopTimeout")
        elif stop is None:
            yield Finding(
                RULE.id, task.logical_id, where,
                f"container {name} has no StopTimeout (ECS then kills it after 30 s)",
            )  # fmt: skip
        elif not number(stop) or not low <= stop <= high:
            platform = " on Fargate" if task.fargate else ""
            yield Finding(
                RULE.id, task.logical_id, where,
                f"container {name} StopTimeout {stop!r} is outside {low}..{high:g} s{platform}",
            )  # fmt: skip


RULE = Rule(
    id="RP-ECS-STOP",
    title="essential container of a service's task definition whose stop timeout is unset or "
    "outside the policy",
    fix="set the container's StopTimeout (add_container(stop_timeout=...)) within the policy's "
    "stop_timeout: 1..stop_timeout s on EC2, 2..120 s (and at most stop_timeout) on Fargate",
    subject="task",
    check=check,
)
