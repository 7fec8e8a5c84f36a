"""RP-ECS-JOB-RESTART: a task that no service runs (a RunTask target, a scheduled job) must not
be restarted in place after it finished.

ECS ignores no exit code by default: a job container that ran longer than the restart attempt
period and then exits 0 is started again, and again after each run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ._model import Finding, Options, Rule, TaskDefinition, intrinsic, unreadable


def check(task: TaskDefinition, options: Options) -> Iterator[Finding]:
    for base, name, container in task.containers(essential_only=False):
        where = f"{base}/RestartPolicy"
        restart = container.get("RestartPolicy")
        if intrinsic(restart):
            yield unreadable(task.logical_id, where, f"container {name}'s restart policy")
            continue
        if not isinstance(restart, Mapping) or restart.get("Enabled") is not True:
            continue  # no restart policy: what a job should have
        ignored = restart.get("IgnoredExitCodes")
        if intrinsic(ignored):
            yield unreadable(task.logical_id, where, "IgnoredExitCodes")
        elif not isinstance(ignored, list) or 0 not in ignored:
            yield Finding(
                RULE.id, task.logical_id, where,
                f"container {name} of a task no ECS service runs is restarted in place after "
                f"exit code 0 (IgnoredExitCodes is {ignored!r})",
            )  # fmt: skip


RULE = Rule(
    id="RP-ECS-JOB-RESTART",
    title="task definition that no ECS service runs (a job) restarted in place after it finished",
    fix="leave the container's RestartPolicy off (add_container(enable_restart_policy=False)), "
    "or put 0 in its RestartPolicy.IgnoredExitCodes (restart_ignored_exit_codes=[0])",
    subject="job",
    check=check,
)
