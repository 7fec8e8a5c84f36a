"""Threads, the executor helper and ``async def main``, in real daemons with default buffering."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from tests.test_runtime import daemon, finish, json_lines, start

STOP_TIMEOUT = 30


def wait_line(process: subprocess.Popen[str], wanted: str) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == wanted, line


def test_an_exception_in_a_thread_ends_the_process_like_one_in_main(tmp_path: Path) -> None:
    # It used to leave the process running with its only consumer dead, then exit 0.
    path = daemon(
        tmp_path,
        """
        import threading
        def consume():
            raise ConnectionError("broker gone")
        def main(life):
            threading.Thread(target=consume, name="consumer").start()
            while not life.wait(1):
                pass
        runtime.run(main)
        """,
    )
    code, _, err = finish(start(path), timeout=STOP_TIMEOUT)
    assert code == 1
    (line,) = json_lines(err)
    assert (line["event"], line["exit_code"], line["thread"]) == ("crash", 1, "consumer")
    assert err.splitlines()[-1].startswith("{")  # no raw "Exception in thread" after it


def test_a_failed_executor_task_ends_the_process(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        def work(n):
            if n == 2:
                raise ValueError("poison")
        def main(life):
            with runtime.executor(max_workers=2) as pool:
                for n in range(4):
                    pool.submit(work, n)  # nobody reads the futures
            while not life.wait(1):
                pass
        runtime.run(main)
        """,
    )
    code, _, err = finish(start(path), timeout=STOP_TIMEOUT)
    assert code == 1
    (line,) = json_lines(err)
    assert line["event"] == "crash"
    assert line["exception"]["message"] == "poison"


def test_a_thread_ended_by_a_stop_is_not_a_crash(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import threading
        def main(life):
            def worker():
                while True:
                    life.sleep(60)  # raises life.Stopped on the stop
            thread = threading.Thread(target=worker)
            thread.start()
            print("ready", flush=True)
            thread.join()
        runtime.run(main)
        """,
    )
    process = start(path)
    wait_line(process, "ready")
    process.send_signal(signal.SIGTERM)
    code, _, err = finish(process, timeout=STOP_TIMEOUT)
    assert code == 0
    assert "crash" not in [line["event"] for line in json_lines(err)]


def test_async_main_is_run(tmp_path: Path) -> None:
    # It used to be called and never awaited: exit 0, and supervisor marked it FATAL.
    path = daemon(
        tmp_path,
        """
        import asyncio
        async def main(life):
            await asyncio.sleep(0)
            raise ConnectionError("db gone")
        runtime.run(main)
        """,
    )
    code, _, err = finish(start(path))
    assert code == 1
    (line,) = json_lines(err)
    assert (line["event"], line["exception"]["type"]) == ("crash", "builtins.ConnectionError")


def test_a_stop_wakes_an_awaited_life_wait(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        async def main(life):
            print("ready", flush=True)
            while not await life.wait(600):
                pass
        runtime.run(main)
        """,
    )
    process = start(path)
    wait_line(process, "ready")
    process.send_signal(signal.SIGINT)
    code, _, err = finish(process, timeout=STOP_TIMEOUT)
    assert code == 0
    assert [line["event"] for line in json_lines(err)] == ["stop-requested", "stopped"]


def test_stopping_works_as_an_asyncio_event(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import asyncio
        async def main(life):
            print("ready", flush=True)
            await asyncio.wait_for(life.stopping.wait(), 600)
            print(life.stopping.is_set())
        runtime.run(main)
        """,
    )
    process = start(path)
    wait_line(process, "ready")
    process.send_signal(signal.SIGTERM)
    code, out, _ = finish(process, timeout=STOP_TIMEOUT)
    assert (code, out.strip()) == (0, "True")


def test_a_zero_argument_async_main_is_cancelled_by_the_first_signal(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import asyncio
        async def main():
            print("ready", flush=True)
            await asyncio.sleep(600)
        runtime.run(main)
        """,
    )
    process = start(path)
    wait_line(process, "ready")
    process.send_signal(signal.SIGTERM)
    code, _, err = finish(process, timeout=STOP_TIMEOUT)
    assert code == 0
    assert [line["event"] for line in json_lines(err)] == ["stop-requested", "stopped"]


def test_a_sync_main_returning_a_coroutine_is_a_crash_not_a_silent_exit(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        async def work(life):
            pass
        runtime.run(lambda life: work(life))
        """,
    )
    code, _, err = finish(start(path))
    assert code == 1
    (line,) = json_lines(err)
    assert line["exception"]["type"] == "builtins.TypeError"
    assert "async def" in line["exception"]["message"]
    assert "never awaited" not in err


def test_a_thread_crash_flushes_buffered_stdout_first(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import threading, time
        def main(life):
            print("processed 41 messages")  # still in stdout's buffer
            threading.Thread(target=lambda: 1 / 0).start()
            time.sleep(600)
        runtime.run(main)
        """,
    )
    code, out, _ = finish(start(path), timeout=STOP_TIMEOUT)
    assert (code, out.strip()) == (1, "processed 41 messages")


def test_a_crash_in_main_ends_the_process_despite_a_non_daemon_thread(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import threading, time
        def main(life):
            threading.Thread(target=time.sleep, args=(600,)).start()  # would hold the exit
            raise ConnectionError("db gone")
        runtime.run(main)
        """,
    )
    code, _, err = finish(start(path), timeout=STOP_TIMEOUT)
    assert code == 1
    assert [line["event"] for line in json_lines(err)] == ["crash"]


def test_a_failed_task_of_life_create_task_ends_the_process(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import asyncio
        async def consume():
            raise ConnectionError("broker gone")
        async def main(life):
            life.create_task(consume(), name="consumer")
            while not await life.wait(1):
                pass
        runtime.run(main)
        """,
    )
    code, _, err = finish(start(path), timeout=STOP_TIMEOUT)
    assert code == 1
    (line,) = json_lines(err)
    assert line["event"] == "crash"
    assert "in task consumer" in line["message"]
