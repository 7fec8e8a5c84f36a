"""The back-off agent's pure decision core (``Reconciler``) and its files, with a fake clock."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from restart_policy.backoff_agent import (
    ALREADY_STARTED,
    BAD_NAME,
    Action,
    Observation,
    PersonFile,
    Reconciler,
    Record,
    Settings,
    StateFile,
    _resolve,
    load_settings,
)

S = Settings(initial=10, maximum=300, healthy_reset=600, start_retries=5, start_window=120)
NAME = "web:web-0"
NO_FILE = 20


def obs(state: str, start: float, stop: float = 0, pid: int = 0, now: float = 0) -> Observation:
    return Observation(NAME, state, pid=pid, start=start, stop=stop, now=now or start)


def decisions(actions: list[Action]) -> list[str]:
    return [a.decision if a.kind == "log" else a.kind for a in actions]


def start_and_fail(core: Reconciler, now: float, pid: int) -> list[Action]:
    """Carry out the start due at ``now``; the run dies inside the start window (FATAL)."""
    actions = core.tick(now)
    assert "start" in decisions(actions), decisions(actions)
    start = float(int(now))
    core.started(obs("STARTING", start, pid=pid, now=now), now)
    return core.observe(obs("FATAL", start, stop=start, now=now + 0.5), now + 0.5)


def fatal_core(seed: int = 1) -> Reconciler:
    """A core that saw NAME fail its autostart and start_retries retries (round 1, cooling)."""
    core = Reconciler({"web": S}, rng=random.Random(seed))
    actions = core.observe(obs("FATAL", 95, stop=95, now=100), 100)
    for attempt in range(1, S.start_retries + 1):
        assert decisions(actions) == ["retry"]
        assert actions[0].extra["attempt"] == attempt
        due = core.records[NAME].due
        assert due is not None
        actions = start_and_fail(core, due, 100 + attempt)
    assert decisions(actions) == ["backoff"]
    return core


def test_a_failed_start_is_retried_after_one_two_three_seconds_then_backed_off() -> None:
    core = Reconciler({"web": S}, rng=random.Random(1))
    actions = core.observe(obs("FATAL", 95, stop=95, now=100), 100)
    delays, failed_at = [], 100.0
    for attempt in range(1, S.start_retries + 1):
        assert decisions(actions) == ["retry"]
        due = core.records[NAME].due
        assert due is not None
        delays.append(round(due - failed_at, 3))
        failed_at = due + 0.5
        actions = start_and_fail(core, due, 100 + attempt)
    # supervisor's own startretries delays, jittered by 20 %
    for attempt, delay in enumerate(delays, start=1):
        assert 0.8 * attempt - 1e-9 <= delay <= 1.2 * attempt + 1e-9
    assert decisions(actions) == ["backoff"]
    assert actions[0].extra["reason"] == "start-failed"


def test_the_first_backoff_is_a_jittered_cooldown() -> None:
    cooldowns = set()
    for seed in range(20):
        core = Reconciler(
            {"web": Settings(**{**vars(S), "start_retries": 0})}, rng=random.Random(seed)
        )
        actions = core.observe(obs("FATAL", 95, stop=95, now=100), 100)
        assert decisions(actions) == ["backoff"]
        r = core.records[NAME]
        assert (r.phase, r.rounds, r.probe) == ("cooling", 1, True)
        assert r.due == 100 + actions[0].extra["cooldown"]
        assert actions[0].extra["base"] == S.initial
        cooldowns.add(actions[0].extra["cooldown"])
    # initial (10 s) +-20 %: spread over the whole width, never outside it
    assert len(cooldowns) > 10 and max(cooldowns) - min(cooldowns) > 2.0
    assert min(cooldowns) >= 8.0 - 1e-9 and max(cooldowns) <= 12.0 + 1e-9


def test_the_cooldown_never_passes_the_maximum() -> None:
    rng = random.Random(3)
    values = [S.cooldown(9, rng)[1] for _ in range(500)]
    assert max(values) <= 300
    assert min(values) >= 240


def test_programs_failing_together_are_spread_over_their_cooldown() -> None:
    core = Reconciler({"web": Settings(**{**vars(S), "start_retries": 0})}, rng=random.Random(7))
    for i in range(40):
        core.observe(Observation(f"web:web-{i}", "FATAL", start=95, stop=96, now=100), 100)
    dues = sorted(r.due for r in core.records.values() if r.due is not None)
    assert len(dues) == 40
    assert len({int(d) for d in dues}) >= 4  # not all in the same second
    assert dues[-1] - dues[0] >= 2


def test_the_same_fact_seen_again_takes_no_second_decision() -> None:
    core = fatal_core(5)
    due = core.records[NAME].due
    last = core.last[NAME]
    assert core.observe(last, 200) == []
    assert core.records[NAME].due == due


def test_a_late_starting_event_of_the_agents_own_probe_is_not_a_persons_start() -> None:
    core = fatal_core()
    due = core.records[NAME].due
    assert due is not None
    assert decisions(core.tick(due)) == ["rearm", "start"]
    probe = obs("STARTING", int(due), pid=42, now=due)
    core.started(probe, due)
    # the STARTING event arrives late, twice, after other looks: still the agent's probe
    for later in (due + 0.5, due + 3, due + 3):
        assert "manual-start" not in decisions(core.observe(probe, later))
    assert core.records[NAME].phase == "probing"
    running = obs("RUNNING", int(due), pid=42, now=due + 121)
    assert decisions(core.observe(running, due + 121)) == ["recovered"]


def test_a_probe_that_fails_to_start_backs_off_without_stopping_anything() -> None:
    core = fatal_core()
    due = core.records[NAME].due or 0
    actions = start_and_fail(core, due, 42)
    assert decisions(actions) == ["backoff"]  # supervisor made it FATAL: no second start
    assert actions[0].extra["reason"] == "probe-failed"
    assert actions[0].extra["base"] == 20


def test_a_refused_rearm_is_retried_with_the_backoff() -> None:
    core = fatal_core()
    due = core.records[NAME].due or 0
    core.tick(due)
    actions = core.start_refused(NAME, NO_FILE, "NO_FILE: /opt/app/run", due)
    assert decisions(actions) == ["backoff"]
    assert actions[0].extra["reason"] == "rearm-refused"
    assert core.records[NAME].phase == "cooling"
    assert core.records[NAME].due is not None


def test_a_refused_first_start_is_retried_like_a_failed_one() -> None:
    core = Reconciler({"web": S}, rng=random.Random(1))
    core.observe(obs("EXITED", 100, stop=300, now=300), 300)  # a crash: restart at once
    assert decisions(core.tick(300)) == ["start"]
    actions = core.start_refused(NAME, NO_FILE, "NO_FILE: /opt/app/run", 300)
    assert decisions(actions) == ["retry"]
    assert actions[0].extra["reason"] == "start-refused"


def test_a_start_by_someone_else_just_before_the_probe_is_left_running() -> None:
    core = fatal_core()
    due = core.records[NAME].due or 0
    core.tick(due)
    assert decisions(core.start_refused(NAME, ALREADY_STARTED, "", due)) == ["manual-start"]
    assert core.records[NAME].phase == "watch"


def crash_after(
    core: Reconciler, start: float, ran: float, pid: int, code: int = 1
) -> list[Action]:
    """A run seen RUNNING that exits ``ran`` s after ``start`` with ``code``."""
    core.observe(obs("RUNNING", start, pid=pid, now=start + ran - 1), start + ran - 1)
    exited = Observation(NAME, "EXITED", start=start, stop=start + ran, now=start + ran)
    return core.observe(Observation(**{**vars(exited), "exitstatus": code}), start + ran)


def test_a_crash_past_the_start_window_is_restarted_at_once_then_backed_off() -> None:
    core = Reconciler({"web": S}, rng=random.Random(1))
    start, seen = 1000.0, []
    for n in range(S.start_retries):
        actions = crash_after(core, start, 130, 10 + n)
        seen.append(decisions(actions))
        if decisions(actions) == ["restart"]:
            assert decisions(core.tick(start + 130)) == ["start"]
            core.started(obs("STARTING", start + 130, pid=11 + n), start + 130)
        start += 130
    assert seen == [["restart"]] * (S.start_retries - 1) + [["backoff"]]
    assert actions[0].extra == {**actions[0].extra, "reason": "crash-loop", "ran": 130}


def test_an_exit_code_in_exit_codes_is_restarted_and_never_backed_off() -> None:
    core = Reconciler({"web": S}, rng=random.Random(1))
    start = 1000.0
    for n in range(8):
        actions = crash_after(core, start, 130, 10 + n, code=0)
        assert decisions(actions) == ["restart"]
        assert actions[0].extra["reason"] == "exit-code"
        core.tick(start + 130)
        core.started(obs("STARTING", start + 130, pid=11 + n), start + 130)
        start += 130


def test_an_expected_exit_is_left_exited_under_on_failure() -> None:
    on_failure = Settings(**{**vars(S), "restart_always": False})
    core = Reconciler({"web": on_failure}, rng=random.Random(1))
    assert decisions(crash_after(core, 1000, 130, 10, code=0)) == ["exited"]
    assert core.tick(10_000) == [] and core.next_wakeup() is None
    assert decisions(crash_after(core, 2000, 130, 11, code=1)) == ["restart"]


def test_an_exit_after_a_healthy_run_resets_and_restarts() -> None:
    core = fatal_core()
    due = core.records[NAME].due or 0
    core.tick(due)
    start = float(int(due))
    core.started(obs("STARTING", start, pid=42), due)
    core.observe(obs("RUNNING", start, pid=42, now=start + 121), start + 121)  # recovered
    exited = Observation(NAME, "EXITED", start=start, stop=start + 700, now=start + 700)
    actions = core.observe(Observation(**{**vars(exited), "exitstatus": 1}), start + 700)
    assert decisions(actions) == ["reset", "restart"]
    assert core.records[NAME].rounds == 0


def test_a_persons_start_right_after_a_crash_is_the_persons() -> None:
    # before, a start within 3 s of an exit was taken for supervisor's respawn
    core = fatal_core()
    assert decisions(core.observe(obs("STARTING", 101, pid=77, now=101), 101)) == ["manual-start"]
    assert core.records[NAME].phase == "watch"


def test_an_agent_restart_between_deciding_and_starting_still_restarts() -> None:
    core = Reconciler({"web": S}, rng=random.Random(1))
    crash_after(core, 1000, 130, 10)
    saved = json.loads(json.dumps(core.to_json()))  # persisted before the start was issued
    again = Reconciler({"web": S}, Reconciler.records_from_json(saved))
    exited = Observation(NAME, "EXITED", start=1000, stop=1130, now=1131, exitstatus=1)
    assert decisions(again.observe(exited, 1131)) == []  # the same end: not judged twice
    assert decisions(again.tick(1131)) == ["start"]


def test_an_agent_restart_mid_probe_resumes_the_round() -> None:
    core = fatal_core()
    due = core.records[NAME].due or 0
    core.tick(due)
    again = Reconciler({"web": S}, Reconciler.records_from_json(core.to_json()))
    # the probe was asked for; the agent died before it read the answer
    actions = again.observe(obs("FATAL", int(due), stop=int(due) + 1), due + 1)
    assert decisions(actions) == ["backoff"]
    assert actions[0].extra["reason"] == "probe-failed"


def test_a_probe_lost_with_the_agent_is_asked_for_again() -> None:
    core = fatal_core()
    due = core.records[NAME].due or 0
    core.tick(due)
    again = Reconciler({"web": S}, Reconciler.records_from_json(core.to_json()))
    again.observe(core.last[NAME], due)
    assert decisions(again.tick(due + 11)) == ["start"]


def test_a_released_hold_of_an_exited_program_restarts_it() -> None:
    core = Reconciler({"web": S}, rng=random.Random(1))
    core.person({"web"}, {}, 1)
    assert crash_after(core, 1000, 130, 10) == []  # held: nobody restarts it
    assert decisions(core.person(set(), {}, 2000)) == ["release", "restart"]


def test_a_persons_stop_during_the_cooldown_cancels_it() -> None:
    core = fatal_core()
    now = core.last[NAME].now + 1
    assert decisions(core.person(set(), {NAME: now}, now)) == ["manual-stop"]
    assert core.records[NAME].due is None
    assert core.tick(10_000) == []
    # until a person starts it
    started = core.observe(obs("STARTING", 5000, pid=77, now=5000), 5000)
    assert decisions(started) == ["manual-start"]


def test_a_persons_stop_before_the_last_start_is_over() -> None:
    # the person's file outlives the agent's record of what it applied (state writes failing)
    core = fatal_core()
    again = Reconciler({"web": S}, rng=random.Random(2))  # the agent restarted, its state lost
    again.observe(core.last[NAME], core.last[NAME].now)
    stop = core.last[NAME].start - 5
    assert decisions(again.person(set(), {NAME: stop}, stop + 30)) == []
    assert again.records[NAME].phase == "cooling"


def test_a_persons_stop_in_the_same_second_as_a_start_still_up_is_over() -> None:
    core = Reconciler({"web": S}, rng=random.Random(1))
    core.observe(obs("STARTING", 200, pid=5, now=200), 200)
    assert decisions(core.person(set(), {NAME: 200.6}, 201)) == []


def test_a_stop_seen_in_supervisor_is_a_persons_even_of_a_run_never_seen_up() -> None:
    core = fatal_core()
    due = core.records[NAME].due or 0
    core.tick(due)  # the probe is asked for; it is stopped before the agent sees it run
    stopped = obs("STOPPED", int(due), stop=int(due) + 1, now=int(due) + 1)
    assert decisions(core.observe(stopped, due + 1)) == ["manual-stop"]
    assert core.tick(due + 1000) == []


def test_a_clock_stepped_back_delays_no_cooldown_past_its_maximum() -> None:
    core = fatal_core()
    now = core.last[NAME].now - 3600  # NTP steps the clock back an hour
    span = int(S.maximum) + 2  # the longest cool-down, and a tick
    started = [a for t in range(span) for a in core.tick(now + t) if a.kind == "start"]
    assert started


def test_a_process_supervisor_no_longer_has_is_forgotten_when_its_start_is_refused() -> None:
    core = fatal_core()
    due = core.records[NAME].due or 0
    core.tick(due)
    assert decisions(core.start_refused(NAME, BAD_NAME, "BAD_NAME: web:web-0", due)) == [
        "forgotten"
    ]
    assert NAME not in core.records and core.next_wakeup() is None


def test_a_process_missing_from_a_full_look_is_forgotten() -> None:
    core = fatal_core()
    other = "web:web-1"
    core.observe(Observation(other, "RUNNING", pid=9, start=50, now=100), 100)
    assert decisions(core.present({other})) == ["forgotten"]
    assert set(core.records) == {other}


def test_no_probe_while_a_person_stops_the_group() -> None:
    # supervisorctl update stops a changed group, then removes it: a probe in between makes the
    # removal fail (STILL_RUNNING)
    core = fatal_core()
    due = core.records[NAME].due or 0
    core.observe(Observation("web:web-1", "STOPPING", pid=9, start=50, now=int(due)), due)
    assert core.tick(due) == []
    core.observe(Observation("web:web-1", "STOPPED", start=50, stop=int(due), now=int(due)), due)
    assert decisions(core.tick(due + 1)) == ["rearm", "start"]


def test_programs_whose_start_failed_together_retry_in_different_moments() -> None:
    core = Reconciler({"web": S}, rng=random.Random(7))
    for i in range(40):
        core.observe(Observation(f"web:web-{i}", "FATAL", start=95, stop=95, now=100), 100)
    dues = sorted(r.due for r in core.records.values() if r.due is not None)
    assert len(dues) == 40 and dues[-1] - dues[0] >= 0.2


def test_a_persons_stop_read_after_the_agents_own_probe_stops_that_probe() -> None:
    core = fatal_core()
    due = core.records[NAME].due or 0
    assert decisions(core.tick(due)) == ["rearm", "start"]
    core.started(obs("STARTING", int(due), pid=42, now=due), due)
    actions = core.person(set(), {NAME: due - 0.5}, due + 2)  # the stop came just before it
    assert decisions(actions) == ["manual-stop", "stop"]
    assert core.records[NAME].phase == "person-stopped"


def test_a_hold_keeps_the_agent_away_until_release() -> None:
    core = fatal_core()
    assert decisions(core.person({"web"}, {}, 101)) == ["hold"]
    assert core.tick(10_000) == []
    assert core.next_wakeup() is None
    assert decisions(core.person(set(), {}, 10_001)) == ["release"]
    assert decisions(core.tick(10_001)) == ["rearm", "start"]


def test_a_version_2_record_mid_round_keeps_its_probe() -> None:
    old = {"rounds": 2, "phase": "cooling", "due": 50.0, "stop_for": 40.0, "down_since": 41.0}
    records = Reconciler.records_from_json({"version": 2, "processes": {NAME: old}})
    core = Reconciler({"web": S}, records)
    assert decisions(core.tick(60)) == ["rearm", "start"]


def test_a_hold_given_before_the_program_was_seen_applies_when_it_is() -> None:
    core = Reconciler({"web": S})
    core.person({"web"}, {}, 1)
    core.observe(obs("FATAL", 95, stop=96, now=100), 100)
    assert core.records[NAME].held
    assert core.tick(10_000) == []


def test_healthy_running_resets_the_backoff() -> None:
    core = fatal_core()
    due = core.records[NAME].due or 0
    core.tick(due)
    core.started(obs("STARTING", int(due), pid=42), due)
    core.observe(obs("RUNNING", int(due), pid=42, now=int(due) + 121), due + 121)
    actions = core.observe(obs("RUNNING", int(due), pid=42, now=int(due) + 601), due + 601)
    assert decisions(actions) == ["reset"]
    assert core.records[NAME].rounds == 0


def test_reload_forgets_removed_programs_and_adopts_new_ones() -> None:
    core = fatal_core()
    actions = core.reload({"api": S})
    assert decisions(actions) == ["forgotten"]
    assert NAME not in core.records
    assert core.observe(obs("FATAL", 95, stop=96, now=100), 100) == []  # not managed now
    adopted = core.observe(Observation("api:api-0", "FATAL", start=95, stop=96, now=100), 100)
    assert decisions(adopted) == ["retry"]


def test_settings_of_older_and_newer_versions_load(tmp_path: Path) -> None:
    old = {k: v for k, v in vars(S).items() if k not in ("exit_codes", "jitter")}
    new = {**old, "exit_codes": [0, 3], "a_field_from_the_future": 1}
    path = tmp_path / "backoff.json"
    path.write_text(
        json.dumps([{"settings": old, "programs": ["a"]}, {"settings": new, "programs": ["b"]}])
    )
    settings = load_settings(str(path))
    assert settings["a"].exit_codes == (0,) and settings["a"].jitter == 0.2
    assert settings["b"].exit_codes == (0, 3)


@pytest.mark.parametrize(
    "document",
    [
        "[]",
        '{"version": 4, "processes": {}}',
        '{"version": 2, "processes": []}',
        '{"version": 2, "processes": {"a:a": {"phase": "dancing"}}}',
        '{"version": 2, "processes": {"a:a": {"rounds": "two"}}}',
        '{"version": 2, "processes": {"a:a": {"due": [1]}}}',
        '{"version": 3, "processes": {"a:a": {"person_stop": "yesterday"}}}',
        '{"version": 3, "processes": {"a:a": {"held": "no"}}}',
        '{"version": 3, "processes": {"a:a": {"probe": 1}}}',
        '{"version": 3, "processes": {"a:a": {"due": true}}}',
        '{"version": 3, "processes": {"a:a": {"phase": "cooling", "due": NaN}}}',
        '{"version": 3, "processes": {"a:a": {"person_stop": Infinity}}}',
        '{"version": 3, "processes": {"a:a": {"quick_exits": -1}}}',
        # of the right types, but nothing would ever be due: the process left alone for good
        '{"version": 3, "processes": {"a:a": {"phase": "cooling", "run_start": 100}}}',
        '{"version": 3, "processes": {"a:a": {"phase": "probing", "run_start": 100}}}',
        "not json",
    ],
)
def test_a_state_file_of_the_wrong_shape_is_reported_and_ignored(
    tmp_path: Path, document: str
) -> None:
    path = tmp_path / "state.json"
    path.write_text(document)
    lines: list[dict[str, Any]] = []
    assert StateFile(str(path), lines.append).load() == {}
    assert [line["decision"] for line in lines] == ["state-unreadable"]


def test_a_failed_state_write_is_reported_once_and_the_recovery_too(tmp_path: Path) -> None:
    path = tmp_path / "state"
    path.mkdir()
    lines: list[dict[str, Any]] = []
    state = StateFile(str(path), lines.append)
    assert not state.save({"version": 2, "processes": {}}, 100)
    assert not state.save({"version": 2, "processes": {}}, 130)
    assert not state.save({"version": 2, "processes": {}}, 170)  # a minute later: again
    assert [line["decision"] for line in lines] == ["state-write-failed"] * 2
    path.rmdir()
    assert state.save({"version": 2, "processes": {}}, 180)
    assert lines[-1]["decision"] == "state-write-recovered"


def test_the_persons_file_keeps_holds_and_stops(tmp_path: Path) -> None:
    person = PersonFile(str(tmp_path / "state.json"))

    def change(held: set[str], stops: dict[str, float]) -> None:
        held.add("web")
        stops["api"] = 5.0

    person.update(change)
    assert person.read() == ({"web"}, {"api": 5.0})
    assert person.changed() and not person.changed()


def test_the_previous_agents_state_carries_over(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    old = {"rounds": 3, "due": 1234.5, "quick_exits": 0, "given_up": False}
    path.write_text(json.dumps({"version": 1, "processes": {NAME: old}}))
    records = StateFile(str(path), print).load()
    assert (records[NAME].rounds, records[NAME].phase, records[NAME].due) == (3, "cooling", 1234.5)


@pytest.mark.parametrize(
    ("given", "resolved"),
    [(["web:*"], ["web"]), (["web:"], ["web"]), (["web:web-0"], ["web:web-0"]), (["all"], ["web"])],
)
def test_person_commands_read_group_names_as_supervisorctl_does(
    given: list[str], resolved: list[str]
) -> None:
    assert _resolve(given, {"web": S}) == resolved


@pytest.mark.parametrize(
    "record",
    [Record(phase="cooling", rounds=2, probe=True), Record(phase="probing", rounds=2, probe=True)],
    ids=["cooling-without-due", "probing-without-start"],
)
def test_a_record_with_nothing_ever_due_is_resumed_with_an_agent_error(record: Record) -> None:
    # Records from the state file are checked on load; this is the agent's last guard against
    # a defect of its own, which would otherwise leave the process alone for good.
    core = Reconciler({"web": S}, {NAME: record})
    actions = core.tick(1000)
    assert [(a.kind, a.decision) for a in actions][:1] == [("log", "agent-error")]
    assert "start" in [a.kind for a in actions]
    assert core.check() == []


@pytest.mark.parametrize(
    ("given", "resolved"),
    [
        (["web"], []),  # supervisorctl: the process web:web, no such process
        (["web", "web:*"], ["web"]),
        (["web:web-0", "other"], ["web:web-0"]),
        (["all"], ["web"]),
    ],
)
def test_a_stop_reads_names_as_supervisorctl_does(given: list[str], resolved: list[str]) -> None:
    assert _resolve(given, {"web": S}, skip_unmanaged=True) == resolved


def test_supervisors_fatal_is_a_failed_start_even_when_the_stamps_span_the_window() -> None:
    # start and stop stamps are whole seconds: a run from 100.9 to 102.1 (1.2 s) reads as 2 s,
    # a 2 s window's worth, but supervisor judged it by its own clock: FATAL, a failed start
    window = Settings(**{**vars(S), "start_window": 2})
    core = Reconciler({"web": window}, rng=random.Random(1))
    actions = core.observe(obs("FATAL", 100, stop=102, now=102.2), 102.2)
    assert [a.decision for a in actions] == ["retry"]
