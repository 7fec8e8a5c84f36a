"""``WorkerScaling``: how many tasks a ``WorkerService`` runs, by queue depth, CPU, memory or time.

Pure data and checks; ``WorkerService`` builds the Application Auto Scaling resources from it.
The checks run when the object is made, and what they find is kept in ``problems``: the
``WorkerService`` that uses the object reports it with its own problems, under its construct
path, in one ``PolicyError`` (a ``WorkerScaling`` is made before the service that would name it).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_sqs as sqs

from ._errors import Problems
from ._units import UnitError, is_unresolved, to_seconds

__all__ = ["WorkerScaling"]

#: aws-ecs-patterns' QueueProcessingService scales out by 1 task from 100 visible messages and
#: by 5 from 500; ``scale_out_backlog`` keeps that shape (1x and 5x the backlog).
DEFAULT_SCALE_OUT_BACKLOG = 100
LARGE_STEP_FACTOR = 5
LARGE_STEP_TASKS = 5


class WorkerScaling:
    """Autoscaling of a worker's task count; the service then has no ``DesiredCount``, so a
    deploy never resets the count that scaling reached.

    :param max_capacity: Most tasks. Required.
    :param min_capacity: Fewest tasks. Default: 1.
    :param queue: An SQS queue whose backlog (``ApproximateNumberOfMessagesVisible``) drives step
        scaling as in aws-ecs-patterns' ``QueueProcessingService``: one task fewer when the queue
        is empty, one more from ``scale_out_backlog`` visible messages, five more from five times
        that. Default: none.
    :param scale_out_backlog: The backlog that adds a task. Default: 100 (QueueProcessingService's
        first step).
    :param target_backlog_per_task: Instead of the steps, target tracking on the queue's backlog
        per task (visible messages / ``ECS/ContainerInsights`` ``RunningTaskCount``), AWS's
        documented metric-math example; the cluster needs Container Insights and
        ``min_capacity`` at least 1. Default: none (the steps).
    :param cpu_target_percent: Target tracking on the service's average CPU. Default: none.
    :param memory_target_percent: Target tracking on the service's average memory. Default: none.
    :param schedules: Scheduled capacity changes (``appscaling.ScalingSchedule``). Default: none.
    :param cooldown: Cooldown of the queue's step scaling. Default: Application Auto Scaling's.
    """

    __slots__ = (
        "cooldown",
        "cpu_target_percent",
        "max_capacity",
        "memory_target_percent",
        "min_capacity",
        "problems",
        "queue",
        "scale_out_backlog",
        "schedules",
        "target_backlog_per_task",
    )

    max_capacity: int
    min_capacity: int
    queue: sqs.IQueue | None
    scale_out_backlog: int
    target_backlog_per_task: int | None
    cpu_target_percent: float | None
    memory_target_percent: float | None
    schedules: tuple[appscaling.ScalingSchedule, ...]
    cooldown: Duration | None
    #: What is wrong with these settings; the ``WorkerService`` that uses them reports it with
    #: its own problems, under its path, in one ``PolicyError``.
    problems: Problems

    def __init__(
        self,
        *,
        max_capacity: int,
        min_capacity: int | None = None,
        queue: sqs.IQueue | None = None,
        scale_out_backlog: int | None = None,
        target_backlog_per_task: int | None = None,
        cpu_target_percent: float | None = None,
        memory_target_percent: float | None = None,
        schedules: Sequence[appscaling.ScalingSchedule] | None = None,
        cooldown: Duration | None = None,
    ) -> None:
        problems = Problems("WorkerScaling")
        if scale_out_backlog is not None and target_backlog_per_task is not None:
            problems.add(
                "scale_out_backlog/target_backlog_per_task",
                "both",
                "pick steps or target tracking for the queue, not both",
                "give one of them",
            )
        if target_backlog_per_task is not None and queue is None:
            problems.add(
                "target_backlog_per_task",
                target_backlog_per_task,
                "needs a queue whose backlog it divides",
                "give queue=",
            )
        self.max_capacity = max_capacity
        self.min_capacity = 1 if min_capacity is None else min_capacity
        self.queue = queue
        self.scale_out_backlog = (
            DEFAULT_SCALE_OUT_BACKLOG if scale_out_backlog is None else scale_out_backlog
        )
        self.target_backlog_per_task = target_backlog_per_task
        self.cpu_target_percent = cpu_target_percent
        self.memory_target_percent = memory_target_percent
        self.schedules = () if schedules is None else tuple(schedules)
        self.cooldown = cooldown
        self._check(problems)
        self.problems = problems

    @classmethod
    def queue_depth(
        cls,
        queue: sqs.IQueue,
        *,
        max_capacity: int,
        min_capacity: int | None = None,
        scale_out_backlog: int | None = None,
        cpu_target_percent: float | None = None,
    ) -> WorkerScaling:
        """Scale on the queue's backlog (and, optionally, CPU), as QueueProcessingService does."""
        return cls(
            queue=queue,
            max_capacity=max_capacity,
            min_capacity=min_capacity,
            scale_out_backlog=scale_out_backlog,
            cpu_target_percent=cpu_target_percent,
        )

    @classmethod
    def queue_backlog_per_task(
        cls,
        queue: sqs.IQueue,
        target: int,
        *,
        max_capacity: int,
        min_capacity: int | None = None,
    ) -> WorkerScaling:
        """Target tracking on the queue's backlog per running task (``target`` messages a task),
        as AWS's Application Auto Scaling guide computes it with metric math."""
        return cls(
            queue=queue,
            target_backlog_per_task=target,
            max_capacity=max_capacity,
            min_capacity=min_capacity,
        )

    @classmethod
    def cpu(
        cls, target_percent: float, *, max_capacity: int, min_capacity: int | None = None
    ) -> WorkerScaling:
        """Target tracking on average CPU utilization."""
        return cls(
            cpu_target_percent=target_percent, max_capacity=max_capacity, min_capacity=min_capacity
        )

    @classmethod
    def memory(
        cls, target_percent: float, *, max_capacity: int, min_capacity: int | None = None
    ) -> WorkerScaling:
        """Target tracking on average memory utilization."""
        return cls(
            memory_target_percent=target_percent,
            max_capacity=max_capacity,
            min_capacity=min_capacity,
        )

    @classmethod
    def on_schedule(
        cls,
        *schedules: appscaling.ScalingSchedule,
        max_capacity: int,
        min_capacity: int | None = None,
    ) -> WorkerScaling:
        """Capacity by time of day, e.g. none at night."""
        return cls(schedules=list(schedules), max_capacity=max_capacity, min_capacity=min_capacity)

    def __repr__(self) -> str:
        parts = [f"min_capacity={self.min_capacity}", f"max_capacity={self.max_capacity}"]
        if self.queue is not None and self.target_backlog_per_task is not None:
            parts.append(f"queue=..., target_backlog_per_task={self.target_backlog_per_task}")
        elif self.queue is not None:
            parts.append(f"queue=..., scale_out_backlog={self.scale_out_backlog}")
        if self.cpu_target_percent is not None:
            parts.append(f"cpu_target_percent={self.cpu_target_percent}")
        if self.memory_target_percent is not None:
            parts.append(f"memory_target_percent={self.memory_target_percent}")
        if self.schedules:
            parts.append(f"schedules={len(self.schedules)}")
        return f"WorkerScaling({', '.join(parts)})"

    def _check(self, problems: Problems) -> None:
        maximum, minimum = self.max_capacity, self.min_capacity
        max_ok = _whole(problems, "max_capacity", maximum, minimum=1)
        min_ok = _whole(problems, "min_capacity", minimum, minimum=0)
        if max_ok and min_ok and minimum > maximum:
            problems.add(
                "min_capacity",
                minimum,
                f"is above max_capacity ({maximum})",
                "give a min_capacity at most max_capacity",
            )
        if self.queue is not None and not hasattr(
            self.queue, "metric_approximate_number_of_messages_visible"
        ):
            problems.add("queue", self.queue, "is not an SQS queue", "give an sqs.IQueue")
        backlog_ok = _whole(problems, "scale_out_backlog", self.scale_out_backlog, minimum=1)
        if (
            self.queue is not None
            and self.target_backlog_per_task is None
            and backlog_ok
            and self.scale_out_backlog > 1
            and min_ok
            and minimum == 0
        ):
            problems.add(
                "min_capacity",
                minimum,
                f"is 0 with the queue steps, which add the first task only from "
                f"scale_out_backlog={self.scale_out_backlog} visible messages: a smaller "
                "backlog would wait at 0 tasks for ever",
                "give min_capacity=1, or scale_out_backlog=1 so that one message starts a task",
            )
        if self.target_backlog_per_task is not None:
            _whole(problems, "target_backlog_per_task", self.target_backlog_per_task, minimum=1)
            if min_ok and minimum < 1:
                problems.add(
                    "min_capacity",
                    minimum,
                    "is 0, and backlog per task divides by the running tasks: at 0 tasks there is "
                    "no value and the service would never scale out",
                    "give min_capacity=1 or more, or the queue depth steps (they scale from 0)",
                )
        for name in ("cpu_target_percent", "memory_target_percent"):
            value = getattr(self, name)
            if value is None or is_unresolved(value):
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (1 <= value <= 100)
            ):
                problems.add(name, value, "is not a percentage from 1 to 100", "give e.g. 50")
        if not all(isinstance(item, appscaling.ScalingSchedule) for item in self.schedules):
            problems.add(
                "schedules",
                self.schedules,
                "holds items that are not ScalingSchedule",
                "give appscaling.ScalingSchedule(schedule=..., min_capacity=..., ...)",
            )
        elif max_ok and min_ok:
            for index, schedule in enumerate(self.schedules):
                _check_schedule(problems, f"schedules[{index}]", schedule, minimum, maximum)
        if self.cooldown is not None:
            try:
                to_seconds(self.cooldown)
            except UnitError as exc:
                problems.add("cooldown", self.cooldown, exc.reason, exc.fix)
        triggers = (
            self.queue,
            self.cpu_target_percent,
            self.memory_target_percent,
            self.schedules or None,
        )
        if all(trigger is None for trigger in triggers):
            problems.add(
                "queue/cpu_target_percent/memory_target_percent/schedules",
                None,
                "are all unset, so nothing would ever change the task count",
                "give at least one, e.g. WorkerScaling.queue_depth(queue, max_capacity=10)",
            )


def _check_schedule(
    problems: Problems,
    field: str,
    schedule: appscaling.ScalingSchedule,
    minimum: int,
    maximum: int,
) -> None:
    """A scheduled action's capacities: min at most max (Application Auto Scaling refuses
    otherwise), and both within the scaling's declared range, which every schedule keeps to."""
    low, high = schedule.min_capacity, schedule.max_capacity
    if low is None and high is None:
        problems.add(
            field,
            "no min_capacity, no max_capacity",
            "changes nothing",
            "give min_capacity=, max_capacity= or both",
        )
        return
    for name, value in (("min_capacity", low), ("max_capacity", high)):
        if value is None or is_unresolved(value):
            continue
        if not minimum <= value <= maximum:
            problems.add(
                f"{field}.{name}",
                value,
                f"is outside the scaling's min_capacity..max_capacity ({minimum}..{maximum})",
                f"give a value from {minimum} to {maximum}, or widen the scaling's range",
            )
    if (
        low is not None
        and high is not None
        and not is_unresolved(low)
        and not is_unresolved(high)
        and low > high
    ):
        problems.add(
            f"{field}.min_capacity",
            low,
            f"is above the schedule's max_capacity ({high})",
            "give a min_capacity at most the max_capacity",
        )


def _whole(problems: Problems, name: str, value: object, *, minimum: int) -> bool:
    if is_unresolved(value):
        return False
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(name, value, "is not a whole number", f"give a whole number >= {minimum}")
        return False
    if value < minimum:
        problems.add(name, value, f"is below {minimum}", f"give a whole number >= {minimum}")
        return False
    return True
