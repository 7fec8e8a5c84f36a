"""``python -m restart_policy.health``: the heartbeat check, and its agreement with the hold."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from restart_policy import health

TIMEOUT = 60.0


def environment(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONUNBUFFERED", "RESTART_POLICY_HEARTBEAT", "RESTART_POLICY_HOLD")
    }
    env.update(extra)
    return env


def check(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "restart_policy.health", *args],
        capture_output=True,
        text=True,
        env=environment(**env),
        timeout=TIMEOUT,
    )


def aged(path: Path, seconds: float) -> Path:
    path.touch()
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_a_fresh_heartbeat_is_healthy(tmp_path: Path) -> None:
    beat = aged(tmp_path / "beat", 0)
    result = check("--max-age", "3600", RESTART_POLICY_HEARTBEAT=str(beat))
    assert result.returncode == 0
    assert result.stdout.startswith("healthy: the heartbeat")


def test_an_old_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    beat = aged(tmp_path / "beat", 120)
    result = check("--max-age", "60", RESTART_POLICY_HEARTBEAT=str(beat))
    assert result.returncode == 1
    assert "is 120" in result.stderr
    assert "(limit 60 s)" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_the_file_option_wins_over_the_variable(tmp_path: Path) -> None:
    fresh = aged(tmp_path / "fresh", 0)
    stale = aged(tmp_path / "stale", 500)
    result = check("--max-age", "60", "--file", str(fresh), RESTART_POLICY_HEARTBEAT=str(stale))
    assert result.returncode == 0


def test_a_missing_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    result = check("--max-age", "60", "--file", str(tmp_path / "absent"))
    assert result.returncode == 1
    assert "no heartbeat file at" in result.stderr


def test_no_heartbeat_configured_is_unhealthy() -> None:
    result = check("--max-age", "60")
    assert result.returncode == 1
    assert "no heartbeat file configured (set RESTART_POLICY_HEARTBEAT or give --file)" in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required: --max-age"),
        (["--max-age", "soon"], "'soon' is not a number of seconds"),
        (["--max-age", "0"], "'0': give a number of seconds greater than 0"),
        (["--max-age", "nan"], "'nan': give a number of seconds greater than 0"),
    ],
)
def test_bad_arguments_are_usage_errors(args: list[str], message: str) -> None:
    result = check(*args)
    assert result.returncode == 2
    assert message in result.stderr


def test_check_with_a_fixed_clock(tmp_path: Path) -> None:
    beat = aged(tmp_path / "beat", 0)
    modified = beat.stat().st_mtime
    assert health.check(str(beat), 10, now=modified + 9.5)[0] == 0
    assert health.check(str(beat), 10, now=modified + 10)[0] == 1


def test_a_holding_container_stays_healthy(tmp_path: Path) -> None:
    """The hold beats while it waits: the check passes after the crash, for longer than its
    limit, until the stop."""
    beat = tmp_path / "beat"
    settings = {"start_window": 600, "initial": 10, "maximum": 300, "healthy_reset": 600}
    env = environment(
        RESTART_POLICY_HEARTBEAT=str(beat),
        RESTART_POLICY_HOLD=json.dumps({**settings, "jitter": 0.2, "state_dir": str(tmp_path)}),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "restart_policy.hold", "--", sys.executable, "-c", "exit(1)"],
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while not beat.exists():
            assert time.monotonic() < deadline, "the hold never beat"
            time.sleep(0.05)
        first = beat.stat().st_mtime
        # Past the check's limit (and the first beat's mtime), still healthy: it beat again.
        while beat.stat().st_mtime <= first + 2:
            assert time.monotonic() < deadline, "the heartbeat went stale while holding"
            time.sleep(0.1)
        result = check("--max-age", "30", RESTART_POLICY_HEARTBEAT=str(beat))
        assert result.returncode == 0, result.stderr
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=TIMEOUT)
