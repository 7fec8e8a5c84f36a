"""The crash hold's decision (pure, with hypothesis) and hold_after_crash with a fake clock."""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from restart_policy import _heartbeat, _hold_core
from restart_policy._hold_core import (
    HoldSettings,
    HoldState,
    backoff_seconds,
    consecutive_crashes,
    decide,
    hold_after_crash,
    hold_target,
    parse_settings,
    window_floor,
)

DEFAULTS = {"start_window": 120, "initial": 10, "maximum": 300, "healthy_reset": 600, "jitter": 0.2}

seconds = st.floats(min_value=0.001, max_value=10_000, allow_nan=False)
unit = st.floats(min_value=0, max_value=1, exclude_max=True)


@st.composite
def settings(draw: st.DrawFn) -> HoldSettings:
    initial = draw(seconds)
    return HoldSettings(
        start_window=draw(st.floats(min_value=0, max_value=2000)),
        initial=initial,
        maximum=draw(st.floats(min_value=initial, max_value=20_000)),
        healthy_reset=draw(st.floats(min_value=0, max_value=20_000)),
        jitter=draw(st.floats(min_value=0, max_value=0.9)),
    )


# ---- pure decision ----


@given(n=st.integers(min_value=0, max_value=10_000), s=settings())
def test_backoff_doubles_from_initial_up_to_the_maximum(n: int, s: HoldSettings) -> None:
    value = backoff_seconds(n, initial=s.initial, maximum=s.maximum)
    assert s.initial <= value <= s.maximum
    assert value == min(s.initial * 2.0 ** min(n, 64), s.maximum)
    assert backoff_seconds(n + 1, initial=s.initial, maximum=s.maximum) >= value


@given(s=settings(), base_extra=st.floats(min_value=0, max_value=5000), u=unit)
def test_hold_target_never_ends_before_the_start_window(
    s: HoldSettings, base_extra: float, u: float
) -> None:
    base = s.start_window + base_extra
    target = hold_target(base, start_window=s.start_window, jitter=s.jitter, uniform=u)
    assert target >= window_floor(s.start_window) >= s.start_window


@given(s=settings(), base_extra=st.floats(min_value=0, max_value=5000), u=unit)
def test_hold_target_spreads_over_a_band_of_twice_the_jitter(
    s: HoldSettings, base_extra: float, u: float
) -> None:
    base = s.start_window + base_extra
    low = hold_target(base, start_window=s.start_window, jitter=s.jitter, uniform=0.0)
    target = hold_target(base, start_window=s.start_window, jitter=s.jitter, uniform=u)
    assert low <= target <= low + 2 * s.jitter * base + 1e-9
    assert low == max(window_floor(s.start_window), base * (1 - s.jitter))


def test_hold_target_of_default_cap_is_within_plus_minus_twenty_percent() -> None:
    values = [hold_target(300, start_window=120, jitter=0.2, uniform=u / 10) for u in range(10)]
    assert min(values) == pytest.approx(240)
    assert max(values) < 360
    assert len(set(values)) == 10


@given(uptime=seconds, reset=seconds, count=st.none() | st.integers(0, 1000), known=st.booleans())
def test_a_healthy_run_resets_the_count(
    uptime: float, reset: float, count: int | None, known: bool
) -> None:
    state = HoldState(consecutive=7, restart_count=count)
    result = consecutive_crashes(
        uptime=max(uptime, reset),
        healthy_reset=reset,
        restart_count=count,
        state=state,
        state_known=known,
    )
    assert result == (0, "healthy-reset")


def test_no_endpoint_and_no_volume_means_unknown() -> None:
    assert (
        consecutive_crashes(
            uptime=1, healthy_reset=600, restart_count=None, state=None, state_known=False
        )
        is None
    )


def test_the_metadata_alone_counts_every_restart_of_the_task() -> None:
    assert consecutive_crashes(
        uptime=1, healthy_reset=600, restart_count=4, state=None, state_known=False
    ) == (4, "metadata")


def test_the_state_file_alone_counts_recorded_crashes() -> None:
    state = HoldState(consecutive=3, restart_count=None)
    assert consecutive_crashes(
        uptime=1, healthy_reset=600, restart_count=None, state=state, state_known=True
    ) == (3, "state")


def test_an_empty_volume_means_a_first_crash() -> None:
    assert consecutive_crashes(
        uptime=1, healthy_reset=600, restart_count=None, state=None, state_known=True
    ) == (0, "state")


def test_restarts_the_state_file_missed_are_counted_as_crashes() -> None:
    # Recorded at RestartCount 2 (3rd crash in a row); now RestartCount 5: the restart after the
    # recorded crash, plus two crashes killed before they could record.
    state = HoldState(consecutive=3, restart_count=2)
    assert consecutive_crashes(
        uptime=1, healthy_reset=600, restart_count=5, state=state, state_known=True
    ) == (5, "metadata+state")


def test_the_state_file_forgets_restarts_before_a_healthy_run() -> None:
    # Three restarts long ago, then a healthy run reset the record: the new loop starts at 1.
    state = HoldState(consecutive=1, restart_count=3)
    assert consecutive_crashes(
        uptime=1, healthy_reset=600, restart_count=4, state=state, state_known=True
    ) == (1, "metadata+state")


@given(
    s=settings(),
    lives=st.lists(st.floats(min_value=0, max_value=30_000), min_size=1, max_size=40),
    us=st.lists(unit, min_size=40, max_size=40),
)
def test_model_a_container_crashing_in_place(
    s: HoldSettings, lives: list[float], us: list[float]
) -> None:
    """Crash after crash in one task, with RestartCount and the state file as the agent and the
    hold keep them: n counts the crashes since the last healthy run, and every hold lasts until
    a restart in place is allowed."""
    state: HoldState | None = None
    expected_n = 0
    # The agent restarts it in place after every crash: RestartCount is the crash's index.
    for restart_count, (life, u) in enumerate(zip(lives, us, strict=False)):
        if life >= s.healthy_reset:
            expected_n = 0
        decision = decide(
            s, uptime=life, restart_count=restart_count, state=state, state_known=True, uniform=u
        )
        assert decision is not None
        assert decision.n == expected_n
        assert decision.backoff == backoff_seconds(expected_n, initial=s.initial, maximum=s.maximum)
        # within a femtosecond: hold is target - life in floats, and life + hold can round below
        # target by one ulp (0.906005583800317 + 1.070244416199683 < 1.97625)
        reached = life + decision.hold >= window_floor(s.start_window) - 1e-9
        assert reached or life >= decision.target
        assert decision.hold == pytest.approx(max(0.0, decision.target - life))
        state = HoldState(consecutive=decision.n + 1, restart_count=restart_count)
        expected_n += 1


def test_steady_state_of_a_permanent_crash_with_the_policy_defaults() -> None:
    s = parse_settings(json.dumps(DEFAULTS))
    assert s is not None
    holds = [
        decide(
            s,
            uptime=5,
            restart_count=k,
            state=HoldState(consecutive=k, restart_count=k - 1) if k else None,
            state_known=True,
            uniform=0.0,
        )
        for k in range(10)
    ]
    assert [d.n for d in holds if d] == list(range(10))
    assert all(d is not None and d.target >= 240 for d in holds[5:])  # 3600 / 240 = 15 per hour


# ---- settings ----


def test_absent_or_empty_settings_mean_no_hold() -> None:
    assert parse_settings(None) is None
    assert parse_settings("  ") is None


def test_settings_round_trip() -> None:
    s = parse_settings(json.dumps({**DEFAULTS, "state_dir": "/var/lib/restart-policy"}))
    assert s == HoldSettings(120, 10, 300, 600, 0.2, "/var/lib/restart-policy")


def test_settings_without_jitter_take_the_default_spread() -> None:
    without = {k: v for k, v in DEFAULTS.items() if k != "jitter"}
    s = parse_settings(json.dumps(without))
    assert s is not None
    assert s.jitter == 0.2


def test_a_jitter_of_the_wrong_kind_is_called_a_fraction() -> None:
    with pytest.raises(ValueError, match=r"jitter='x' \(give a fraction from 0 to 1\)"):
        parse_settings(json.dumps({**DEFAULTS, "jitter": "x"}))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{", "is not JSON"),
        ("[1]", "must be a JSON object, not list"),
        (json.dumps({**DEFAULTS, "initial": "10"}), r"initial='10' \(give a finite number"),
        (json.dumps({**DEFAULTS, "jitter": True}), r"jitter=True"),
        (json.dumps({**DEFAULTS, "maximum": 5}), r"need 0 < initial <= maximum"),
        (json.dumps({**DEFAULTS, "initial": 0}), r"need 0 < initial <= maximum"),
        (json.dumps({**DEFAULTS, "jitter": 1}), r"need 0 <= jitter < 1"),
        (json.dumps({**DEFAULTS, "start_window": -1}), r"must be >= 0"),
        (json.dumps({**DEFAULTS, "state_dir": 3}), r"state_dir=3"),
    ],
)
def test_malformed_settings_are_named(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_settings(text)


# ---- hold_after_crash: I/O around the decision, with a fake clock ----


class FakeTime:
    """A clock that only moves when the hold waits; ``stop_after`` waits end in a stop."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.now = 1000.0
        self.waits: list[float] = []
        self.stop_after = stop_after

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        if seconds == 0:  # a poll for a stop (while the metadata is fetched), not a sleep
            return self.stop_after is not None and len(self.waits) >= self.stop_after
        self.waits.append(seconds)
        if self.stop_after is not None and len(self.waits) >= self.stop_after:
            return True
        self.now += seconds
        return False


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]


def env(**extra: Any) -> dict[str, str]:
    values: dict[str, Any] = {**DEFAULTS}
    values.update({k: v for k, v in extra.items() if k != "metadata"})
    result = {"RESTART_POLICY_HOLD": json.dumps(values)}
    if "metadata" in extra:
        result["ECS_CONTAINER_METADATA_URI_V4"] = extra["metadata"]
    return result


class Metadata(http.server.BaseHTTPRequestHandler):
    body = b"{}"
    url = ""

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def metadata() -> Iterator[type[Metadata]]:
    class Handler(Metadata):  # per test: the class attributes are the answer
        pass

    handler = Handler
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/v4/abc"
    yield handler
    server.shutdown()
    server.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v4/abc"


def test_without_the_variable_nothing_happens(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeTime()
    hold_after_crash(exit_code=1, uptime_seconds=1, wait=fake.wait, environ={}, clock=fake.clock)
    assert fake.waits == []
    assert capsys.readouterr().err == ""


def test_a_clean_exit_is_not_held(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fake = FakeTime()
    hold_after_crash(
        exit_code=0,
        uptime_seconds=1,
        wait=fake.wait,
        environ=env(state_dir=str(tmp_path)),
        clock=fake.clock,
    )
    assert fake.waits == []


def test_no_endpoint_and_no_volume_exits_at_once_with_one_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = FakeTime()
    hold_after_crash(exit_code=1, uptime_seconds=1, wait=fake.wait, environ=env(), clock=fake.clock)
    assert fake.waits == []
    (line,) = lines(capsys)
    assert line["level"] == "WARNING"
    assert line["event"] == "hold_skipped"
    assert "ECS_CONTAINER_METADATA_URI_V4 is not set" in line["message"]
    assert "no state_dir" in line["message"]


def test_malformed_variable_is_a_warning_not_a_crash(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeTime()
    hold_after_crash(
        exit_code=1,
        uptime_seconds=1,
        wait=fake.wait,
        environ={"RESTART_POLICY_HOLD": "{nope"},
        clock=fake.clock,
    )
    assert fake.waits == []
    (line,) = lines(capsys)
    assert line["event"] == "hold_skipped"
    assert "is not JSON" in line["message"]


def test_holds_until_the_process_has_lived_the_target(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake = FakeTime()
    hold_after_crash(
        exit_code=3,
        uptime_seconds=5,
        wait=fake.wait,
        environ=env(state_dir=str(tmp_path)),
        uniform=lambda: 0.0,
        clock=fake.clock,
    )
    hold = next(x for x in lines(capsys) if x["event"] == "hold")
    assert hold["n"] == 0
    assert hold["source"] == "state"
    assert hold["exit_code"] == 3
    assert 5 + sum(fake.waits) == pytest.approx(window_floor(120))
    assert hold["seconds"] == pytest.approx(sum(fake.waits), abs=1e-3)
    assert max(fake.waits) <= _hold_core.BEAT_INTERVAL_SECONDS


def test_the_state_file_counts_consecutive_crashes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for _ in range(3):
        fake = FakeTime()
        hold_after_crash(
            exit_code=1,
            uptime_seconds=5,
            wait=fake.wait,
            environ=env(state_dir=str(tmp_path)),
            uniform=lambda: 0.0,
            clock=fake.clock,
        )
    holds = [x for x in lines(capsys) if x["event"] == "hold"]
    assert [h["n"] for h in holds] == [0, 1, 2]


def test_a_stop_ends_the_hold_at_once(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fake = FakeTime(stop_after=3)
    hold_after_crash(
        exit_code=1,
        uptime_seconds=5,
        wait=fake.wait,
        environ=env(state_dir=str(tmp_path)),
        clock=fake.clock,
    )
    assert len(fake.waits) == 3
    assert lines(capsys)[-1]["event"] == "hold_stopped"


def test_the_heartbeat_stays_fresh_while_holding(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    beat = tmp_path / "beat"
    monkeypatch.setenv(_heartbeat.ENV_VAR, str(beat))
    monkeypatch.setattr(_heartbeat, "_last_beat", float("-inf"))
    fake = FakeTime(stop_after=2)
    hold_after_crash(
        exit_code=1,
        uptime_seconds=5,
        wait=fake.wait,
        environ=env(state_dir=str(tmp_path)),
        clock=fake.clock,
    )
    assert beat.exists()


def test_restart_count_comes_from_the_metadata_endpoint(
    capsys: pytest.CaptureFixture[str], metadata: type[Metadata]
) -> None:
    metadata.body = json.dumps({"Name": "worker", "RestartCount": 3}).encode()
    fake = FakeTime(stop_after=1)
    hold_after_crash(
        exit_code=1,
        uptime_seconds=5,
        wait=fake.wait,
        environ=env(metadata=metadata.url),
        clock=fake.clock,
    )
    hold = next(x for x in lines(capsys) if x["event"] == "hold")
    assert (hold["n"], hold["source"], hold["backoff"]) == (3, "metadata", 80)


def test_the_state_file_name_does_not_depend_on_the_endpoint(
    capsys: pytest.CaptureFixture[str], metadata: type[Metadata], tmp_path: Path
) -> None:
    """Defect: the name came from the metadata's container name, so one failed call switched
    files and reset a count of 4 to 0."""
    for _ in range(4):
        metadata.body = json.dumps({"Name": "worker"}).encode()  # no RestartCount: state counts
        hold_after_crash(
            exit_code=1,
            uptime_seconds=5,
            wait=FakeTime(stop_after=1).wait,
            environ=env(metadata=metadata.url, state_dir=str(tmp_path)),
        )
    hold_after_crash(
        exit_code=1,
        uptime_seconds=5,
        wait=FakeTime(stop_after=1).wait,
        environ=env(metadata=closed_port_url(), state_dir=str(tmp_path)),
    )
    holds = [x for x in lines(capsys) if x["event"] == "hold"]
    assert [h["n"] for h in holds] == [0, 1, 2, 3, 4]
    assert [p.name for p in tmp_path.iterdir()] == ["hold-state.json"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>", "not JSON"),
        (b"[]", "a list, not an object"),
        (b'{"Name": "w"}', "reports no RestartCount"),
        (b'{"RestartCount": "2"}', "RestartCount='2', not a count"),
    ],
)
def test_a_malformed_endpoint_falls_back_to_the_state_file(
    capsys: pytest.CaptureFixture[str],
    metadata: type[Metadata],
    tmp_path: Path,
    body: bytes,
    problem: str,
) -> None:
    metadata.body = body
    fake = FakeTime(stop_after=1)
    hold_after_crash(
        exit_code=1,
        uptime_seconds=5,
        wait=fake.wait,
        environ=env(metadata=metadata.url, state_dir=str(tmp_path)),
        clock=fake.clock,
    )
    found = lines(capsys)
    assert problem in found[0]["message"]
    assert found[0]["event"] == "hold_degraded"
    assert found[1]["event"] == "hold"
    assert found[1]["source"] == "state"


def test_an_unreachable_endpoint_and_no_volume_is_a_plain_exit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = FakeTime()
    hold_after_crash(
        exit_code=1,
        uptime_seconds=5,
        wait=fake.wait,
        environ=env(metadata=closed_port_url()),
        clock=fake.clock,
    )
    assert fake.waits == []
    (line,) = lines(capsys)
    assert line["event"] == "hold_skipped"
    assert "unreachable" in line["message"]


def test_a_missing_state_directory_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake = FakeTime()
    hold_after_crash(
        exit_code=1,
        uptime_seconds=5,
        wait=fake.wait,
        environ=env(state_dir=str(tmp_path / "absent")),
        clock=fake.clock,
    )
    degraded, hold = lines(capsys)
    assert "does not exist (mount a task-scoped volume there)" in degraded["message"]
    assert "assuming the worst" in degraded["message"]
    assert (hold["source"], hold["backoff"]) == ("unknown", DEFAULTS["maximum"])


def test_an_unreadable_state_file_is_a_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "hold-state.json").write_text("{garbage")
    fake = FakeTime()
    hold_after_crash(
        exit_code=1,
        uptime_seconds=5,
        wait=fake.wait,
        environ=env(state_dir=str(tmp_path)),
        clock=fake.clock,
    )
    found = lines(capsys)
    assert "is unreadable" in found[0]["message"]
    assert found[-1]["event"] == "hold"
    assert os.path.exists(tmp_path / "hold-state.json")


def test_a_wait_that_returns_early_does_not_spin(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A wait that comes back at once without a stop (e.g. an event a crash already set) must
    not turn the hold into a busy loop: the hold pauses between such waits."""
    calls: list[float] = []

    def early(seconds: float) -> bool:
        calls.append(seconds)
        return False

    settings = {**DEFAULTS, "start_window": 0.5, "initial": 0.1, "maximum": 0.5}
    hold_after_crash(
        exit_code=1,
        uptime_seconds=0.0,
        wait=early,
        environ={"RESTART_POLICY_HOLD": json.dumps({**settings, "state_dir": str(tmp_path)})},
        uniform=lambda: 0.0,
    )
    # About 0.5 s / 0.05 s pauses; a spinning loop makes hundreds of thousands of calls.
    assert 1 <= len(calls) < 200
    assert [x["event"] for x in lines(capsys)][-1] == "hold"


# ---- issue 15's breaker: defects 1 and 2 ----


class Trickle(http.server.BaseHTTPRequestHandler):
    """An endpoint that sends one byte a second of a long body: each read returns in time."""

    asked = threading.Event()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        type(self).asked.set()
        try:
            for _ in range(100000):
                self.wfile.write(b" ")
                self.wfile.flush()
                threading.Event().wait(1.0)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def trickle() -> Iterator[tuple[str, threading.Event]]:
    class Handler(Trickle):
        asked = threading.Event()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v4/abc", Handler.asked
    server.shutdown()
    server.server_close()


def test_a_trickling_endpoint_is_bounded_as_a_whole(
    trickle: tuple[str, threading.Event],
) -> None:
    url, _ = trickle
    began = time.monotonic()
    fetched = _hold_core.fetch_metadata(url, threading.Event().wait, timeout=1.0)
    # Unbounded, the trickle would hold the fetch for ever; the margin is for a loaded machine.
    assert time.monotonic() - began < 30
    assert fetched is not None
    count, _, problem = fetched
    assert count is None
    # Which bound ends it depends on the CPU: the whole-answer deadline, or (when the trickling
    # server thread is starved for a second) the per-read timeout. Either is a bounded fetch.
    assert problem is not None
    assert "no whole answer within 1 s" in problem or "(timed out)" in problem


def test_a_stop_ends_a_metadata_fetch(trickle: tuple[str, threading.Event]) -> None:
    url, asked = trickle
    stop = threading.Event()

    def stop_once_asked() -> None:
        asked.wait(60)
        stop.set()

    threading.Thread(target=stop_once_asked, daemon=True).start()
    # A deadline far beyond the test's own: only the stop can end this fetch.
    assert _hold_core.fetch_metadata(url, lambda s: stop.wait(s), timeout=3600) is None
    assert asked.is_set()


def test_an_unwritable_state_and_no_endpoint_assume_the_worst(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Defect: a directory in the way of the state file, no endpoint: every crash was n=0."""
    (tmp_path / "hold-state.json").mkdir()
    for _ in range(2):
        hold_after_crash(
            exit_code=1,
            uptime_seconds=5,
            wait=FakeTime(stop_after=1).wait,
            environ=env(state_dir=str(tmp_path)),
        )
    holds = [x for x in lines(capsys) if x["event"] == "hold"]
    assert [(h["source"], h["backoff"]) for h in holds] == [("unknown", 300)] * 2


def test_a_state_that_cannot_be_saved_assumes_the_worst(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk: the directory is writable by its mode, but no write lands."""
    monkeypatch.setattr(_hold_core, "save_state", lambda path, state: "No space left on device")
    for _ in range(2):
        hold_after_crash(
            exit_code=1,
            uptime_seconds=5,
            wait=FakeTime(stop_after=1).wait,
            environ=env(state_dir=str(tmp_path)),
        )
    found = lines(capsys)
    holds = [x for x in found if x["event"] == "hold"]
    assert [h["backoff"] for h in holds] == [300, 300]
    assert "the count cannot be kept" in found[0]["message"]


def test_a_failed_write_leaves_no_temporary(tmp_path: Path) -> None:
    (tmp_path / "hold-state.json").mkdir()  # os.replace onto a directory fails
    problem = _hold_core.save_state(str(tmp_path / "hold-state.json"), HoldState(1, None))
    assert problem is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hold-state.json"]


def test_temporaries_left_by_a_killed_write_are_removed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "hold-state.json.123.tmp").write_bytes(b"")
    hold_after_crash(
        exit_code=1,
        uptime_seconds=5,
        wait=FakeTime(stop_after=1).wait,
        environ=env(state_dir=str(tmp_path)),
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hold-state.json"]


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [("maximum", 7200, "3600"), ("start_window", 2000, "1800"), ("healthy_reset", 1e6, "86400")],
)
def test_out_of_range_settings_are_refused(field: str, value: float, limit: str) -> None:
    settings = {**DEFAULTS, field: value}
    with pytest.raises(ValueError, match=rf"{field}=.* \(need <= {limit} seconds\)"):
        parse_settings(json.dumps(settings))


def test_unknown_keys_are_named_and_the_hold_goes_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    hold_after_crash(
        exit_code=1,
        uptime_seconds=5,
        wait=FakeTime(stop_after=1).wait,
        environ=env(state_dir=str(tmp_path), jiter=0.5),
    )
    found = lines(capsys)
    assert found[0]["event"] == "hold_settings"
    assert "unknown keys jiter" in found[0]["message"]
    assert "hold" in [x["event"] for x in found]


def test_a_blank_setting_is_no_hold_but_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeTime()
    hold_after_crash(
        exit_code=1, uptime_seconds=5, wait=fake.wait, environ={"RESTART_POLICY_HOLD": "  "}
    )
    (line,) = lines(capsys)
    assert "is set but blank" in line["message"]
    assert fake.waits == []
