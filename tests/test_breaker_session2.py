"""Breaker, session 2 (issue 14): defects found by trying the back-off agent's state and person
files as an operator would; each test failed before its fix.

Pure decision core with a fake clock; settings of the types the library renders (floats).
"""

from __future__ import annotations

import json
import random

import pytest

from restart_policy.backoff_agent import Observation, Reconciler, Record, Settings

# as backoff.json carries them: seconds are floats (10.0, 300.0), which is what overflows
CORE = Settings(initial=4.0, maximum=8.0, healthy_reset=60.0, start_retries=0, start_window=2.0)
NAME = "web:web-0"
NOW = 1_000_000.5
FAILED = Observation(NAME, "FATAL", start=1_000_000, stop=1_000_000, now=1_000_000)


def test_a_back_off_past_round_1024_still_cools_down() -> None:
    probing = Record(rounds=1024, phase="probing", probe=True, probe_at=NOW - 1)
    core = Reconciler({"web": CORE}, {NAME: probing}, rng=random.Random(1))
    actions = core.observe(FAILED, NOW)
    assert [a.decision for a in actions] == ["backoff"]
    assert actions[0].extra["cooldown"] <= CORE.maximum


def test_a_cooling_record_with_a_nan_due_time_is_not_left_alone() -> None:
    text = (
        '{"version": 3, "processes": {"web:web-0": '
        '{"phase": "cooling", "due": NaN, "rounds": 2, "probe": true, "run_start": 999000}}}'
    )
    try:
        records = Reconciler.records_from_json(json.loads(text))
    except ValueError:
        return  # replaced with state-unreadable: the process starts afresh
    core = Reconciler({"web": CORE}, records, rng=random.Random(1))
    core.observe(Observation(NAME, "FATAL", start=999000, stop=999000, now=999000), NOW)
    kinds = [a.kind for t in range(60) for a in core.tick(NOW + t)]
    assert "start" in kinds


def test_an_infinite_stop_stamp_in_the_persons_file_does_not_raise() -> None:
    core = Reconciler({"web": CORE}, rng=random.Random(5))
    core.observe(FAILED, NOW)
    core.person(set(), {"web": float("inf")}, NOW + 1)


def test_a_future_stop_stamp_does_not_swallow_later_stops() -> None:
    core = Reconciler({"web": CORE}, rng=random.Random(5))
    core.observe(FAILED, NOW)
    core.person(set(), {"web": NOW * 1000}, NOW + 1)  # `date +%s%3N` written by hand
    core.observe(Observation(NAME, "RUNNING", pid=7, start=1_000_003, now=1_000_004), NOW + 4)
    crashed = Observation(
        NAME, "EXITED", pid=7, start=1_000_003, stop=1_000_005, exitstatus=1, now=1_000_005
    )
    assert [a.decision for a in core.observe(crashed, NOW + 5)] == ["backoff"]
    stop = [a.decision for a in core.person(set(), {"web": NOW + 6}, NOW + 6)]
    assert stop == ["manual-stop"]
    assert not [a for a in core.tick(NOW + 30) if a.kind == "start"]


def test_negative_rounds_in_a_state_file_are_rejected() -> None:
    text = '{"version": 3, "processes": {"web:web-0": {"rounds": -7}}}'
    with pytest.raises(ValueError, match="rounds"):
        Reconciler.records_from_json(json.loads(text))
