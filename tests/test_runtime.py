"""restart_policy.runtime in real subprocesses: log then re-raise, handled exits, graceful stop.

Every daemon runs with default output buffering (PYTHONUNBUFFERED removed). To see a test fail
against an older runtime, point RUNTIME_UNDER_TEST at a folder holding that ``restart_policy``
package: it goes first on the children's PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from restart_policy import runtime

ROOT = Path(__file__).resolve().parent.parent


def daemon(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "daemon.py"
    path.write_text("from restart_policy import runtime\n" + textwrap.dedent(body))
    return path


def child_env(**extra: str) -> dict[str, str]:
    """The test's environment with default buffering, and the runtime under test first."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    paths = [str(ROOT / "constructs"), env.get("PYTHONPATH", "")]
    if os.environ.get("RUNTIME_UNDER_TEST"):
        paths.insert(0, os.environ["RUNTIME_UNDER_TEST"])
    env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    env.update(extra)
    return env


def start(
    path: Path, *extra: str, env: dict[str, str] | None = None, stdin: int | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *extra, str(path)],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env() if env is None else env,
    )


def finish(process: subprocess.Popen[str], timeout: float = 20) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def json_lines(stderr: str) -> list[dict[str, Any]]:
    lines = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_unknown_exception_is_one_json_line_and_exit_1(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        class DatabaseGone(Exception):
            pass
        def main():
            raise DatabaseGone("connection reset by peer")
        runtime.run(main)
        """,
    )
    code, _, err = finish(start(path))
    assert code == runtime.EXIT_CRASH
    (line,) = json_lines(err)
    assert line["level"] == "ERROR"
    assert line["process"] == "daemon.py"
    assert line["event"] == "crash"
    assert line["exit_code"] == 1
    assert line["exception"]["type"] == "__main__.DatabaseGone"
    assert line["exception"]["message"] == "connection reset by peer"
    assert "raise DatabaseGone" in line["exception"]["stacktrace"]
    assert {"time", "pid"} <= set(line)


def test_no_raw_traceback_follows_the_crash_line(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        def main():
            raise ConnectionError("db gone")
        runtime.run(main)
        """,
    )
    code, _, err = finish(start(path))
    assert code == 1
    assert len(err.splitlines()) == 1, err  # the JSON line only: one CloudWatch event


def test_handled_exception_is_logged_at_its_level_and_exits_cleanly(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        class ConcurrencyException(Exception):
            pass
        def main():
            raise ConcurrencyException("cannot acquire lock")
        runtime.run(main, handled={ConcurrencyException: "WARNING"})
        """,
    )
    code, _, err = finish(start(path))
    assert code == runtime.EXIT_OK
    (line,) = json_lines(err)
    assert (line["level"], line["event"]) == ("WARNING", "handled-exit")
    assert line["exception"]["message"] == "cannot acquire lock"
    assert err.splitlines() == [json.dumps(line, ensure_ascii=False)]  # no raw traceback


def test_handled_subclass_matches_its_base(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        import logging
        def main():
            raise FileNotFoundError("missing")
        runtime.run(main, handled={OSError: logging.INFO})
        """,
    )
    code, _, err = finish(start(path))
    assert code == 0
    assert json_lines(err)[0]["level"] == "INFO"


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_signal_finishes_the_current_item_and_exits_zero(tmp_path: Path, stop: int) -> None:
    started, done = tmp_path / "started", tmp_path / "done"
    path = daemon(
        tmp_path,
        f"""
        import itertools, time
        from pathlib import Path
        def main(life):
            for n in life.items(itertools.count()):
                Path({str(started)!r}).write_text(str(n))
                time.sleep(0.5)  # an item of work
                Path({str(done)!r}).write_text(str(n))
        runtime.run(main)
        """,
    )
    process = start(path)
    wait_for(started)
    process.send_signal(stop)
    code, _, err = finish(process)
    assert code == 0
    assert done.read_text() == started.read_text()  # the item in flight was finished
    events = [line["event"] for line in json_lines(err)]
    assert events == ["stop-requested", "stopped"]
    assert json_lines(err)[0]["signal"] == signal.Signals(stop).name


def test_wait_wakes_at_once_on_stop(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    path = daemon(
        tmp_path,
        f"""
        from pathlib import Path
        def main(life):
            Path({str(ready)!r}).touch()
            while not life.wait(60):  # a poller sleeping between polls
                pass
        runtime.run(main)
        """,
    )
    process = start(path)
    wait_for(ready)
    began = time.monotonic()
    process.send_signal(signal.SIGINT)
    code, _, _ = finish(process, timeout=45)
    assert code == 0
    assert time.monotonic() - began < 30  # far short of the 60 s wait; a loaded CPU is slow


def test_second_signal_stops_at_once(tmp_path: Path) -> None:
    started = tmp_path / "started"
    path = daemon(
        tmp_path,
        f"""
        import time
        from pathlib import Path
        def main(life):
            Path({str(started)!r}).touch()
            time.sleep(60)  # an item that does not finish soon
        runtime.run(main)
        """,
    )
    process = start(path)
    wait_for(started)
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    code, _, err = finish(process, timeout=10)
    assert code == 128 + signal.SIGINT
    assert json_lines(err)[-1]["event"] == "stop-forced"


def test_known_item_failure_is_logged_and_the_loop_goes_on(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        class ValidationError(Exception):
            pass
        def main(life):
            for message in life.items(["ok-1", "bad", "ok-2"]):
                with runtime.item(message, handled={ValidationError: "ERROR"}):
                    if message == "bad":
                        raise ValidationError("The message is invalid")
                    print("processed", message)
        runtime.run(main)
        """,
    )
    code, out, err = finish(start(path))
    assert code == 0
    assert out.split() == ["processed", "ok-1", "processed", "ok-2"]
    (line,) = json_lines(err)
    assert (line["event"], line["item"], line["level"]) == ("item-handled", "'bad'", "ERROR")


def test_unknown_item_failure_still_takes_the_process_down(tmp_path: Path) -> None:
    path = daemon(
        tmp_path,
        """
        def main(life):
            for message in life.items(["ok-1", "poison", "ok-2"]):
                with runtime.item(message, handled={ValueError: "ERROR"}):
                    if message == "poison":
                        raise ConnectionError("db gone")
                    print("processed", message)
        runtime.run(main)
        """,
    )
    code, out, err = finish(start(path))
    assert code == 1
    assert out.split() == ["processed", "ok-1"]
    (line,) = json_lines(err)
    assert (line["event"], line["item"]) == ("crash", "'poison'")
    assert line["exception"]["type"] == "builtins.ConnectionError"


def test_runtime_works_without_cdk_on_the_path(tmp_path: Path) -> None:
    # -S: no site-packages at all, so neither aws_cdk nor jsii can be imported.
    script = tmp_path / "probe.py"
    script.write_text(
        "import sys\n"
        "from restart_policy import runtime\n"
        "runtime.run(lambda: None)\n"
        "assert not any(m.startswith(('aws_cdk', 'jsii')) for m in sys.modules), sys.modules\n"
        "print('ok')\n"
    )
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT / "constructs")}
    result = subprocess.run(
        [sys.executable, "-S", str(script)], capture_output=True, text=True, env=env, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr


# --- bad input: refused before main starts ----------------------------------------------


def _never() -> None:
    raise AssertionError("main must not start")


@pytest.mark.parametrize(
    "handled",
    [
        {"ValueError": "WARNING"},
        {KeyboardInterrupt: "WARNING"},
        [ValueError],
        {ValueError(): "INFO"},
    ],
    ids=["name", "not-exception", "list", "instance"],
)
def test_handled_that_is_not_exception_classes_is_a_type_error(handled: Any) -> None:
    with pytest.raises(TypeError, match="handled"):
        runtime.run(_never, handled=handled)


@pytest.mark.parametrize("level", ["LOUD", 13], ids=["name", "number"])
def test_unknown_log_level_is_a_value_error(level: object) -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        runtime.run(_never, handled={ValueError: level})  # type: ignore[dict-item]


def test_log_level_of_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="log level"):
        runtime.run(_never, handled={ValueError: 1.5})  # type: ignore[dict-item]


def test_item_refuses_bad_handled_too() -> None:
    with pytest.raises(TypeError, match="handled"), runtime.item("x", handled={"E": "INFO"}):  # type: ignore[dict-item]
        pass


async def _async_main(life: object) -> None:
    raise AssertionError("main must not start")


def _generator_main(life: object) -> Any:
    yield life


@pytest.mark.parametrize(
    ("make_main", "match"),
    [
        (lambda: _async_main(None), "coroutine object"),
        (lambda: _generator_main, "generator function"),
        (lambda: lambda life, extra: None, "cannot be called either way"),
        (lambda: lambda *, life: None, "cannot be called either way"),
        (lambda: "main", "must be a function"),
    ],
    ids=["coroutine-object", "generator", "two-parameters", "keyword-only", "not-callable"],
)
def test_anything_run_cannot_run_is_a_type_error_before_it_starts(
    make_main: Any, match: str
) -> None:
    # Made here, not at collection: a coroutine object made at collection in a worker
    # that does not run this case is never closed ("never awaited" warning).
    main = make_main()
    try:
        with pytest.raises(TypeError, match=match):
            runtime.run(main)
    finally:
        if hasattr(main, "close"):
            main.close()


async def _async_describe(value: object) -> str:
    return ""


@pytest.mark.parametrize(
    ("describe", "match"),
    [("id", "describe must be a function"), (_async_describe, "coroutine function")],
    ids=["not-callable", "coroutine-function"],
)
def test_a_describe_hook_that_is_not_a_plain_function_is_a_type_error(
    describe: Any, match: str
) -> None:
    with pytest.raises(TypeError, match=match):
        runtime.run(_never, describe=describe)
    with pytest.raises(TypeError, match=match), runtime.item("x", describe=describe):
        pass


@pytest.mark.parametrize(
    ("signals", "match"),
    [((), "stop_signals is empty"), ((signal.SIGKILL,), "SIGKILL cannot be caught")],
    ids=["empty", "sigkill"],
)
def test_stop_signals_that_cannot_stop_gracefully_are_a_value_error(
    signals: tuple[int, ...], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        runtime.run(_never, stop_signals=signals)


def test_submitting_a_coroutine_function_to_the_executor_is_a_type_error() -> None:
    with runtime.executor(max_workers=1) as pool, pytest.raises(TypeError, match="coroutine"):
        pool.submit(_async_describe, "x")


def test_a_lifecycle_of_its_own_lets_the_apps_tests_drive_a_stop() -> None:
    life = runtime.Lifecycle()
    seen = []
    for n in life.items(range(10)):
        seen.append(n)
        if n == 2:
            life.request_stop()
    assert seen == [0, 1, 2]
    assert life.stopping.is_set() and life.wait(60)
    with pytest.raises(runtime.Stopped):
        life.sleep(60)


def test_lifecycles_made_in_the_apps_tests_hold_no_file_descriptors() -> None:
    before = len(os.listdir("/proc/self/fd"))
    lives = [runtime.Lifecycle() for _ in range(300)]
    assert len(os.listdir("/proc/self/fd")) == before
    lives[0].request_stop()
    readable, _, _ = select.select([lives[0].stopping], [], [], 0)
    assert readable == [lives[0].stopping]
