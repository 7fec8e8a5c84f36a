"""The stop, in real daemons with default buffering: never lost, never hung, always flushed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_runtime import child_env, daemon, finish, json_lines, start, wait_for

# Generous: a loaded 2-core machine can take seconds to start Python. A hang shows as a timeout.
STOP_TIMEOUT = 30


def wait_line(process: subprocess.Popen[str], wanted: str) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == wanted, line


def test_stop_while_polling_with_wait_zero_is_never_lost(tmp_path: Path) -> None:
    # The old handler set a threading.Event while life.wait(0) held its lock: a hang until SIGKILL.
    path = daemon(
        tmp_path,
        """
        def main(life):
            print("ready", flush=True)
            while not life.wait(0):
                pass
        runtime.run(main)
        """,
    )
    processes = [start(path) for _ in range(12)]
    for delay, process in enumerate(processes):
        wait_line(process, "ready")
        time.sleep(0.01 * delay)
        process.send_signal(signal.SIGTERM)
    codes: list[int | None] = []
    errors: list[str] = []
    for process in processes:
        try:
            code, _, err = finish(process, timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
            code = None
        codes.append(code)
        if code != 0:
            errors.append(err)
    assert codes == [0] * len(processes), errors


def test_stop_while_flooding_stderr_is_not_lost(tmp_path: Path) -> None:
    # The old handler logged inside a buffered stderr write: "reentrant call", the stop lost.
    flood = tmp_path / "flood.txt"
    path = daemon(
        tmp_path,
        """
        import itertools, sys
        def main(life):
            print("ready", flush=True)
            for n in life.items(itertools.count()):
                print("x" * 200, n, file=sys.stderr)
        runtime.run(main)
        """,
    )
    for _ in range(3):
        with flood.open("w") as err:
            process = subprocess.Popen(
                [sys.executable, str(path)],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=child_env(),
            )
            wait_line(process, "ready")
            time.sleep(0.2)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=STOP_TIMEOUT) == 0
        events = [
            json.loads(line)["event"] for line in flood.read_text().splitlines() if "{" in line
        ]
        assert events == ["stop-requested", "stopped"]


def test_zero_argument_main_stops_at_the_first_signal(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import time
        def main():
            print("ready", flush=True)
            time.sleep(600)  # no item boundary to wait for
        runtime.run(main)
        """,
    )
    process = start(path)
    wait_line(process, "ready")
    process.send_signal(signal.SIGTERM)
    code, _, err = finish(process, timeout=STOP_TIMEOUT)
    assert code == 0
    assert [line["event"] for line in json_lines(err)] == ["stop-requested", "stopped"]


def test_second_signal_flushes_buffered_stdout(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import sys, time
        def main(life):
            print("ready", flush=True)
            print("written but still in the buffer")
            time.sleep(600)
        runtime.run(main)
        """,
    )
    process = start(path)
    wait_line(process, "ready")
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    code, out, err = finish(process, timeout=STOP_TIMEOUT)
    assert code == 128 + signal.SIGINT
    assert "written but still in the buffer" in out
    forced = json_lines(err)[-1]
    assert (forced["event"], forced["exit_code"]) == ("stop-forced", 130)


def test_stopped_raised_by_the_app_is_a_graceful_stop(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        def main(life):
            raise life.Stopped("the app decided to stop")
        runtime.run(main)
        """,
    )
    code, _, err = finish(start(path))
    assert code == 0
    assert not [line for line in json_lines(err) if line["event"] == "crash"]


def test_stopping_is_a_read_only_event_like_view(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        def main(life):
            print(bool(life.stopping), life.stopping.is_set(), flush=True)
            while not life.stopping.wait(60):
                pass
            print(bool(life.stopping), life.stopping.is_set(), hasattr(life.stopping, "set"))
        runtime.run(main)
        """,
    )
    process = start(path)
    wait_line(process, "False False")
    process.send_signal(signal.SIGTERM)
    code, out, _ = finish(process, timeout=STOP_TIMEOUT)
    assert (code, out.strip()) == (0, "True True False")


def test_interruptible_block_ends_a_blocking_read_on_stop(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import sys
        def main(life):
            print("ready", flush=True)
            with life.interruptible():
                sys.stdin.buffer.read()  # blocks: nothing ever comes
            print("not reached")
        runtime.run(main)
        """,
    )
    process = start(path, stdin=subprocess.PIPE)
    wait_line(process, "ready")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=STOP_TIMEOUT) == 0  # stdin still open: the read never returned
    _, out, err = finish(process)
    assert "not reached" not in out
    assert [line["event"] for line in json_lines(err)] == ["stop-requested", "stopped"]


def test_stopping_fileno_wakes_a_select_on_stop(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import select, sys
        def main(life):
            print("ready", flush=True)
            readable, _, _ = select.select([sys.stdin, life.stopping], [], [], 600)
            print("woken by stop" if life.stopping in readable else "other")
        runtime.run(main)
        """,
    )
    process = start(path, stdin=subprocess.PIPE)
    wait_line(process, "ready")
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=STOP_TIMEOUT) == 0  # stdin still open: only the stop is readable
    _, out, _ = finish(process)
    assert out.strip() == "woken by stop"


def test_stop_during_a_retry_loop_is_graceful_with_life_sleep(tmp_path: Path) -> None:
    # A retry loop (tenacity's sleep=life.sleep) used to end a stop as a crash (exit 1).
    path = daemon(
        tmp_path,
        """
        def connect():
            raise ConnectionError("database down")
        def main(life):
            print("ready", flush=True)
            while True:
                try:
                    connect()
                except Exception:  # the retry loop catches everything but the stop
                    life.sleep(5)
        runtime.run(main)
        """,
    )
    process = start(path)
    wait_line(process, "ready")
    process.send_signal(signal.SIGTERM)
    code, _, err = finish(process, timeout=STOP_TIMEOUT)
    assert code == 0
    assert [line["event"] for line in json_lines(err)] == ["stop-requested", "stopped"]


def test_a_stop_ends_the_crash_hold(tmp_path: Path) -> None:
    hold = {
        "start_window": 600,
        "initial": 600,
        "maximum": 600,
        "healthy_reset": 600,
        "jitter": 0,
        "state_dir": str(tmp_path),
    }
    path = daemon(
        tmp_path,
        """
        def main():
            raise ConnectionError("db gone")
        runtime.run(main)
        """,
    )
    process = start(path, env=child_env(RESTART_POLICY_HOLD=json.dumps(hold)))
    assert process.stderr is not None
    crash = json.loads(process.stderr.readline())
    assert (crash["event"], crash["exit_code"]) == ("crash", 1)
    events = []
    while "hold" not in events:
        events.append(json.loads(process.stderr.readline())["event"])
    time.sleep(1)
    assert process.poll() is None  # holding: a stop, not the crash itself, ends the hold
    process.send_signal(signal.SIGTERM)
    code, _, _ = finish(process, timeout=STOP_TIMEOUT)
    assert code == 1  # the crash's code: the platform still sees a crash


def test_items_and_waits_touch_the_heartbeat(tmp_path: Path) -> None:
    heartbeat = tmp_path / "heartbeat"
    path = daemon(
        tmp_path,
        """
        def main(life):
            for n in life.items(range(3)):
                life.wait(0.01)
        runtime.run(main)
        """,
    )
    code, _, _ = finish(start(path, env=child_env(RESTART_POLICY_HEARTBEAT=str(heartbeat))))
    assert code == 0
    wait_for(heartbeat, timeout=1)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_zero_argument_main_in_a_short_sleep_loop_always_stops(tmp_path: Path, stop: int) -> None:
    # The watcher thread often records the stop before the handler runs; the handler must still
    # raise (it used to return early: 15 hangs in 60 runs).
    path = daemon(
        tmp_path,
        """
        import time
        def main():
            print("ready", flush=True)
            while True:
                time.sleep(0.001)
        runtime.run(main)
        """,
    )
    processes = [start(path) for _ in range(12)]
    for delay, process in enumerate(processes):
        wait_line(process, "ready")
        time.sleep(0.002 * delay)
        process.send_signal(stop)
    outcomes: list[tuple[int | None, list[str]]] = []
    for process in processes:
        try:
            code, _, err = finish(process, timeout=STOP_TIMEOUT)
            outcomes.append((code, [line["event"] for line in json_lines(err)]))
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            outcomes.append((None, ["hang"]))
    assert outcomes == [(0, ["stop-requested", "stopped"])] * len(processes)


def test_a_group_stop_of_a_daemon_with_a_forked_child_is_graceful(tmp_path: Path) -> None:
    # supervisor's stopasgroup and a terminal's Ctrl-C signal the whole process group. The forked
    # child used to write its signal into the parent's wakeup pipe (the parent saw two and was
    # forced out with 143) and to keep a handler without a watcher (it ignored SIGTERM).
    path = daemon(
        tmp_path,
        """
        import os, time
        def main(life):
            child = os.fork()
            if child == 0:
                print("child", flush=True)
                time.sleep(600)  # a plain process: the group's SIGTERM ends it
                os._exit(0)
            while not life.wait(0.05):
                pass
            _, status = os.waitpid(child, 0)
            print("child ended", os.waitstatus_to_exitcode(status), flush=True)
        runtime.run(main)
        """,
    )
    process = subprocess.Popen(
        [sys.executable, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        start_new_session=True,  # a process group of its own, as supervisor gives each program
    )
    try:
        wait_line(process, "child")
        os.killpg(process.pid, signal.SIGTERM)
        code, out, err = finish(process, timeout=STOP_TIMEOUT)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert (code, out.strip()) == (0, f"child ended {-signal.SIGTERM}"), err
