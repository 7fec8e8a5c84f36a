"""Crash-loop alarms of a WorkerService, from the daemon's own crash lines.

Every crash, in place or not, writes one JSON line with ``"event": "crash"`` (the runtime and
the hold wrapper do). A CloudWatch Logs metric filter on the service's log group turns those
lines into a metric, and one alarm watches it: two plain resources per service, no EventBridge
rule, no Lambda, nothing shared that could reach a per-account limit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Duration, Names, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from constructs import Construct

from ._alarm_actions import notify
from ._worker_stack import stack_facts

NAMESPACE = "RestartPolicy/Crashes"
CRASH_FILTER_PATTERN = '{ $.event = "crash" }'
HOLD_QUERY = (
    'fields @timestamp | filter event = "hold" '
    "| stats count(*) as restarts_in_place, max(seconds) as longest_hold_s by bin(5m)"
)


def crash_metric_name(worker: Construct) -> str:
    """The worker's crash metric: its stack's name and its path in the stack, so that two
    deployments of one app under different stack names keep apart."""
    facts = stack_facts(worker)
    inner = worker.node.path[len(facts.path) :].strip("/")
    name = f"{facts.name}/{inner}" if inner else facts.name
    # A metric filter's metric name may not hold ":", "*" or "$" (CloudWatch Logs API).
    return re.sub(r"[:*$]", "-", name)[:255]


def crash_alarm(
    scope: Construct,
    *,
    log_group: logs.ILogGroup,
    metric_name: str,
    threshold: int,
    window_seconds: int,
) -> tuple[cloudwatch.Metric, cloudwatch.Alarm]:
    """The metric filter and the crash-loop alarm: ``threshold`` crashes within the window."""
    logs.MetricFilter(
        scope,
        "CrashFilter",
        log_group=log_group,
        filter_pattern=logs.FilterPattern.literal(CRASH_FILTER_PATTERN),
        metric_namespace=NAMESPACE,
        metric_name=metric_name,
        metric_value="1",
    )
    metric = cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=metric_name,
        statistic="Sum",
        period=Duration.seconds(window_seconds),
    )
    alarm = metric.create_alarm(
        scope,
        "CrashLoopAlarm",
        threshold=threshold,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=(
            f"At least {threshold} crashes (JSON lines with event=crash in the service's log "
            f"group) within {window_seconds // 60} minutes: a crash loop, in place or not. It is "
            "also the service's deployment alarm: a release that crashes like this rolls back."
        ),
    )
    return metric, alarm


def unhealthy_alarm(
    scope: Construct,
    *,
    children: Sequence[cloudwatch.IAlarm],
    actions: Sequence[cloudwatch.IAlarmAction],
) -> cloudwatch.CompositeAlarm:
    """One alarm per service that notifies once per incident, whichever child fired first."""
    rules = [
        cloudwatch.AlarmRule.from_alarm(child, cloudwatch.AlarmState.ALARM) for child in children
    ]
    rule = rules[0] if len(rules) == 1 else cloudwatch.AlarmRule.any_of(*rules)
    alarm = cloudwatch.CompositeAlarm(
        scope,
        "UnhealthyAlarm",
        alarm_rule=rule,
        alarm_description=(
            "The worker service is unhealthy: its crash-loop alarm or one of its deployment "
            "alarms is in ALARM. Read the service's log group for the crash's JSON line."
        ),
    )
    notify(alarm, actions)
    return alarm


def add_to_dashboard(
    worker: Construct,
    *,
    cluster: ecs.ICluster,
    service: ecs.BaseService,
    crash_metric: cloudwatch.Metric,
    log_group: logs.ILogGroup,
    title: str,
) -> cloudwatch.Dashboard:
    """One row per worker on the cluster's dashboard (one dashboard per cluster and stack)."""
    stack = Stack.of(worker)
    dashboard_id = f"RestartPolicyDashboard{Names.unique_id(cluster)}"
    found = stack.node.try_find_child(dashboard_id)
    dashboard = found if isinstance(found, cloudwatch.Dashboard) else cloudwatch.Dashboard(
        stack, dashboard_id
    )  # fmt: skip
    dimensions = {"ClusterName": cluster.cluster_name, "ServiceName": service.service_name}
    tasks = [
        cloudwatch.Metric(
            namespace="ECS/ContainerInsights",
            metric_name=name,
            dimensions_map=dimensions,
            statistic="Average",
            period=Duration.minutes(1),
        )
        for name in ("RunningTaskCount", "DesiredTaskCount")
    ]
    dashboard.add_widgets(
        cloudwatch.TextWidget(markdown=f"### {title}", width=24, height=1),
        cloudwatch.GraphWidget(
            title="Crashes",
            left=[crash_metric.with_(period=Duration.minutes(1), label="crashes")],
            width=8,
        ),
        cloudwatch.GraphWidget(title="Tasks (Container Insights)", left=tasks, width=8),
        cloudwatch.LogQueryWidget(
            title="Restarts in place and back-off (crash hold)",
            log_group_names=[log_group.log_group_name],
            query_string=HOLD_QUERY,
            width=8,
        ),
    )
    return dashboard
