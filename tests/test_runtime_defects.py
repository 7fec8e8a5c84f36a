"""Defects a new user found in restart_policy.runtime (issue 10), each in a real daemon with
default buffering; every test here failed against the runtime before its fix."""

from __future__ import annotations

import fcntl
import io
import json
import os
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from restart_policy import runtime
from tests.test_runtime import child_env, daemon, finish, json_lines, start, wait_for

# Generous: a loaded 2-core machine can take seconds to start Python. A hang shows as a timeout.
STOP_TIMEOUT = 60


def events(err: str) -> list[str]:
    return [line["event"] for line in json_lines(err)]


def stop_when_ready(
    process: subprocess.Popen[str], ready: Path, *signals: int
) -> tuple[int, str, str]:
    wait_for(ready, timeout=STOP_TIMEOUT)
    for number in signals:
        process.send_signal(number)
    try:
        return finish(process, timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the daemon hung; stdout {out[-500:]!r}, stderr {err[-500:]!r}")


# --- 1. a non-daemon thread does not hang the end ---------------------------------------------

NON_DAEMON = """
import queue, threading, pathlib, sys
class Busy(Exception):
    pass
work = queue.Queue()
def consumer():
    while True:  # a typical worker: never returns
        work.get()
def main(life):
    threading.Thread(target=consumer, name="consumer").start()
    pathlib.Path(sys.argv[1]).touch()
    {ending}
runtime.run(main, handled={{Busy: "WARNING"}})
"""


@pytest.mark.parametrize(
    ("ending", "stop", "last"),
    [
        ("life.wait(3600)", True, "stopped"),
        ("raise Busy('handled')", False, "handled-exit"),
        ("sys.exit(0)", False, None),
    ],
    ids=["stop", "handled-exception", "sys-exit-0"],
)
def test_main_ending_cleanly_ends_the_process_despite_a_non_daemon_thread(
    tmp_path: Path, ending: str, stop: bool, last: str | None
) -> None:
    path = daemon(tmp_path, NON_DAEMON.format(ending=ending))
    ready = tmp_path / "ready"
    process = _start_with(path, ready)
    code, _, err = stop_when_ready(process, ready, *([signal.SIGTERM] if stop else []))
    assert code == 0
    lines = json_lines(err)
    assert lines[-1]["event"] == "threads-abandoned"
    assert lines[-1]["threads"] == "consumer"
    if last is not None:
        assert lines[-2]["event"] == last


def _start_with(path: Path, ready: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(path), str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )


# --- 2, 3. items and aitems: the stop wakes the wait, and no pulled item is lost ---------------


def test_a_stop_wakes_aitems_waiting_for_the_next_item(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import asyncio, pathlib, sys
        async def quiet_queue():
            while True:
                await asyncio.sleep(3600)
                yield 1
        async def main(life):
            pathlib.Path(sys.argv[1]).touch()
            async for message in life.aitems(quiet_queue()):
                print("got", message)
            print("loop ended")
        runtime.run(main)
        """,
    )
    ready = tmp_path / "ready"
    code, out, err = stop_when_ready(_start_with(path, ready), ready, signal.SIGTERM)
    assert (code, out) == (0, "loop ended\n")
    assert events(err) == ["stop-requested", "stopped"]


ITEM_PULLED_DURING_THE_STOP = """
import pathlib, sys
def main(life):
    def source():
        yield 1
        pathlib.Path(sys.argv[1]).touch()
        life.stopping.wait(3600)  # a long poll, during which the stop comes
        print("received", 2)  # the message is taken from the queue (and maybe acknowledged)
        yield 2
        yield 3
    for message in {items}(source()):
        print("processed", message)
{run}
"""


def test_items_yields_an_item_pulled_while_the_stop_came(tmp_path: Path) -> None:
    path = daemon(
        tmp_path, ITEM_PULLED_DURING_THE_STOP.format(items="life.items", run="runtime.run(main)")
    )
    ready = tmp_path / "ready"
    code, out, _ = stop_when_ready(_start_with(path, ready), ready, signal.SIGTERM)
    assert code == 0
    assert out.splitlines() == ["processed 1", "received 2", "processed 2"]


def test_aitems_yields_an_item_pulled_while_the_stop_came(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import asyncio, pathlib, sys
        async def main(life):
            async def source():
                yield 1
                pathlib.Path(sys.argv[1]).touch()
                await life.stopping.wait()
                print("received", 2)
                yield 2
                yield 3
            async for message in life.aitems(source()):
                print("processed", message)
        runtime.run(main)
        """,
    )
    ready = tmp_path / "ready"
    code, out, _ = stop_when_ready(_start_with(path, ready), ready, signal.SIGTERM)
    assert code == 0
    assert out.splitlines() == ["processed 1", "received 2", "processed 2"]


# --- 4. a handled exception in a worker is not the end of the process --------------------------


@pytest.mark.parametrize(
    "work",
    [
        """
        with runtime.executor(2) as pool:
            future = pool.submit(task)
            try:
                future.result()
            except Busy:
                print("the app handled it")
        """,
        """
        worker = threading.Thread(target=task, name="worker")
        worker.start()
        worker.join()
        print("the app handled it")
        """,
    ],
    ids=["executor", "thread"],
)
def test_a_handled_exception_in_a_worker_is_logged_and_the_process_goes_on(
    tmp_path: Path, work: str
) -> None:
    body = textwrap.indent(textwrap.dedent(work).strip("\n"), "    ")
    path = daemon(
        tmp_path,
        f"""
import threading
class Busy(Exception):
    pass
def task():
    raise Busy("row locked, will retry")
def main(life):
{body}
    print("main finished its work")
runtime.run(main, handled={{Busy: "WARNING"}})
""",
    )
    code, out, err = finish(start(path), timeout=STOP_TIMEOUT)
    assert code == 0
    assert out.splitlines()[-1] == "main finished its work"
    (line,) = json_lines(err)
    assert (line["event"], line["level"]) == ("handled-in-thread", "WARNING")
    assert line["exception"]["type"] == "__main__.Busy"


def test_a_handled_exception_in_a_created_task_is_logged_and_the_process_goes_on(
    tmp_path: Path,
) -> None:
    path = daemon(
        tmp_path,
        """
        class Busy(Exception):
            pass
        async def job():
            raise Busy("transient")
        async def main(life):
            try:
                await life.create_task(job(), name="job")
            except Busy:
                print("the app handled it")
            await life.wait(0.2)  # the task's done-callback runs
            print("main finished its work")
        runtime.run(main, handled={Busy: "WARNING"})
        """,
    )
    code, out, err = finish(start(path), timeout=STOP_TIMEOUT)
    assert code == 0
    assert out.splitlines() == ["the app handled it", "main finished its work"]
    assert events(err) == ["handled-in-thread"]


# --- 5. the lines around a second signal ------------------------------------------------------

# A helper thread tells the test that the first signal was seen, so that the second is never sent
# while the first is still pending (two pending SIGTERMs merge into one). It waits through the
# public view; the main thread meanwhile never gives the runtime control.
SEEN = """
import pathlib, sys, threading
def tell_when_stopping(life):
    def watch():
        life.stopping.wait()
        pathlib.Path(sys.argv[1] + ".stopping").touch()
    threading.Thread(target=watch, daemon=True).start()
"""


def wait_for_stopping(ready: Path) -> None:
    wait_for(ready.with_name(ready.name + ".stopping"), timeout=STOP_TIMEOUT)


def wait_for_full_pipe(read_end: int, room: int, process: subprocess.Popen[str]) -> None:
    """Until fewer than ``room`` bytes fit in the pipe: a write of ``room`` bytes blocks."""
    capacity = fcntl.fcntl(read_end, fcntl.F_GETPIPE_SZ)
    deadline = time.monotonic() + STOP_TIMEOUT
    while True:
        queued = struct.unpack("i", fcntl.ioctl(read_end, termios.FIONREAD, b"\0" * 4))[0]
        if capacity - queued < room:
            return
        assert process.poll() is None, f"the daemon ended early: {process.returncode}"
        assert time.monotonic() < deadline, f"the pipe holds only {queued} of {capacity} bytes"
        time.sleep(0.01)


def test_the_second_signal_line_is_written_while_stdout_is_blocked(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        SEEN
        + """
import itertools
def main(life):
    tell_when_stopping(life)
    pathlib.Path(sys.argv[1]).touch()
    for n in life.items(itertools.count()):
        print("o" * 1000)  # nobody reads stdout: the pipe fills and print blocks
runtime.run(main)
""",
    )
    ready = tmp_path / "ready"
    unread, stdout = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, str(path), str(ready)],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        os.close(stdout)
        wait_for(ready, timeout=STOP_TIMEOUT)
        # Only a full pipe blocks print: signalled before that, on a slow machine, the daemon
        # stopped gracefully before its watcher thread could say that it was stopping.
        # print reaches the pipe 8 KB (one buffer) at a time
        wait_for_full_pipe(unread, io.DEFAULT_BUFFER_SIZE, process)
        process.send_signal(signal.SIGTERM)
        wait_for_stopping(ready)
        process.send_signal(signal.SIGTERM)
        try:
            _, err = process.communicate(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            pytest.fail("the daemon hung after two signals")
    finally:
        os.close(unread)
    assert process.returncode == 128 + signal.SIGTERM
    assert events(err)[-1] == "stop-forced"
    assert json_lines(err)[-1]["exit_code"] == 143


def test_a_second_signal_during_a_long_item_still_logs_the_stop_request(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        SEEN
        + """
import time
def main(life):
    tell_when_stopping(life)
    for n in life.items(range(10)):
        pathlib.Path(sys.argv[1]).touch()
        time.sleep(3600)  # a long item: the runtime never gets control back
runtime.run(main)
""",
    )
    ready = tmp_path / "ready"
    process = _start_with(path, ready)
    wait_for(ready, timeout=STOP_TIMEOUT)
    process.send_signal(signal.SIGTERM)
    wait_for_stopping(ready)
    code, _, err = stop_when_ready(process, ready, signal.SIGTERM)
    assert code == 143
    lines = json_lines(err)
    assert [(line["event"], line["signal"]) for line in lines] == [
        ("stop-requested", "SIGTERM"),
        ("stop-forced", "SIGTERM"),
    ]


def test_a_crash_after_a_stop_logs_the_stop_and_names_its_signal(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        SEEN
        + """
import time
def main(life):
    tell_when_stopping(life)
    stopping = pathlib.Path(sys.argv[1] + ".stopping")
    for n in life.items(range(10)):
        pathlib.Path(sys.argv[1]).touch()
        while not stopping.exists():
            time.sleep(0.01)  # a long item that does not ask the runtime about the stop
        raise ConnectionError("db gone")
runtime.run(main)
""",
    )
    ready = tmp_path / "ready"
    code, _, err = stop_when_ready(_start_with(path, ready), ready, signal.SIGTERM)
    assert code == 1
    lines = json_lines(err)
    # Not "crash": the platform is stopping the container (issue 15, defect 6; the hold wrapper
    # says "stopped" for the same case), so the crash metric does not count it.
    assert [line["event"] for line in lines] == ["stop-requested", "crash-after-stop"]
    assert lines[1]["signal"] == "SIGTERM"


# --- 6. a huge message keeps its frames, whatever its characters ------------------------------


@pytest.mark.parametrize("char", ["Q", "\U0001f600", "\x01", "é"], ids=repr)
def test_a_huge_message_keeps_the_frames_within_the_line_limit(tmp_path: Path, char: str) -> None:
    path = daemon(
        tmp_path,
        f"""
        def load_configuration():
            raise ValueError({char!r} * 300_000)
        def main():
            load_configuration()
        runtime.run(main)
        """,
    )
    code, _, err = finish(start(path), timeout=STOP_TIMEOUT)
    assert code == 1
    (raw,) = err.splitlines()
    assert len(raw.encode("utf-8", "surrogateescape")) <= runtime.MAX_LINE_BYTES
    line = json.loads(raw)
    assert line["truncated"] is True
    assert line["exception"]["message"].startswith(char * 100)
    stacktrace = line["exception"]["stacktrace"]
    assert "in load_configuration" in stacktrace
    assert "in main" in stacktrace


# --- 7. exception groups holding BaseExceptions ----------------------------------------------


@pytest.mark.parametrize(
    ("leaves", "exit_code", "event"),
    [
        ("Busy('a'), runtime.Stopped()", 0, "handled-exit"),
        ("Busy('a'), KeyboardInterrupt()", 130, "crash"),
        ("Busy('a'), SystemExit(2)", 2, "crash"),
        ("SystemExit(2), KeyboardInterrupt()", 130, "crash"),
        ("KeyError('unknown'), SystemExit(2)", 1, "crash"),
    ],
    ids=["handled+stopped", "keyboard-interrupt", "system-exit-2", "highest-code", "unknown"],
)
def test_an_exception_group_exits_with_the_code_of_its_leaves(
    tmp_path: Path, leaves: str, exit_code: int, event: str
) -> None:
    path = daemon(
        tmp_path,
        f"""
        class Busy(Exception):
            pass
        def main():
            raise BaseExceptionGroup("batch", [{leaves}])
        runtime.run(main, handled={{Busy: "WARNING"}})
        """,
    )
    code, _, err = finish(start(path), timeout=STOP_TIMEOUT)
    assert code == exit_code
    (line,) = json_lines(err)
    assert (line["event"], line["exit_code"]) == (event, exit_code)


# --- 9. JsonFormatter, run(main()), stop_signals ----------------------------------------------


def test_json_formatter_on_stderr_gives_one_crash_line_and_no_copy(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import logging, sys
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(runtime.JsonFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler])
        class Card:
            def __repr__(self):
                return "Card(" + "4" * 5000 + ")"
        def main(life):
            logging.getLogger("app").info("processing", extra={"item": Card(), "event": "crash"})
            raise ValueError("boom")
        runtime.run(main)
        """,
    )
    code, _, err = finish(start(path), timeout=STOP_TIMEOUT)
    assert code == 1
    app, crash = json_lines(err)
    assert (app["logger"], app["event"], app["app_event"]) == ("app", "log", "crash")
    assert len(app["item"]) < runtime.MAX_ITEM_CHARS + 40
    assert (crash["logger"], crash["event"]) == ("restart_policy.runtime", "crash")
    assert "Traceback" not in err.split("\n", 1)[0]


def test_a_coroutine_object_is_refused_without_a_never_awaited_warning(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import gc
        async def main():
            pass
        try:
            runtime.run(main())
        except TypeError as error:
            print("refused:", error)
        gc.collect()
        """,
    )
    code, out, err = finish(start(path), timeout=STOP_TIMEOUT)
    assert code == 0
    assert out.startswith("refused: main is a coroutine object")
    assert err == ""


@pytest.mark.parametrize(
    ("stop_signals", "match"),
    [
        ([signal.SIGCHLD], "SIGCHLD is sent by the system"),
        ([signal.SIGTERM, signal.SIGINT, signal.SIGTERM], "SIGTERM more than once"),
    ],
    ids=["sigchld", "duplicate"],
)
def test_stop_signals_that_are_not_stops_or_repeated_are_a_value_error(
    stop_signals: list[int], match: str
) -> None:
    def main(life: Any) -> None:
        raise AssertionError("main must not start")

    with pytest.raises(ValueError, match=match):
        runtime.run(main, stop_signals=stop_signals)
