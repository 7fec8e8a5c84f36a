"""Application Auto Scaling of a WorkerService's task count, from a WorkerScaling."""

from __future__ import annotations

from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ecs as ecs

from .worker_scaling import LARGE_STEP_FACTOR, LARGE_STEP_TASKS, WorkerScaling


def apply_scaling(service: ecs.BaseService, scaling: WorkerScaling) -> ecs.ScalableTaskCount:
    count = service.auto_scale_task_count(
        min_capacity=scaling.min_capacity, max_capacity=scaling.max_capacity
    )
    if scaling.queue is not None:
        backlog = scaling.scale_out_backlog
        count.scale_on_metric(
            "QueueDepth",
            metric=scaling.queue.metric_approximate_number_of_messages_visible(),
            scaling_steps=[
                appscaling.ScalingInterval(upper=0, change=-1),
                appscaling.ScalingInterval(lower=backlog, change=1),
                appscaling.ScalingInterval(
                    lower=backlog * LARGE_STEP_FACTOR, change=LARGE_STEP_TASKS
                ),
            ],
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            cooldown=scaling.cooldown,
        )
    if scaling.cpu_target_percent is not None:
        count.scale_on_cpu_utilization("Cpu", target_utilization_percent=scaling.cpu_target_percent)
    if scaling.memory_target_percent is not None:
        count.scale_on_memory_utilization(
            "Memory", target_utilization_percent=scaling.memory_target_percent
        )
    for index, schedule in enumerate(scaling.schedules):
        count.scale_on_schedule(
            f"Schedule{index}",
            schedule=schedule.schedule,
            min_capacity=schedule.min_capacity,
            max_capacity=schedule.max_capacity,
            start_time=schedule.start_time,
            end_time=schedule.end_time,
            time_zone=schedule.time_zone,
        )
    return count
