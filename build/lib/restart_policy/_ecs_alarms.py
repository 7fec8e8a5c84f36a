"""Crash-loop alarms of an ECS service, from EventBridge rules and their per-rule metrics.

EventBridge has no metric per event pattern, but it counts every rule's matches
(``AWS/Events`` ``TriggeredRules``, dimension ``RuleName``). One rule per pattern therefore
gives a metric per pattern, and a CloudWatch alarm on it: three plain CloudFormation resources
kinds (rule, alarm), no Lambda, no custom resource, no log-group resource policy (CloudWatch
Logs allows only 10 per region), deployed and deleted with the stack.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from constructs import Construct

from ._alarm_actions import notify


class CrashLoopAlarms(Construct):
    """The three alarms of a ``WorkerService``; see ``WorkerService`` for what each means."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        service: ecs.BaseService,
        cluster: ecs.ICluster,
        crash_threshold: int,
        crash_window_seconds: int,
        actions: Sequence[cloudwatch.IAlarmAction],
    ) -> None:
        super().__init__(scope, construct_id)
        task_stopped = events.Rule(
            self,
            "TaskCrashedRule",
            description="A task of the service stopped because an essential container exited "
            "with a non-zero code (crash loop detection, cdk-restart-policy).",
            event_pattern=events.EventPattern(
                source=["aws.ecs"],
                detail_type=["ECS Task State Change"],
                detail={
                    "clusterArn": [cluster.cluster_arn],
                    "group": [f"service:{service.service_name}"],
                    "lastStatus": ["STOPPED"],
                    "stopCode": ["EssentialContainerExited"],
                    "containers": {"exitCode": [{"anything-but": 0}]},
                },
            ),
        )
        deployment_failed = events.Rule(
            self,
            "DeploymentFailedRule",
            description="A deployment of the service failed (circuit breaker), cdk-restart-policy.",
            event_pattern=events.EventPattern(
                source=["aws.ecs"],
                detail_type=["ECS Deployment State Change"],
                resources=[service.service_arn],
                detail={"eventName": ["SERVICE_DEPLOYMENT_FAILED"]},
            ),
        )
        start_impaired = events.Rule(
            self,
            "TaskStartImpairedRule",
            description="ECS cannot start tasks of the service (throttled), cdk-restart-policy.",
            event_pattern=events.EventPattern(
                source=["aws.ecs"],
                detail_type=["ECS Service Action"],
                resources=[service.service_arn],
                detail={"eventName": ["SERVICE_TASK_START_IMPAIRED"]},
            ),
        )
        self.crash_loop = self._alarm(
            "CrashLoopAlarm",
            task_stopped,
            window=crash_window_seconds,
            threshold=crash_threshold,
            description=(
                f"At least {crash_threshold} tasks crashed (essential container exited non-zero) "
                f"within {crash_window_seconds // 60} minutes: a crash loop. Read the service's "
                "log group for the crash's JSON line."
            ),
            actions=actions,
        )
        self.deployment_failed = self._alarm(
            "DeploymentFailedAlarm",
            deployment_failed,
            window=300,
            threshold=1,
            description="A deployment failed and the circuit breaker rolled it back.",
            actions=actions,
        )
        self.start_impaired = self._alarm(
            "TaskStartImpairedAlarm",
            start_impaired,
            window=300,
            threshold=1,
            description="ECS is throttling task starts of the service (tasks keep failing to "
            "start).",
            actions=actions,
        )

    def _alarm(
        self,
        construct_id: str,
        rule: events.Rule,
        *,
        window: int,
        threshold: int,
        description: str,
        actions: Sequence[cloudwatch.IAlarmAction],
    ) -> cloudwatch.Alarm:
        metric = cloudwatch.Metric(
            namespace="AWS/Events",
            metric_name="TriggeredRules",
            dimensions_map={"RuleName": rule.rule_name},
            statistic="Sum",
            period=Duration.seconds(window),
            region=Stack.of(self).region,
        )
        alarm = metric.create_alarm(
            self,
            construct_id,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        notify(alarm, actions)
        return alarm
