"""Rendered programs under a real supervisord: retries, FATAL, RUNNING, stop signal, rotation."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import pytest

from restart_policy import LogPolicy, Program, RestartPolicy, render_program
from tests.supervisor_harness import running

pytestmark = pytest.mark.supervisord
PY = shlex.quote(sys.executable)


def script(folder: Path, name: str, body: str) -> str:
    path = folder / f"{name}.py"
    path.write_text(body)
    return f"{PY} {path}"


def logs(folder: Path, **changes: object) -> LogPolicy:
    return LogPolicy(directory=str(folder), **changes)  # type: ignore[arg-type]


def test_crash_loop_makes_start_retries_plus_one_attempts_then_fatal(tmp_path: Path) -> None:
    attempts = tmp_path / "attempts"
    command = script(
        tmp_path,
        "crasher",
        f"open({str(attempts)!r}, 'a').write('x\\n')\nraise SystemExit(1)\n",
    )
    policy = RestartPolicy(start_window=3, start_retries=3)
    section = render_program(Program(name="crasher", command=command), policy, logs(tmp_path))
    with running(tmp_path, section) as supervisord:
        supervisord.wait_state("crasher:crasher-0", "FATAL", timeout=30)
        time.sleep(1.5)  # a further attempt, if any, would show now
        assert supervisord.state("crasher:crasher-0") == "FATAL"
    assert len(attempts.read_text().splitlines()) == 3 + 1
    assert "gave up: crasher-0 entered FATAL state, too many start retries too quickly" in (
        (tmp_path / "supervisord.log").read_text()
    )


def test_healthy_program_reaches_running_after_the_start_window(tmp_path: Path) -> None:
    command = script(tmp_path, "healthy", "import time\nwhile True:\n    time.sleep(1)\n")
    policy = RestartPolicy(start_window=2)
    section = render_program(Program(name="healthy", command=command), policy, logs(tmp_path))
    with running(tmp_path, section) as supervisord:
        supervisord.wait_state("healthy:healthy-0", "RUNNING", timeout=30)
        info = supervisord.rpc.supervisor.getProcessInfo("healthy:healthy-0")
    # STARTING until the start window has passed, by supervisor's own clock and words (the
    # test's clock starts only once supervisord answers, which a loaded machine delays)
    assert info["now"] - info["start"] >= 2
    assert (
        "success: healthy-0 entered RUNNING state, process has stayed up for > than 2 seconds"
        in (tmp_path / "supervisord.log").read_text()
    )


def test_stop_sends_the_policys_signal_and_lets_the_item_finish(tmp_path: Path) -> None:
    marker = tmp_path / "stopped"
    command = script(
        tmp_path,
        "graceful",
        "import signal, time, sys\n"
        "def stop(number, frame):\n"
        "    time.sleep(1)  # finish the current item\n"
        f"    open({str(marker)!r}, 'w').write(signal.Signals(number).name)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGINT, stop)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "while True:\n    time.sleep(0.1)\n",
    )
    policy = RestartPolicy(start_window=1, stop_timeout=10)
    section = render_program(Program(name="graceful", command=command), policy, logs(tmp_path))
    with running(tmp_path, section) as supervisord:
        supervisord.wait_state("graceful:graceful-0", "RUNNING", timeout=15)
        started = time.monotonic()
        supervisord.rpc.supervisor.stopProcess("graceful:graceful-0", True)
        took = time.monotonic() - started
    assert marker.read_text() == "SIGINT"
    assert 1 <= took < 10


def test_stop_kills_after_the_stop_timeout(tmp_path: Path) -> None:
    marker = tmp_path / "stopped"
    command = script(
        tmp_path,
        "stubborn",
        "import signal, time\n"
        f"signal.signal(signal.SIGINT, lambda *a: open({str(marker)!r}, 'a').write('INT\\n'))\n"
        "while True:\n    time.sleep(0.1)\n",
    )
    policy = RestartPolicy(start_window=1, stop_timeout=2)
    section = render_program(Program(name="stubborn", command=command), policy, logs(tmp_path))
    with running(tmp_path, section) as supervisord:
        supervisord.wait_state("stubborn:stubborn-0", "RUNNING", timeout=15)
        started = time.monotonic()
        supervisord.rpc.supervisor.stopProcess("stubborn:stubborn-0", True)
        took = time.monotonic() - started
        info = supervisord.rpc.supervisor.getProcessInfo("stubborn:stubborn-0")
    assert marker.read_text() == "INT\n"  # asked once, then killed
    assert 2 <= took < 9  # supervisor's default stopwaitsecs (10) would take 10 s or more
    assert "SIGKILL" in (tmp_path / "supervisord.log").read_text()
    assert info["statename"] == "STOPPED"


def _wrote_last_line(folder: Path) -> bool:
    # Any of the files: the last line may have been rotated out already, and between
    # supervisor's rename and its reopen the current file does not exist for a moment.
    for path in folder.glob("chatty-0.log*"):
        try:
            if "00399" in path.read_text():
                return True
        except FileNotFoundError:
            continue
    return False


def test_logs_rotate_at_the_maximum_size_with_the_backup_count(tmp_path: Path) -> None:
    command = script(
        tmp_path,
        "chatty",
        "import sys, time\n"
        "for n in range(400):\n"
        "    print('%05d' % n + 'x' * 94, flush=True)\n"
        "    sys.stderr.write('e' * 99 + '\\n'); sys.stderr.flush()\n"
        "    time.sleep(0.01)  # about one line per read of supervisord's\n"
        "while True:\n    time.sleep(1)\n",
    )
    log_policy = logs(tmp_path, max_file_size=2048, backups=2)
    section = render_program(
        Program(name="chatty", command=command), RestartPolicy(start_window=1), log_policy
    )
    with running(tmp_path, section) as supervisord:
        supervisord.wait_state("chatty:chatty-0", "RUNNING", timeout=15)
        deadline = time.monotonic() + 60
        while not _wrote_last_line(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.1)
    for suffix in ("log", "err.log"):
        files = sorted(path.name for path in tmp_path.glob(f"chatty-0.{suffix}*"))
        assert files == [f"chatty-0.{suffix}", f"chatty-0.{suffix}.1", f"chatty-0.{suffix}.2"]
        # Rotated once the file reached the maximum, not before: supervisor rotates after the
        # write that crosses it, and a write is what one read of the pipe got. A loaded machine
        # lets lines pile up between reads: up to 10 (100 ms), still short of a 3 KB maximum.
        for backup in (1, 2):
            assert 2048 <= (tmp_path / f"chatty-0.{suffix}.{backup}").stat().st_size < 2048 + 1000
        assert (tmp_path / f"chatty-0.{suffix}").stat().st_size < 2048 + 1000


# Run with a 10 s start window: the 1.3 s run (plus a slow interpreter start on a loaded
# machine) ends inside it, so each run is a failed start and the retry ends in FATAL.
TAIL = (
    "import sys, time\n"
    "sys.stderr.write('x' * 200 + '\\n'); sys.stderr.flush()\n"
    "time.sleep(1)\n"  # supervisord reads the two writes apart, even on a loaded machine
    "sys.stderr.write('END\\n'); sys.stderr.flush()\n"  # a last chunk shorter than 24 bytes
    "time.sleep(0.3)\n"
    "raise SystemExit(1)\n"
)


def test_the_last_line_a_process_writes_is_kept(tmp_path: Path) -> None:
    command = script(tmp_path, "tail", TAIL)
    section = render_program(
        Program(name="tail", command=command), RestartPolicy(start_window=10, start_retries=1),
        logs(tmp_path),
    )  # fmt: skip
    with running(tmp_path, section) as supervisord:
        supervisord.wait_state("tail:tail-0", "FATAL", timeout=30)
    assert (tmp_path / "tail-0.err.log").read_text().count("END\n") == 2


def test_capture_mode_of_the_policy_document_drops_that_line(tmp_path: Path) -> None:
    # Why render_program leaves out the document's stderr_capture_maxbytes=5MB: with capture
    # mode on, supervisor keeps output shorter than its 24-byte token back, and loses it on exit.
    command = script(tmp_path, "tail", TAIL)
    section = render_program(
        Program(name="tail", command=command), RestartPolicy(start_window=10, start_retries=1),
        logs(tmp_path),
    ) + "stderr_capture_maxbytes=5MB\n"  # fmt: skip
    with running(tmp_path, section) as supervisord:
        supervisord.wait_state("tail:tail-0", "FATAL", timeout=30)
    assert "END" not in (tmp_path / "tail-0.err.log").read_text()
