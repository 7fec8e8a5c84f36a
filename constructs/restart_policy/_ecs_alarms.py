"""Crash-loop alarms of a WorkerService, from the daemon's own crash lines.

Every crash, in place or not, writes one JSON line with ``"event": "crash"`` (the runtime and
the hold wrapper do). A CloudWatch Logs metric filter on the service's log group turns those
lines into a metric, and one alarm watches it: two plain resources per service, no EventBridge
rule, no Lambda, nothing shared that could reach a per-account limit.

The alarm counts minutes with a crash, not crashes: a 1-minute period breaches when at least one
crash line arrived in it, and the alarm fires when ``start_retries`` of the last N minutes breach
(CloudWatch's "M out of N"). N is long enough that a task looping at the back-off maximum keeps
M breaching minutes in every window, so the alarm stays in ALARM while the loop lasts; ten tasks
crashing in the same minute make one breaching minute, not a crash loop.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration, Names, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from constructs import Construct

from ._alarm_actions import notify
from ._hold_core import window_floor
from ._worker_stack import stack_facts

NAMESPACE = "RestartPolicy/Crashes"
CRASH_FILTER_PATTERN = '{ $.event = "crash" }'
HOLD_QUERY = (
    'fields @timestamp | filter event = "hold" '
    "| stats count(*) as restarts_in_place, max(seconds) as longest_hold_s by bin(5m)"
)


ALARM_PERIOD_SECONDS = 60
# PutMetricAlarm: EvaluationPeriods x Period may not exceed one day.
EVALUATION_RANGE_MAX_SECONDS = 86400
# Between the hold's exit and the next life's first line: the agent's in-place restart and the
# image's start. ECS documents no figure; a minute is far above what the ECS harness measures.
RESTART_SLACK_SECONDS = 60.0


@dataclass(frozen=True)
class CrashAlarmShape:
    """An M-of-N alarm on 1-minute periods: ``datapoints`` of the last ``periods`` minutes."""

    datapoints: int
    periods: int
    longest_gap_seconds: float

    @property
    def range_seconds(self) -> int:
        return self.periods * ALARM_PERIOD_SECONDS


def longest_crash_gap(*, start_window: float, backoff_max: float, jitter: float) -> float:
    """The longest time between two crashes of one task in a crash loop at the back-off maximum.

    The crash hold makes each failed life last its jittered target (``_hold_core.hold_target``
    on ``max(start_window, backoff_max)``); the next life may then run up to the start window
    before it crashes (a longer one counts as started), plus the restart itself."""
    base = max(start_window, backoff_max)
    longest_target = max(window_floor(start_window), base * (1.0 - jitter)) + 2.0 * jitter * base
    return longest_target + start_window + RESTART_SLACK_SECONDS


def crash_alarm_shape(*, threshold: int, longest_gap_seconds: float) -> CrashAlarmShape:
    """The least N for which any N whole minutes of a loop whose crashes are at most
    ``longest_gap_seconds`` apart hold ``threshold`` minutes with a crash.

    Two crashes may share a minute (a short hold after a long life), so count minutes: after
    the last crash of minute b the next comes before 60 x (b + 1) + gap, so in minute
    b + floor(gap / 60) + 1 at the latest. Any D = floor(gap / 60) + 1 minutes in a row therefore
    hold a crash, and N = threshold x D minutes hold ``threshold`` of them."""
    spacing = math.floor(longest_gap_seconds / ALARM_PERIOD_SECONDS) + 1
    return CrashAlarmShape(
        datapoints=threshold, periods=threshold * spacing, longest_gap_seconds=longest_gap_seconds
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
    shape: CrashAlarmShape,
) -> tuple[cloudwatch.Metric, cloudwatch.Alarm]:
    """The metric filter and the crash-loop alarm: ``shape.datapoints`` minutes with a crash
    among the last ``shape.periods`` minutes."""
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
        period=Duration.seconds(ALARM_PERIOD_SECONDS),
    )
    alarm = metric.create_alarm(
        scope,
        "CrashLoopAlarm",
        threshold=1,
        datapoints_to_alarm=shape.datapoints,
        evaluation_periods=shape.periods,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=(
            f"Crashes (JSON lines with event=crash in the service's log group) in at least "
            f"{shape.datapoints} of the last {shape.periods} minutes: a crash loop, in place or "
            "not, which keeps this alarm in ALARM while it lasts. It is also the service's "
            "deployment alarm: a release that crashes like this rolls back."
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
