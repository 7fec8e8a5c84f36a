"""The back-off agent under a real supervisord, with short times: every rule."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from restart_policy import LogPolicy, Program, RestartPolicy, render_program
from restart_policy._backoff_listener import AGENT_SOURCE, render_listener, settings_json
from tests.supervisor_harness import Supervisord

pytestmark = pytest.mark.supervisord

# A daemon whose dependency is a file: up -> it runs; down -> it fails `fail_after` s after start.
DAEMON = """
import signal, sys, time
from pathlib import Path
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))  # the policy's stop signal: stop at once
folder = Path(sys.argv[1])
with open(folder / "starts", "a") as starts:
    starts.write(f"{time.time()}\\n")
fail_after = float((folder / "fail_after").read_text())
while True:
    if not (folder / "db-up").exists():
        time.sleep(fail_after)
        sys.exit(1)
    time.sleep(0.1)
"""

# Short times; a 2 s start window keeps a loaded machine's slow interpreter start-up inside it.
FAST = dict(start_window=2, start_retries=2, backoff_initial=1, backoff_max=4, healthy_reset=6)


def agent_daemon(tmp_path: Path, policy: RestartPolicy, *, fail_after: float = 0.2) -> Supervisord:
    (tmp_path / "fail_after").write_text(str(fail_after))
    script = tmp_path / "daemon.py"
    script.write_text(DAEMON)
    logs = LogPolicy(directory=str(tmp_path))
    program = Program(name="daemon", command=f"{shlex.quote(sys.executable)} {script} {tmp_path}")
    (tmp_path / "backoff.json").write_text(settings_json([program], policy))
    listener = render_listener(
        python=shlex.quote(sys.executable),
        agent_path=str(AGENT_SOURCE),
        config_path=str(tmp_path / "backoff.json"),
        state_path=str(tmp_path / "state" / "backoff.json"),
        log_policy=logs,
    )
    return Supervisord(tmp_path, render_program(program, policy, logs) + listener)


def decisions(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "restart-policy-backoff.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def wait_decisions(tmp_path: Path, count: int, kind: str, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [d for d in decisions(tmp_path) if d["decision"] == kind]
        if len(found) >= count:
            return decisions(tmp_path)
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} {kind!r} decisions: {decisions(tmp_path)}")


def starts(tmp_path: Path) -> list[float]:
    path = tmp_path / "starts"
    return [float(x) for x in path.read_text().split()] if path.exists() else []


def test_fatal_is_rearmed_after_a_doubling_capped_cooldown(tmp_path: Path) -> None:
    with agent_daemon(tmp_path, RestartPolicy(**FAST)):
        log = wait_decisions(tmp_path, 5, "backoff", timeout=60)
    backoffs = [d for d in log if d["decision"] == "backoff"]
    assert [d["cooldown"] for d in backoffs[:5]] == [1, 2, 4, 4, 4]  # doubling, then the cap
    assert backoffs[0]["reason"] == "fatal"  # supervisor gave up after its own retries
    assert {d["reason"] for d in backoffs[1:5]} == {"probe-failed"}
    rearms = [d for d in log if d["decision"] == "rearm"]
    for backoff, rearm in zip(backoffs, rearms, strict=False):
        assert rearm["at"] - backoff["at"] >= backoff["cooldown"] - 0.05
    # supervisor's start-up retries (2 + 1), then exactly one start per re-arm
    assert len(starts(tmp_path)) == 3 + len(rearms)


def test_recovers_once_the_dependency_is_back_and_resets_after_clean_running(
    tmp_path: Path,
) -> None:
    with agent_daemon(tmp_path, RestartPolicy(**FAST)) as supervisord:
        wait_decisions(tmp_path, 2, "backoff", timeout=30)
        (tmp_path / "db-up").touch()
        came_back = time.monotonic()
        supervisord.wait_state("daemon:daemon-0", "RUNNING", timeout=15)
        lag = time.monotonic() - came_back
        log = wait_decisions(tmp_path, 1, "reset", timeout=15)
    assert lag <= 4 + 2 + 1  # backoff_max, the start window, one second of slack
    kinds = [d["decision"] for d in log]
    assert kinds.index("recovered") < kinds.index("reset")
    assert log[-1]["round"] == 0


def test_max_rearms_leaves_the_program_stopped(tmp_path: Path) -> None:
    with agent_daemon(tmp_path, RestartPolicy(**FAST, max_rearms=2)) as supervisord:
        wait_decisions(tmp_path, 1, "give-up", timeout=40)
        count = len(starts(tmp_path))
        time.sleep(5)  # longer than backoff_max: nothing more happens
        assert len(starts(tmp_path)) == count
        assert supervisord.state("daemon:daemon-0") in ("STOPPED", "FATAL")
    give_up = next(d for d in decisions(tmp_path) if d["decision"] == "give-up")
    assert give_up["round"] == 2
    assert count == 3 + 2


def test_crash_loop_past_the_start_window_is_stopped_and_backed_off(tmp_path: Path) -> None:
    # Each run passes the 2 s start window, then dies: supervisor alone restarts it for ever.
    with agent_daemon(tmp_path, RestartPolicy(**FAST), fail_after=3):
        log = wait_decisions(tmp_path, 2, "backoff", timeout=40)
    backoffs = [d for d in log if d["decision"] == "backoff"]
    assert [d["reason"] for d in backoffs[:2]] == ["crash-loop", "crash-loop"]
    assert [d["cooldown"] for d in backoffs[:2]] == [1, 2]
    assert 2 <= backoffs[0]["ran"] < 6  # past the start window, short of healthy_reset
    # 2 quick exits (start_retries) in the first round; the probe's single quick exit ends it.
    # supervisor respawns at once after an exit, so each round costs one extra start that the
    # agent stops as it begins.
    assert len(starts(tmp_path)) <= 2 + 1 + 1 + 1


def test_round_count_survives_a_supervisord_restart(tmp_path: Path) -> None:
    daemon = agent_daemon(tmp_path, RestartPolicy(**FAST))
    with daemon:
        wait_decisions(tmp_path, 2, "backoff", timeout=30)
    state = json.loads((tmp_path / "state" / "backoff.json").read_text())
    assert state["processes"]["daemon:daemon-0"]["rounds"] == 2
    with daemon:  # supervisord starts again; the program crash-loops again
        log = wait_decisions(tmp_path, 3, "backoff", timeout=30)
    third = [d for d in log if d["decision"] == "backoff"][2]
    assert (third["round"], third["cooldown"]) == (3, 4)


def test_a_person_starting_the_program_cancels_the_cooldown(tmp_path: Path) -> None:
    policy = RestartPolicy(**{**FAST, "backoff_initial": 30, "backoff_max": 60})
    with agent_daemon(tmp_path, policy) as supervisord:
        wait_decisions(tmp_path, 1, "backoff", timeout=30)
        (tmp_path / "db-up").touch()
        supervisord.rpc.supervisor.startProcess("daemon:daemon-0", True)
        log = wait_decisions(tmp_path, 1, "manual-start", timeout=10)
        assert supervisord.state("daemon:daemon-0") == "RUNNING"
    assert "rearm" not in [d["decision"] for d in log]
