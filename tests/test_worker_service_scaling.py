"""WorkerService scaling: no DesiredCount once scaling is set; queue, CPU, memory, schedules."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template

from restart_policy import PolicyError, WorkerService
from restart_policy.worker_scaling import WorkerScaling

IMAGE = ecs.ContainerImage.from_registry("public.ecr.aws/docker/library/python:3.12-slim")


def _stack() -> tuple[Stack, ecs.Cluster, sqs.Queue]:
    stack = Stack(App(), "Test")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
    queue = sqs.Queue(stack, "Jobs", enforce_ssl=True)
    return stack, ecs.Cluster(stack, "Cluster", vpc=vpc), queue


def _build(scaling: Any = None, **props: Any) -> tuple[WorkerService, Template]:
    stack, cluster, queue = _stack()
    if callable(scaling):
        scaling = scaling(queue)
    worker = WorkerService(stack, "Worker", cluster=cluster, image=IMAGE, scaling=scaling, **props)
    return worker, Template.from_stack(stack)


@pytest.fixture(scope="module")
def queue_scaled() -> tuple[WorkerService, Template]:
    return _build(lambda queue: WorkerScaling.queue_depth(queue, max_capacity=10))


def test_scaling_omits_desired_count(queue_scaled: Any) -> None:
    (service,) = queue_scaled[1].find_resources("AWS::ECS::Service").values()
    assert "DesiredCount" not in service["Properties"]


def test_scalable_target_has_min_and_max(queue_scaled: Any) -> None:
    queue_scaled[1].has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"MinCapacity": 1, "MaxCapacity": 10, "ScalableDimension": "ecs:service:DesiredCount"},
    )
    assert queue_scaled[0].scalable_task_count is not None


def test_queue_depth_steps_are_queue_processing_services(queue_scaled: Any) -> None:
    template = queue_scaled[1]
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Namespace": "AWS/SQS",
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Threshold": 100,
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "ComparisonOperator": "LessThanOrEqualToThreshold",
            "Threshold": 0,
        },
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": Match.object_like(
                {
                    "AdjustmentType": "ChangeInCapacity",
                    "StepAdjustments": [
                        {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 400,
                         "ScalingAdjustment": 1},
                        {"MetricIntervalLowerBound": 400, "ScalingAdjustment": 5},
                    ],
                }
            ),
        },
    )  # fmt: skip


def test_scale_out_backlog_and_cpu_on_the_queue() -> None:
    _, template = _build(
        lambda queue: WorkerScaling.queue_depth(
            queue, max_capacity=4, min_capacity=1, scale_out_backlog=20, cpu_target_percent=60
        )
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 1, "MaxCapacity": 4}
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "ApproximateNumberOfMessagesVisible", "Threshold": 20},
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                    },
                    "TargetValue": 60,
                }
            )
        },
    )


def test_memory_target_tracking() -> None:
    _, template = _build(WorkerScaling.memory(70, max_capacity=3))
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ECSServiceAverageMemoryUtilization"
                    },
                    "TargetValue": 70,
                }
            )
        },
    )


def test_cpu_target_tracking_helper() -> None:
    _, template = _build(WorkerScaling.cpu(50, max_capacity=3))
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalingPolicy", 1)


def test_schedules() -> None:
    _, template = _build(
        WorkerScaling.on_schedule(
            appscaling.ScalingSchedule(
                schedule=appscaling.Schedule.cron(hour="20", minute="0"),
                min_capacity=0,
                max_capacity=0,
            ),
            appscaling.ScalingSchedule(
                schedule=appscaling.Schedule.cron(hour="6", minute="0"),
                min_capacity=1,
                max_capacity=5,
                time_zone=None,
            ),
            max_capacity=5,
            min_capacity=0,
        )
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ScheduledActions": [
                Match.object_like(
                    {
                        "Schedule": "cron(0 20 * * ? *)",
                        "ScalableTargetAction": {"MinCapacity": 0, "MaxCapacity": 0},
                    }
                ),
                Match.object_like({"Schedule": "cron(0 6 * * ? *)"}),
            ]
        },
    )


def test_without_scaling_one_task() -> None:
    _, template = _build()
    template.has_resource_properties("AWS::ECS::Service", {"DesiredCount": 1})
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)


def test_repr_names_the_triggers() -> None:
    text = repr(WorkerScaling.cpu(50, max_capacity=3))
    assert text == "WorkerScaling(min_capacity=1, max_capacity=3, cpu_target_percent=50)"


# --- bad input -------------------------------------------------------------------------------


def test_desired_count_together_with_scaling() -> None:
    with pytest.raises(
        PolicyError,
        match=r"desired_count=3: is given together with scaling: every deploy would reset.*"
        r"Fix: leave desired_count unset",
    ):
        _build(WorkerScaling.cpu(50, max_capacity=3), desired_count=3)


def test_scaling_of_the_wrong_type() -> None:
    with pytest.raises(PolicyError, match=r"scaling=\{'max': 3\}: is not a WorkerScaling"):
        _build({"max": 3})


def _scaling_refused(match: str, **props: Any) -> None:
    # WorkerScaling's problems are reported by the service that uses it, under its path
    with pytest.raises(PolicyError, match=r"(?s)^WorkerService Test/Worker: .*scaling\." + match):
        _build(WorkerScaling(**props))


def test_min_above_max() -> None:
    _scaling_refused(
        r"min_capacity=5: is above max_capacity \(2\)", min_capacity=5, max_capacity=2,
        cpu_target_percent=50,
    )  # fmt: skip


def test_max_below_one() -> None:
    _scaling_refused(r"max_capacity=0: is below 1", max_capacity=0, cpu_target_percent=50)


def test_negative_min() -> None:
    _scaling_refused(
        r"min_capacity=-1: is below 0", min_capacity=-1, max_capacity=2, cpu_target_percent=50
    )


def test_non_integer_max() -> None:
    _scaling_refused(
        r"max_capacity=2.5: is not a whole number", max_capacity=2.5, cpu_target_percent=50
    )


@pytest.mark.parametrize("percent", [0, 101, True])
def test_percent_out_of_range(percent: object) -> None:
    _scaling_refused(
        r"cpu_target_percent=.*is not a percentage from 1 to 100",
        max_capacity=2,
        cpu_target_percent=percent,
    )


def test_no_trigger_at_all() -> None:
    _scaling_refused(
        r".*are all unset, so nothing would ever change the task count", max_capacity=2
    )


def test_queue_that_is_not_a_queue() -> None:
    _scaling_refused(r"queue='jobs': is not an SQS queue", max_capacity=2, queue="jobs")


def test_scale_out_backlog_below_one() -> None:
    with pytest.raises(PolicyError, match=r"scale_out_backlog=0: is below 1"):
        _build(lambda queue: WorkerScaling.queue_depth(queue, max_capacity=2, scale_out_backlog=0))


def test_schedules_of_the_wrong_type() -> None:
    _scaling_refused(r"schedules=.*not ScalingSchedule", max_capacity=2, schedules=["0 6 * * *"])


def test_cooldown_that_is_not_a_duration() -> None:
    _scaling_refused(
        r"cooldown='1m': is a str, not a duration",
        max_capacity=2,
        cpu_target_percent=50,
        cooldown="1m",
    )


def test_cooldown_duration_is_accepted() -> None:
    scaling = WorkerScaling(max_capacity=2, cpu_target_percent=50, cooldown=Duration.minutes(2))
    assert scaling.cooldown is not None


# --- backlog per task (target tracking with metric math) --------------------------------------


def _insights_stack() -> tuple[Stack, ecs.Cluster, sqs.Queue]:
    stack = Stack(App(), "Test")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
    cluster = ecs.Cluster(
        stack, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED
    )
    return stack, cluster, sqs.Queue(stack, "Jobs", enforce_ssl=True)


def test_backlog_per_task_is_metric_math_target_tracking() -> None:
    stack, cluster, queue = _insights_stack()
    WorkerService(
        stack,
        "Worker",
        cluster=cluster,
        image=IMAGE,
        scaling=WorkerScaling.queue_backlog_per_task(queue, 20, max_capacity=5),
    )
    (policy,) = (
        Template.from_stack(stack)
        .find_resources("AWS::ApplicationAutoScaling::ScalingPolicy")
        .values()
    )
    config = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == 20
    m1, m2, e1 = config["CustomizedMetricSpecification"]["Metrics"]
    assert m1["MetricStat"]["Metric"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert m2["MetricStat"]["Metric"]["Namespace"] == "ECS/ContainerInsights"
    assert m2["MetricStat"]["Metric"]["MetricName"] == "RunningTaskCount"
    assert e1 == {"Id": "e1", "Expression": "m1 / m2", "Label": "Backlog per task",
                  "ReturnData": True}  # fmt: skip
    assert policy["Properties"]["ScalingTargetId"]["Ref"].startswith("WorkerServiceTaskCount")


def test_backlog_per_task_needs_container_insights() -> None:
    stack, cluster, queue = _stack()
    with pytest.raises(
        PolicyError,
        match=r"scaling.target_backlog_per_task=20: divides by ECS/ContainerInsights "
        r"RunningTaskCount.*Fix: create the cluster with container_insights_v2",
    ):
        WorkerService(
            stack,
            "Worker",
            cluster=cluster,
            image=IMAGE,
            scaling=WorkerScaling.queue_backlog_per_task(queue, 20, max_capacity=5),
        )


def test_backlog_per_task_needs_a_running_task_to_divide_by() -> None:
    with pytest.raises(PolicyError, match=r"min_capacity=0: is 0, and backlog per task divides"):
        _build(
            lambda queue: WorkerScaling.queue_backlog_per_task(
                queue, 20, max_capacity=5, min_capacity=0
            )
        )


def test_backlog_per_task_and_steps_together() -> None:
    with pytest.raises(PolicyError, match=r"pick steps or target tracking for the queue"):
        _build(
            lambda queue: WorkerScaling(
                queue=queue, max_capacity=3, scale_out_backlog=10, target_backlog_per_task=5
            )
        )


def test_backlog_per_task_without_a_queue() -> None:
    _scaling_refused(
        r"target_backlog_per_task=5: needs a queue", max_capacity=3, target_backlog_per_task=5
    )


def test_backlog_per_task_below_one() -> None:
    with pytest.raises(PolicyError, match=r"target_backlog_per_task=0: is below 1"):
        _build(lambda queue: WorkerScaling.queue_backlog_per_task(queue, 0, max_capacity=5))


def _at(
    hour: str, *, min_capacity: int | None = None, max_capacity: int | None = None
) -> appscaling.ScalingSchedule:
    return appscaling.ScalingSchedule(
        schedule=appscaling.Schedule.cron(hour=hour, minute="0"),
        min_capacity=min_capacity,
        max_capacity=max_capacity,
    )


def test_schedule_min_above_its_max() -> None:
    _scaling_refused(
        r"schedules\[0\]\.min_capacity=4: is above the schedule's max_capacity \(2\)",
        schedules=[_at("8", min_capacity=4, max_capacity=2)],
        max_capacity=5,
    )


def test_schedule_outside_the_declared_range() -> None:
    _scaling_refused(
        r"schedules\[0\]\.max_capacity=9: is outside the scaling's min_capacity\.\.max_capacity "
        r"\(1\.\.5\)",
        schedules=[_at("8", max_capacity=9)],
        max_capacity=5,
    )


def test_schedule_that_changes_nothing() -> None:
    _scaling_refused(r"schedules\[0\]=.*changes nothing", schedules=[_at("8")], max_capacity=5)


def test_queue_steps_from_zero_tasks_need_a_one_message_step() -> None:
    with pytest.raises(
        PolicyError,
        match=r"scaling\.min_capacity=0: is 0 with the queue steps.*scale_out_backlog=100 "
        r"visible messages.*Fix: give min_capacity=1, or scale_out_backlog=1",
    ):
        _build(lambda queue: WorkerScaling.queue_depth(queue, max_capacity=4, min_capacity=0))


def test_queue_steps_from_zero_with_a_one_message_step() -> None:
    _, template = _build(
        lambda queue: WorkerScaling.queue_depth(
            queue, max_capacity=4, min_capacity=0, scale_out_backlog=1
        )
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 0, "MaxCapacity": 4}
    )


def test_scaling_problems_join_the_service_problems_under_its_path() -> None:
    with pytest.raises(PolicyError) as caught:
        _build(WorkerScaling.cpu(50, max_capacity=2, min_capacity=5), cpu=300, memory_limit_mib=100)
    text = str(caught.value)
    assert text.startswith("WorkerService Test/Worker: 2 problems:")
    assert "  - cpu=300: is not a Fargate task size" in text
    assert "  - scaling.min_capacity=5: is above max_capacity (2)" in text
