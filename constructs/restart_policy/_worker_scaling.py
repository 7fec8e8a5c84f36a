"""Application Auto Scaling of a WorkerService's task count, from a WorkerScaling."""

from __future__ import annotations

from aws_cdk import Names
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_sqs as sqs

from .worker_scaling import LARGE_STEP_FACTOR, LARGE_STEP_TASKS, WorkerScaling


def apply_scaling(service: ecs.BaseService, scaling: WorkerScaling) -> ecs.ScalableTaskCount:
    count = service.auto_scale_task_count(
        min_capacity=scaling.min_capacity, max_capacity=scaling.max_capacity
    )
    if scaling.queue is not None and scaling.target_backlog_per_task is not None:
        _track_backlog_per_task(service, count, scaling.queue, scaling.target_backlog_per_task)
    elif scaling.queue is not None:
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


def _track_backlog_per_task(
    service: ecs.BaseService, count: ecs.ScalableTaskCount, queue: sqs.IQueue, target: int
) -> None:
    """AWS's example of target tracking with metric math: messages visible / running tasks.
    CDK's L2 target tracking takes a single metric only, so the policy is an L1 one."""
    (scalable_target,) = [
        child for child in count.node.find_all() if isinstance(child, appscaling.CfnScalableTarget)
    ]
    policy = appscaling.CfnScalingPolicy
    appscaling.CfnScalingPolicy(
        count,
        "BacklogPerTask",
        policy_name=f"{Names.unique_id(count)}BacklogPerTask",
        policy_type="TargetTrackingScaling",
        scaling_target_id=scalable_target.ref,
        target_tracking_scaling_policy_configuration=policy.TargetTrackingScalingPolicyConfigurationProperty(
            target_value=target,
            customized_metric_specification=policy.CustomizedMetricSpecificationProperty(
                metrics=[
                    _query(policy, "m1", "AWS/SQS", "ApproximateNumberOfMessagesVisible",
                           {"QueueName": queue.queue_name}, "Sum"),
                    _query(policy, "m2", "ECS/ContainerInsights", "RunningTaskCount",
                           {"ClusterName": service.cluster.cluster_name,
                            "ServiceName": service.service_name}, "Average"),
                    policy.TargetTrackingMetricDataQueryProperty(
                        id="e1", expression="m1 / m2", label="Backlog per task",
                        return_data=True,
                    ),
                ]
            ),
        ),
    )  # fmt: skip


def _query(
    policy: type[appscaling.CfnScalingPolicy],
    query_id: str,
    namespace: str,
    name: str,
    dimensions: dict[str, str],
    stat: str,
) -> appscaling.CfnScalingPolicy.TargetTrackingMetricDataQueryProperty:
    return policy.TargetTrackingMetricDataQueryProperty(
        id=query_id,
        return_data=False,
        metric_stat=policy.TargetTrackingMetricStatProperty(
            stat=stat,
            metric=policy.TargetTrackingMetricProperty(
                namespace=namespace,
                metric_name=name,
                dimensions=[
                    policy.TargetTrackingMetricDimensionProperty(name=key, value=value)
                    for key, value in dimensions.items()
                ],
            ),
        ),
    )
