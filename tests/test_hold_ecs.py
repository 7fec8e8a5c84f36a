"""The crash hold on ECS, in tests/ecs_harness.py around real daemons: runtime.run and the hold
wrapper. Counts and orders only; durations are measured by bench/ecs_crashloop.py.

Time is compressed: restartAttemptPeriod and the start window are 1 s, the back-off 0.3 s to
1.2 s, the healthy reset 5 s (far above any start-up delay on a loaded machine). A daemon
crashes 0.1 s after it starts.
"""

from __future__ import annotations

import socket
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.ecs_harness import EcsService, RestartRule, should_restart

HOLD = {"start_window": 1.0, "initial": 0.3, "maximum": 1.2, "healthy_reset": 5.0, "jitter": 0.2}
RULE = RestartRule(restart_attempt_period=1.0)
GENEROUS = 90.0  # seconds to wait for a few cycles on a loaded machine

# Each start appends to <folder>/starts and lives the next value of <folder>/lives (the last one
# repeats), then crashes.
RUNTIME_DAEMON = """
import sys, time
from pathlib import Path
from restart_policy import runtime

folder = Path(sys.argv[1])

def main(life):
    with open(folder / "starts", "a") as starts:
        starts.write(f"{time.time()}\\n")
    index = len((folder / "starts").read_text().split()) - 1
    lives = [float(x) for x in (folder / "lives").read_text().split()]
    if life.wait(lives[min(index, len(lives) - 1)]):
        return
    raise ConnectionError("the database is down")

runtime.run(main)
"""

PLAIN_DAEMON = """
import sys, time
from pathlib import Path

folder = Path(sys.argv[1])
with open(folder / "starts", "a") as starts:
    starts.write(f"{time.time()}\\n")
index = len((folder / "starts").read_text().split()) - 1
lives = [float(x) for x in (folder / "lives").read_text().split()]
time.sleep(lives[min(index, len(lives) - 1)])
sys.exit(3)
"""

Command = Callable[[Path], list[str]]


def runtime_daemon(folder: Path) -> list[str]:
    (folder / "daemon.py").write_text(RUNTIME_DAEMON)
    return [sys.executable, str(folder / "daemon.py"), str(folder)]


def wrapped_daemon(folder: Path) -> list[str]:
    (folder / "daemon.py").write_text(PLAIN_DAEMON)
    return [
        sys.executable,
        "-m",
        "restart_policy.hold",
        "--",
        sys.executable,
        str(folder / "daemon.py"),
        str(folder),
    ]


def wrapped_shell(folder: Path) -> list[str]:
    script = textwrap.dedent(
        f"""
        echo "$(date +%s)" >> {folder}/starts
        sleep 0.1
        exit 5
        """
    )
    return [sys.executable, "-m", "restart_policy.hold", "--", "sh", "-c", script]


DAEMONS = {"runtime.run": runtime_daemon, "hold wrapper": wrapped_daemon}
CRASH_CODE = {"runtime.run": 1, "hold wrapper": 3}


def service(
    tmp_path: Path, command: Command, lives: str = "0.1", **kwargs: Any
) -> tuple[EcsService, Path]:
    folder = tmp_path / "daemon"
    folder.mkdir()
    (folder / "lives").write_text(lives)
    kwargs.setdefault("rule", RULE)
    return EcsService(command(folder), folder=tmp_path / "ecs", **kwargs), folder


def events(lines: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("event") == name]


def story(ecs: EcsService) -> str:
    """What the containers said, for a failure message."""
    said = [
        (x.get("event"), x.get("message")) for x in ecs.json_lines() if x.get("event") != "crash"
    ]
    kinds = [(e.kind, e.task) for e in ecs.events]
    return f"harness events {kinds[:20]}; hold lines {said[:8]}"


def wait_for_line(ecs: EcsService, name: str, timeout: float = GENEROUS) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = events(ecs.json_lines(), name)
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no {name!r} line within {timeout} s: {ecs.json_lines()}")


# ---- the harness's rule, against the agent's clauses ----


@pytest.mark.parametrize(
    ("rule", "kwargs", "expected"),
    [
        (RestartRule(enabled=False), {}, (False, "restart policy is not enabled")),
        (RULE, {"desired_stopped": True}, (False, "container's desired status is stopped")),
        (RULE, {"exit_code": None}, (False, "exit code is nil")),
        (
            RestartRule(ignored_exit_codes=(0, 3)),
            {"exit_code": 3},
            (False, "exit code 3 should be ignored"),
        ),
        (RULE, {"now": 100.5}, (False, "attempt reset period has not elapsed")),
        (RULE, {"now": 101.0}, (True, "")),
        (
            RULE,
            {"last_restart_at": 150.0, "now": 150.9},
            (False, "attempt reset period has not elapsed"),
        ),
        (RULE, {"last_restart_at": 150.0, "now": 151.0}, (True, "")),
    ],
)
def test_should_restart_follows_the_agent(
    rule: RestartRule, kwargs: dict[str, Any], expected: tuple[bool, str]
) -> None:
    arguments: dict[str, Any] = {
        "exit_code": 1,
        "started_at": 100.0,
        "last_restart_at": None,
        "desired_stopped": False,
        "now": 200.0,
    }
    arguments.update(kwargs)
    assert should_restart(rule, **arguments) == expected


# ---- ECS alone ----


@pytest.mark.parametrize("kind", list(DAEMONS))
def test_ecs_alone_replaces_the_task_after_every_early_crash(tmp_path: Path, kind: str) -> None:
    # A long period, so that no start on a slow machine outlives it.
    ecs, _ = service(tmp_path, DAEMONS[kind], rule=RestartRule(restart_attempt_period=30.0))
    with ecs:
        assert ecs.wait_for("replace", 3, GENEROUS), story(ecs)
    assert ecs.count("restart") == 0
    assert [e.detail["restart_count"] for e in ecs.of("container-start")][:3] == [0, 0, 0]
    reasons = {e.detail["reason"] for e in ecs.of("task-stop")}
    assert "attempt reset period has not elapsed" in reasons


def test_ecs_alone_restarts_a_late_crash_in_place_at_once(tmp_path: Path) -> None:
    ecs, _ = service(tmp_path, wrapped_daemon, lives="1.5")
    with ecs:
        assert ecs.wait_for("restart", 2, GENEROUS), story(ecs)
    assert ecs.count("replace") == 0
    lines = ecs.json_lines()
    assert len(events(lines, "crash")) >= 2
    assert events(lines, "hold") == []


# ---- with the hold ----


@pytest.mark.parametrize("kind", list(DAEMONS))
def test_the_hold_turns_early_crashes_into_restarts_in_place(tmp_path: Path, kind: str) -> None:
    ecs, _ = service(tmp_path, DAEMONS[kind], hold=HOLD)
    with ecs:
        assert ecs.wait_for("restart", 4, GENEROUS), story(ecs)
    assert ecs.count("replace") == 0
    exits = ecs.of("exit")[:4]  # the last one is the harness's stop
    assert {e.detail["exit_code"] for e in exits} == {CRASH_CODE[kind]}


@pytest.mark.parametrize("kind", list(DAEMONS))
def test_the_hold_backs_off_crash_after_crash(tmp_path: Path, kind: str) -> None:
    ecs, _ = service(tmp_path, DAEMONS[kind], hold=HOLD)
    with ecs:
        assert ecs.wait_for("restart", 4, GENEROUS), story(ecs)
    holds = events(ecs.json_lines(), "hold")[:4]
    assert [h["n"] for h in holds] == [0, 1, 2, 3]
    assert [h["backoff"] for h in holds] == [0.3, 0.6, 1.2, 1.2]
    assert {h["source"] for h in holds} == {"metadata+state"}


def test_late_crashes_back_off_too(tmp_path: Path) -> None:
    # Past the start window ECS alone restarts at once, for ever; the hold still climbs the
    # ladder, so from the fifth crash (back-off 4 s, life ~1.5 s) each restart waits.
    ecs, _ = service(tmp_path, wrapped_daemon, lives="1.5", hold={**HOLD, "maximum": 4.0})
    with ecs:
        assert ecs.wait_for("restart", 5, GENEROUS), story(ecs)
    assert ecs.count("replace") == 0
    holds = events(ecs.json_lines(), "hold")[:5]
    assert [h["n"] for h in holds] == [0, 1, 2, 3, 4]
    assert holds[4]["backoff"] == 4.0
    assert holds[4]["seconds"] > 0


def test_the_hold_wraps_a_shell_script(tmp_path: Path) -> None:
    ecs, _ = service(tmp_path, wrapped_shell, hold=HOLD)
    with ecs:
        assert ecs.wait_for("restart", 2, GENEROUS), story(ecs)
    assert ecs.count("replace") == 0
    crashes = events(ecs.json_lines(), "crash")
    assert crashes[0]["exit_code"] == 5
    assert crashes[0]["command"][:2] == ["sh", "-c"]


def test_a_healthy_run_starts_the_back_off_again(tmp_path: Path) -> None:
    # Two quick crashes, one after a healthy run longer than healthy_reset, then quick again.
    ecs, _ = service(tmp_path, wrapped_daemon, lives="0.1 0.1 6.0 0.1", hold=HOLD)
    with ecs:
        assert ecs.wait_for("restart", 4, GENEROUS), story(ecs)
    holds = events(ecs.json_lines(), "hold")[:4]
    assert [(h["n"], h["source"]) for h in holds] == [
        (0, "metadata+state"),
        (1, "metadata+state"),
        (0, "healthy-reset"),
        (1, "metadata+state"),
    ]


def test_the_metadata_alone_counts_restarts_without_a_volume(tmp_path: Path) -> None:
    ecs, _ = service(tmp_path, wrapped_daemon, hold=HOLD, volume=False)
    with ecs:
        assert ecs.wait_for("restart", 3, GENEROUS), story(ecs)
    assert ecs.count("replace") == 0
    holds = events(ecs.json_lines(), "hold")[:3]
    assert [(h["n"], h["source"]) for h in holds] == [
        (0, "metadata"),
        (1, "metadata"),
        (2, "metadata"),
    ]


@pytest.mark.parametrize("kind", list(DAEMONS))
def test_a_stop_during_the_hold_ends_it_and_the_task(tmp_path: Path, kind: str) -> None:
    long_hold = {**HOLD, "start_window": 60.0}
    ecs, _ = service(
        tmp_path, DAEMONS[kind], hold=long_hold, rule=RestartRule(restart_attempt_period=60.0)
    )
    with ecs:
        wait_for_line(ecs, "hold")
        took = ecs.stop_task()
    told = story(ecs)
    assert took is not None, f"the container had to be killed, the hold went on: {told}"
    assert ecs.count("restart") == 0, told
    (exit_event,) = ecs.of("exit")
    assert exit_event.detail["exit_code"] == CRASH_CODE[kind], told
    assert exit_event.detail["lived"] < 60.0
    assert events(ecs.json_lines(), "hold_stopped"), told


# ---- bad input around the hold ----


def test_no_endpoint_and_no_volume_is_a_plain_exit_with_a_warning(tmp_path: Path) -> None:
    ecs, _ = service(
        tmp_path,
        wrapped_daemon,
        hold=HOLD,
        volume=False,
        metadata=False,
        rule=RestartRule(restart_attempt_period=30.0),
    )
    with ecs:
        assert ecs.wait_for("replace", 2, GENEROUS), story(ecs)
    lines = ecs.json_lines()
    skipped = events(lines, "hold_skipped")
    assert len(skipped) >= 2
    assert "ECS_CONTAINER_METADATA_URI_V4 is not set" in skipped[0]["message"]
    assert events(lines, "hold") == []


def test_a_malformed_endpoint_holds_with_the_state_file(tmp_path: Path) -> None:
    ecs, _ = service(tmp_path, wrapped_daemon, hold=HOLD)
    ecs.metadata.answers["task-1"] = b"<html>not the agent</html>"
    with ecs:
        assert ecs.wait_for("restart", 3, GENEROUS), story(ecs)
    assert ecs.count("replace") == 0
    lines = ecs.json_lines()
    assert [h["n"] for h in events(lines, "hold")[:3]] == [0, 1, 2]
    assert {h["source"] for h in events(lines, "hold")} == {"state"}
    assert "not JSON" in events(lines, "hold_degraded")[0]["message"]


def test_an_unreachable_endpoint_holds_with_the_state_file(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/v4/x"
    ecs, _ = service(
        tmp_path,
        wrapped_daemon,
        hold=HOLD,
        metadata=False,
        env={"ECS_CONTAINER_METADATA_URI_V4": closed},
    )
    with ecs:
        assert ecs.wait_for("restart", 2, GENEROUS), story(ecs)
    assert ecs.count("replace") == 0
    lines = ecs.json_lines()
    assert [h["n"] for h in events(lines, "hold")[:2]] == [0, 1]
    assert "unreachable" in events(lines, "hold_degraded")[0]["message"]


def test_malformed_hold_settings_are_a_plain_exit_with_a_warning(tmp_path: Path) -> None:
    ecs, _ = service(
        tmp_path,
        wrapped_daemon,
        hold={**HOLD, "jitter": 3},
        rule=RestartRule(restart_attempt_period=30.0),
    )
    with ecs:
        assert ecs.wait_for("replace", 1, GENEROUS), story(ecs)
    skipped = events(ecs.json_lines(), "hold_skipped")
    assert "need 0 <= jitter < 1" in skipped[0]["message"]
