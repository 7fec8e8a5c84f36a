"""A daemon written with runtime.run under the real supervisord and a rendered program config.

The daemon runs with default output buffering: ``env -u PYTHONUNBUFFERED`` in its command."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path

import pytest

from restart_policy import LogPolicy, Program, RestartPolicy, render_program
from tests.supervisor_harness import Supervisord

pytestmark = pytest.mark.supervisord

DAEMON = """
import asyncio, sys, time
from pathlib import Path
from restart_policy import runtime

folder = Path(sys.argv[1])
class ConcurrencyException(Exception):
    pass

def main(life):
    mode = (folder / "mode").read_text().strip()
    with open(folder / "starts", "a") as starts:
        starts.write(mode + "\\n")
    if mode == "crash":
        raise ConnectionError("database connection broken")
    if mode == "handled":
        raise ConcurrencyException("cannot acquire lock, we will try again")
    for n in life.items(range(10**9)):
        (folder / "started").write_text(str(n))
        time.sleep(0.5)
        (folder / "done").write_text(str(n))

def zero_arg_main():
    (folder / "started").write_text("zero-arg")
    time.sleep(600)  # no item boundary: the stop is raised in here

async def async_main(life):
    (folder / "started").write_text("async")
    while not await life.wait(600):
        pass
    (folder / "done").write_text("async")

def threads_main(life):
    import queue, threading
    work = queue.Queue()
    def consumer():  # a non-daemon worker that never returns
        while True:
            work.get()
    threading.Thread(target=consumer, name="consumer").start()
    (folder / "started").write_text("threads")
    while not life.wait(0.5):
        work.put(1)

mode = (folder / "mode").read_text().strip()
entry = {"zero-arg": zero_arg_main, "async": async_main, "threads": threads_main}.get(mode, main)
runtime.run(entry, handled={ConcurrencyException: "WARNING"})
"""


# Crash tests use a 3 s start window: a loaded machine can take a second to start Python, and a
# crash after the window would count as a started process.


def start_daemon(tmp_path: Path, mode: str, policy: RestartPolicy) -> Supervisord:
    (tmp_path / "mode").write_text(mode)
    script = tmp_path / "daemon.py"
    script.write_text(DAEMON)
    under_test = os.environ.get("RUNTIME_UNDER_TEST")  # an older runtime, to see a test fail
    prefix = f"PYTHONPATH={shlex.quote(under_test)} " if under_test else ""
    python = shlex.quote(sys.executable)
    command = f"/usr/bin/env -u PYTHONUNBUFFERED {prefix}{python} {script} {tmp_path}"
    section = render_program(
        Program(name="daemon", command=command), policy, LogPolicy(directory=str(tmp_path))
    )
    return Supervisord(tmp_path, section)


def events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_crash_is_one_json_line_per_attempt_and_supervisor_restarts(tmp_path: Path) -> None:
    policy = RestartPolicy(start_window=3, start_retries=2)
    with start_daemon(tmp_path, "crash", policy) as supervisord:
        supervisord.wait_state("daemon:daemon-0", "FATAL", timeout=30)
    log = (tmp_path / "supervisord.log").read_text()
    assert (tmp_path / "starts").read_text().split() == ["crash"] * 3, log
    crashes = events(tmp_path / "daemon-0.err.log")
    assert [event["event"] for event in crashes] == ["crash"] * 3, (
        log + (tmp_path / "daemon-0.err.log").read_text()
    )
    assert {event["process"] for event in crashes} == {"daemon-0"}  # supervisor's process name
    assert {event["exit_code"] for event in crashes} == {1}
    err_lines = (tmp_path / "daemon-0.err.log").read_text().splitlines()
    assert all(line.startswith("{") for line in err_lines)  # no raw traceback lines


def test_handled_exception_exits_cleanly(tmp_path: Path) -> None:
    policy = RestartPolicy(start_window=3, start_retries=1)
    with start_daemon(tmp_path, "handled", policy) as supervisord:
        supervisord.wait_state("daemon:daemon-0", "FATAL", timeout=30)
    assert "exited: daemon-0 (exit status 0; not expected)" in supervisord.log()
    (first, *_) = events(tmp_path / "daemon-0.err.log")
    assert (first["level"], first["event"]) == ("WARNING", "handled-exit")


def test_stop_signal_finishes_the_item_and_exits_zero(tmp_path: Path) -> None:
    policy = RestartPolicy(start_window=1, stop_timeout=10)
    with start_daemon(tmp_path, "work", policy) as supervisord:
        supervisord.wait_state("daemon:daemon-0", "RUNNING", timeout=15)
        supervisord.rpc.supervisor.stopProcess("daemon:daemon-0", True)
        assert supervisord.state("daemon:daemon-0") == "STOPPED"
    assert (tmp_path / "done").read_text() == (tmp_path / "started").read_text()
    assert "stopped: daemon-0 (exit status 0)" in supervisord.log()
    stop = events(tmp_path / "daemon-0.err.log")
    assert [event["event"] for event in stop] == ["stop-requested", "stopped"]
    assert stop[0]["signal"] == "SIGINT"  # the policy's stop signal


@pytest.mark.parametrize("mode", ["zero-arg", "async", "threads"])
def test_stop_of_a_zero_argument_or_async_main_exits_zero(tmp_path: Path, mode: str) -> None:
    policy = RestartPolicy(start_window=1, stop_timeout=30)
    with start_daemon(tmp_path, mode, policy) as supervisord:
        supervisord.wait_state("daemon:daemon-0", "RUNNING", timeout=15)
        deadline = time.monotonic() + 15
        while not (tmp_path / "started").exists():
            assert time.monotonic() < deadline, "main never started"
            time.sleep(0.05)
        supervisord.rpc.supervisor.stopProcess("daemon:daemon-0", True)
        assert supervisord.state("daemon:daemon-0") == "STOPPED"
    assert "stopped: daemon-0 (exit status 0)" in supervisord.log()
    stop = events(tmp_path / "daemon-0.err.log")
    # a non-daemon thread still running is named, not waited for until the SIGKILL
    abandoned = ["threads-abandoned"] if mode == "threads" else []
    assert [event["event"] for event in stop] == ["stop-requested", "stopped", *abandoned]
