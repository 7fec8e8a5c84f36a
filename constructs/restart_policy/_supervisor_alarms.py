"""Alarms on a supervisor host group's log group: FATAL states and back-off decisions."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Annotations, Duration, Names
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from constructs import Construct

from ._alarm_actions import notify
from ._backoff_listener import LISTENER_NAME

NAMESPACE = "RestartPolicy/Supervisor"


#: CloudWatch Logs takes filter patterns of at most 1,024 characters.
PATTERN_LIMIT = 1024
#: The agent's decisions that need a person: a loop backed off or given up on, and the agent
#: unable to do its job (its state unwritable, its settings unreadable, an event it failed on),
#: and its state found corrupt and replaced (its round counts and a person's holds are lost).
ALARMING_DECISIONS = (
    "backoff",
    "give-up",
    "state-write-failed",
    "state-unreadable",
    "settings-unreadable",
    "agent-error",
)


def fatal_pattern(unmanaged: Sequence[str]) -> tuple[str, bool]:
    """The ``fatal`` filter: supervisor's give-up line for the agent and for ``unmanaged``
    processes (programs outside the back-off), never for a program under the agent, which goes
    FATAL at each failed start by design (``startretries=0``). (pattern, exact): a list too long
    for one pattern falls back to every FATAL line."""
    names = [LISTENER_NAME, *unmanaged]
    phrases = [f'"gave up: {name} entered FATAL state"' for name in names]
    pattern = phrases[0] if len(phrases) == 1 else " ".join(f"?{p}" for p in phrases)
    if len(pattern) > PATTERN_LIMIT:
        return '"entered FATAL state"', False
    return pattern, True


def supervisor_alarms(
    scope: Construct,
    log_group: logs.LogGroup,
    actions: Sequence[cloudwatch.IAlarmAction],
    unmanaged: Sequence[str] = (),
) -> dict[str, cloudwatch.Alarm]:
    """``unmanaged``: supervisor's process names (``NAME-0``...) of programs without the agent."""
    # Metric names carry the construct's unique id: two host groups must not share a metric.
    base = Names.unique_id(scope)
    fatal, exact = fatal_pattern(unmanaged)
    if not exact:
        Annotations.of(scope).add_warning_v2(
            "restart-policy:fatal-alarm-broad",
            f"{len(unmanaged)} programs outside the back-off agent are too many to name in one "
            "log filter pattern: the fatal alarm counts every FATAL line, so each failed start of "
            "a program under the agent fires it too. Fix: turn the back-off on for them "
            "(RestartPolicy(backoff=True)), or put them in a SupervisorPrograms of their own.",
        )
    decisions = " || ".join(f'$.decision = "{d}"' for d in ALARMING_DECISIONS)
    patterns = {
        "fatal": (
            "FatalFilter",
            logs.FilterPattern.literal(fatal),
            f"{base}-Fatal",
            f"supervisor gave up on the back-off agent ({LISTENER_NAME}): no program under it "
            "is restarted until a person starts the agent; or on a program outside the agent, "
            "which failed start_retries + 1 starts in a row and stays down. (Programs under the "
            "agent go FATAL at each failed start by design and are not counted here.)",
        ),
        "backoff": (
            "BackoffFilter",
            logs.FilterPattern.literal(f'{{ $.agent = "{LISTENER_NAME}" && ({decisions}) }}'),
            f"{base}-Backoff",
            "The back-off agent backed off a crash loop or gave up on a program, or cannot keep "
            "its state or read its settings: read its JSON decisions in the log group.",
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
