"""The crash-loop alarm replayed: crash times from the real crash hold through CloudWatch's
M-of-N evaluation, with the alarm's own numbers as synthesized."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk.assertions import Match, Template

from restart_policy import PolicyError, RestartPolicy, WorkerService
from restart_policy._ecs_alarms import crash_alarm_shape, longest_crash_gap
from restart_policy._hold_core import decide, parse_settings
from restart_policy._worker_task import hold_settings

IMAGE = ecs.ContainerImage.from_registry("public.ecr.aws/docker/library/python:3.12-slim")
SEEDS = range(60)


def _alarm(**props: Any) -> dict[str, Any]:
    stack = Stack(App(), "Test")
    cluster = ecs.Cluster(stack, "Cluster", vpc=ec2.Vpc(stack, "Vpc", max_azs=2))
    WorkerService(stack, "Worker", cluster=cluster, image=IMAGE, **props)
    (alarm,) = Template.from_stack(stack).find_resources("AWS::CloudWatch::Alarm").values()
    properties: dict[str, Any] = alarm["Properties"]
    return properties


def _loop(policy: RestartPolicy, seed: int, crashes: int) -> list[float]:
    """One task crashing before the start window every life, held by the real decision core
    (restart count from ECS's metadata), with a start-up line and restart time of its own."""
    settings = parse_settings(_json(hold_settings(policy)))
    assert settings is not None
    rnd = random.Random(seed)
    t = 0.0
    times: list[float] = []
    for restart_count in range(crashes):
        uptime = rnd.uniform(1.0, policy.start_window_seconds - 1.0)
        times.append(t + uptime)
        decision = decide(
            settings,
            uptime=uptime,
            restart_count=restart_count,
            state=None,
            state_known=False,
            uniform=rnd.random(),
        )
        assert decision is not None
        t += max(decision.target, uptime) + rnd.uniform(0.0, 20.0)
    return times


def _json(settings: dict[str, float] | None) -> str:
    import json

    return json.dumps(settings)


def _states(alarm: dict[str, Any], crashes: list[float], until: float) -> list[tuple[float, str]]:
    """CloudWatch's evaluation of a Sum alarm, missing data not breaching: at the end of each
    period, ALARM when at least DatapointsToAlarm of the last EvaluationPeriods periods breach."""
    assert alarm["Statistic"] == "Sum"
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    period = int(alarm["Period"])
    n = int(alarm["EvaluationPeriods"])
    m = int(alarm.get("DatapointsToAlarm", n))
    sums: dict[int, int] = {}
    for crash in crashes:
        sums[int(crash // period)] = sums.get(int(crash // period), 0) + 1
    states: list[tuple[float, str]] = []
    for end in range(1, math.ceil(until / period) + 1):
        breaching = sum(
            1 for bucket in range(end - n, end) if sums.get(bucket, 0) >= alarm["Threshold"]
        )
        states.append((end * period, "ALARM" if breaching >= m else "OK"))
    return states


@pytest.mark.parametrize(
    "props",
    [
        {},
        {"restart_policy": RestartPolicy(start_retries=3)},
        {"restart_policy": RestartPolicy(backoff_max=Duration.minutes(10))},
        {"restart_policy": RestartPolicy(start_window=Duration.seconds(60))},
    ],
    ids=["defaults", "3-retries", "10-min-backoff", "60-s-window"],
)
def test_a_crash_loop_alarms_in_its_ramp_and_stays_in_alarm_while_it_lasts(
    props: dict[str, Any],
) -> None:
    alarm = _alarm(**props)
    policy = props.get("restart_policy", RestartPolicy())
    retries = policy.start_retries
    for seed in SEEDS:
        crashes = _loop(policy, seed, crashes=40)
        states = _states(alarm, crashes, until=crashes[-1])
        first = next(t for t, state in states if state == "ALARM")
        # in the ramp: two crashes of the ramp may share a minute, so the start_retries-th
        # minute with a crash comes within the first 2 x start_retries crashes
        assert first <= crashes[2 * retries - 1] + 60, (seed, first, crashes[: 2 * retries])
        back_to_ok = [t for t, state in states if t > first and state == "OK"]
        assert back_to_ok == [], (seed, back_to_ok[:3])


def test_the_alarm_returns_to_ok_once_the_loop_ends() -> None:
    alarm = _alarm()
    crashes = _loop(RestartPolicy(), 1, crashes=10)
    states = _states(alarm, crashes, until=crashes[-1] + 60 * alarm["EvaluationPeriods"] + 60)
    assert states[-1][1] == "OK"


def test_a_fleet_crashing_once_in_one_minute_does_not_alarm() -> None:
    alarm = _alarm()
    crashes = [600.0 + task for task in range(10)]
    states = _states(alarm, crashes, until=3600)
    assert {state for _, state in states} == {"OK"}


def test_the_alarm_is_m_of_n_one_minute_periods() -> None:
    template = Template.from_json(
        {"Resources": {"Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": _alarm()}}}
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        Match.object_like(
            {
                "Statistic": "Sum",
                "Period": 60,
                "Threshold": 1,
                "DatapointsToAlarm": 5,
                "EvaluationPeriods": 50,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
            }
        ),
    )


def test_shape_covers_the_slowest_loop() -> None:
    gap = longest_crash_gap(start_window=120, backoff_max=300, jitter=0.2)
    # the hold's longest life (300 s + 20 %) + a life up to the start window + the restart
    assert gap == 360 + 120 + 60
    shape = crash_alarm_shape(threshold=5, longest_gap_seconds=gap)
    assert (shape.datapoints, shape.periods) == (5, 50)


def test_a_window_too_short_for_the_loop_is_refused() -> None:
    with pytest.raises(
        PolicyError,
        match=r"crash_alarm_window='900 seconds'.*shorter than 5 crashes.*Duration\.minutes\(50\)",
    ):
        _alarm(crash_alarm_window=Duration.minutes(15))


def test_a_long_enough_window_is_the_evaluation_range() -> None:
    alarm = _alarm(crash_alarm_window=Duration.hours(1))
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (60, 60, 5)


def test_a_loop_too_slow_for_one_day_of_evaluation_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"crash_alarm_threshold=200: .*above CloudWatch's one"):
        _alarm(crash_alarm_threshold=200)
