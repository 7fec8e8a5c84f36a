"""Alarms on a supervisor host group's log group: FATAL states and back-off decisions."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Names
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from constructs import Construct

from ._alarm_actions import notify
from ._backoff_listener import LISTENER_NAME

NAMESPACE = "RestartPolicy/Supervisor"


def supervisor_alarms(
    scope: Construct, log_group: logs.LogGroup, actions: Sequence[cloudwatch.IAlarmAction]
) -> dict[str, cloudwatch.Alarm]:
    # Metric names carry the construct's unique id: two host groups must not share a metric.
    base = Names.unique_id(scope)
    patterns = {
        "fatal": (
            "FatalFilter",
            logs.FilterPattern.literal('"entered FATAL state"'),
            f"{base}-Fatal",
            "supervisor gave up on a process (FATAL). Without the back-off agent: it failed "
            "start_retries + 1 starts in a row and stays down. A program under the agent goes "
            f"FATAL at each failed start and the agent starts it again; {LISTENER_NAME} FATAL "
            "means no program under it is restarted until a person starts the agent.",
        ),
        "backoff": (
            "BackoffFilter",
            logs.FilterPattern.literal(
                f'{{ $.agent = "{LISTENER_NAME}" && '
                '($.decision = "backoff" || $.decision = "give-up") }'
            ),
            f"{base}-Backoff",
            "The back-off agent stopped a crash loop or gave up on a program: read its JSON "
            "decisions in the log group.",
        ),
    }
    alarms: dict[str, cloudwatch.Alarm] = {}
    for name, (filter_id, pattern, metric_name, description) in patterns.items():
        metric_filter = log_group.add_metric_filter(
            filter_id,
            filter_pattern=pattern,
            metric_namespace=NAMESPACE,
            metric_name=metric_name,
            metric_value="1",
        )
        alarm = metric_filter.metric(statistic="Sum", period=Duration.minutes(5)).create_alarm(
            scope,
            f"{filter_id.removesuffix('Filter')}Alarm",
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        notify(alarm, actions)
        alarms[name] = alarm
    return alarms
