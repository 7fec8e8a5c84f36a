"""``python -m restart_policy.hold`` as a real process: pass-through, signals, crash line, bad
input. The hold itself on ECS is in test_hold_ecs.py; here RESTART_POLICY_HOLD is mostly unset."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from restart_policy import hold

TIMEOUT = 60.0


def environment(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONUNBUFFERED", "RESTART_POLICY_HOLD", "ECS_CONTAINER_METADATA_URI_V4")
    }
    env.update(extra)
    return env


def wrapper(*command: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "restart_policy.hold", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(**env),
    )


def run(*command: str, **env: str) -> tuple[int, bytes, bytes]:
    process = wrapper(*command, **env)
    out, err = process.communicate(timeout=TIMEOUT)
    return process.returncode, out, err


def json_lines(stderr: bytes) -> list[dict[str, Any]]:
    return [json.loads(x) for x in stderr.decode().splitlines() if x.startswith("{")]


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def python(code: str) -> list[str]:
    return ["--", sys.executable, "-c", code]


def test_output_passes_through_untouched() -> None:
    code = (
        "import sys; sys.stdout.buffer.write(b'\\x00bin\\xffary\\n'); sys.stderr.write('plain\\n')"
    )
    returncode, out, err = run(*python(code))
    assert returncode == 0
    assert out == b"\x00bin\xffary\n"
    assert err == b"plain\n"


def test_a_clean_exit_writes_no_crash_line() -> None:
    assert run(*python("pass")) == (0, b"", b"")


def test_a_non_zero_exit_is_one_crash_line_and_the_same_code() -> None:
    returncode, _, err = run(*python("import sys; sys.exit(7)"))
    assert returncode == 7
    (line,) = json_lines(err)
    assert line["event"] == "crash"
    assert line["exit_code"] == 7
    assert line["command"][1:] == ["-c", "import sys; sys.exit(7)"]
    assert line["uptime"] >= 0
    assert "signal" not in line


def test_a_child_killed_by_a_signal_exits_128_plus_n() -> None:
    returncode, _, err = run(*python("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))
    assert returncode == 128 + signal.SIGKILL
    (line,) = json_lines(err)
    assert (line["event"], line["exit_code"], line["signal"]) == ("crash", 137, "SIGKILL")


def test_the_command_may_come_without_the_separator() -> None:
    assert run(sys.executable, "-c", "import sys; sys.exit(4)")[0] == 4


def test_every_catchable_signal_is_forwarded(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    got = tmp_path / "got"
    code = f"""
import signal, sys, time, pathlib
seen = []
def on(number, frame):
    seen.append(signal.Signals(number).name)
    pathlib.Path({str(got)!r}).write_text(" ".join(seen))
    if number == signal.SIGTERM:
        sys.exit(0)
for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP, signal.SIGWINCH, signal.SIGTERM):
    signal.signal(s, on)
pathlib.Path({str(ready)!r}).touch()
while True:
    time.sleep(0.05)
"""
    process = wrapper(*python(code))
    wait_for(ready)
    for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH):
        process.send_signal(s)
        deadline = time.monotonic() + TIMEOUT
        while s.name not in (got.read_text() if got.exists() else ""):
            assert time.monotonic() < deadline, f"{s.name} was not forwarded"
            time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0
    assert got.read_text().split() == ["SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGTERM"]
    assert json_lines(err) == []


def test_the_stop_signal_is_forwarded_and_the_exit_is_not_a_crash(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    code = f"import pathlib, time; pathlib.Path({str(ready)!r}).touch(); time.sleep(600)"
    process = wrapper(*python(code))
    wait_for(ready)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 128 + signal.SIGTERM
    (line,) = json_lines(err)
    assert line["event"] == "stopped"
    assert line["stop_signal"] == "SIGTERM"


def test_a_stopped_child_is_not_held(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    code = f"import pathlib, time; pathlib.Path({str(ready)!r}).touch(); time.sleep(600)"
    settings = {"start_window": 600, "initial": 10, "maximum": 300, "healthy_reset": 600}
    process = wrapper(
        *python(code),
        RESTART_POLICY_HOLD=json.dumps({**settings, "jitter": 0.2, "state_dir": str(tmp_path)}),
    )
    wait_for(ready)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 128 + signal.SIGINT
    assert [x["event"] for x in json_lines(err)] == ["stopped"]


def test_a_crash_with_the_hold_configured_holds_then_a_stop_ends_it(tmp_path: Path) -> None:
    settings = {"start_window": 600, "initial": 10, "maximum": 300, "healthy_reset": 600}
    process = wrapper(
        *python("import sys; sys.exit(9)"),
        RESTART_POLICY_HOLD=json.dumps({**settings, "jitter": 0.2, "state_dir": str(tmp_path)}),
    )
    deadline = time.monotonic() + TIMEOUT
    while not list(tmp_path.glob("hold-state*.json")):  # written just before the hold line
        assert time.monotonic() < deadline, "the hold never started"
        time.sleep(0.02)
    assert process.poll() is None
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 9
    events = [x["event"] for x in json_lines(err)]
    # No endpoint and a working state_dir: nothing unusual, so no "partial information" warning.
    assert events == ["crash", "hold", "hold_stopped"]


def test_no_command_is_a_usage_error() -> None:
    returncode, _, err = run()
    assert returncode == 2
    assert b"usage: python -m restart_policy.hold -- CMD [ARGS...]" in err
    assert b"no command given" in err


def test_only_the_separator_is_a_usage_error() -> None:
    returncode, _, err = run("--")
    assert returncode == 2
    assert b"no command given" in err


def test_an_unknown_option_is_a_usage_error() -> None:
    returncode, _, err = run("--verbose", "true")
    assert returncode == 2
    assert b"unknown option '--verbose' (put -- before a command that starts with -)" in err


def test_a_command_that_is_not_found_exits_127_with_a_crash_line() -> None:
    returncode, _, err = run("--", "no-such-command-restart-policy")
    assert returncode == 127
    assert b"restart_policy.hold: no-such-command-restart-policy: command not found" in err
    (line,) = json_lines(err)
    assert (line["event"], line["exit_code"]) == ("crash", 127)


def test_a_file_that_is_not_executable_exits_126(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(stat.S_IRUSR | stat.S_IWUSR)
    if os.access(script, os.X_OK):
        pytest.skip("running as a user that may execute any file")
    returncode, _, err = run("--", str(script))
    assert returncode == 126
    assert f"restart_policy.hold: {script}: permission denied".encode() in err


def test_help_names_the_usage() -> None:
    returncode, out, _ = run("--help")
    assert returncode == 0
    assert out.startswith(b"usage: python -m restart_policy.hold -- CMD [ARGS...]")


def test_forwarded_signals_leave_out_the_uncatchable_and_faults() -> None:
    forwarded = set(hold.forwarded_signals())
    assert {
        signal.SIGTERM,
        signal.SIGINT,
        signal.SIGHUP,
        signal.SIGUSR1,
        signal.SIGWINCH,
    } <= forwarded
    assert not forwarded & {
        signal.SIGKILL,
        signal.SIGSTOP,
        signal.SIGCHLD,
        signal.SIGSEGV,
        signal.SIGPIPE,
    }


def test_the_child_does_not_hold_a_second_time(tmp_path: Path) -> None:
    code = "import os, sys; sys.exit(0 if 'RESTART_POLICY_HOLD' not in os.environ else 5)"
    returncode, _, _ = run(*python(code), RESTART_POLICY_HOLD='{"start_window": 1}')
    assert returncode == 0


def test_a_child_that_never_beats_is_kept_alive_for_the_health_check(tmp_path: Path) -> None:
    heartbeat = tmp_path / "heartbeat"
    ready = tmp_path / "ready"
    process = wrapper(
        *python(f"import pathlib, time; pathlib.Path({str(ready)!r}).touch(); time.sleep(60)"),
        RESTART_POLICY_HEARTBEAT=str(heartbeat),
    )
    try:
        wait_for(ready)
        wait_for(heartbeat)  # the wrapper beats at once for a child that never will
        exit_code, message = hold_health_check(heartbeat)
        assert exit_code == 0, message
    finally:
        process.terminate()
        process.communicate(timeout=TIMEOUT)


def hold_health_check(heartbeat: Path) -> tuple[int, str]:
    from restart_policy import health

    return health.check(str(heartbeat), 300)


def test_the_wrapper_stops_beating_once_the_child_beats_itself(tmp_path: Path) -> None:
    target = tmp_path / "heartbeat"
    beats = hold._ChildBeat(str(target))
    beats.tick()
    assert target.exists()
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))  # someone else (the child) touched it
    beats.tick()
    assert beats.child_beats
    os.utime(target, ns=(5_000_000_000, 5_000_000_000))
    beats.tick()  # a hung runtime child must stay hung for the health check
    assert target.stat().st_mtime_ns == 5_000_000_000


def test_the_wrapper_keeps_beating_while_only_it_beats(tmp_path: Path) -> None:
    target = tmp_path / "heartbeat"
    beats = hold._ChildBeat(str(target))
    beats.tick()
    first = target.stat().st_mtime_ns
    time.sleep(0.01)
    beats.tick()
    assert not beats.child_beats
    assert target.stat().st_mtime_ns >= first


def test_without_a_heartbeat_file_the_wrapper_beats_nothing(tmp_path: Path) -> None:
    beats = hold._ChildBeat(None)
    beats.tick()
    assert list(tmp_path.iterdir()) == []


# ---- issue 15's breaker: a trickling metadata endpoint (defect 1) ----

TRICKLE = """
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "100000"); self.end_headers()
        open(sys.argv[2], "w").close()
        try:
            for _ in range(100000):
                self.wfile.write(b" "); self.wfile.flush(); time.sleep(1)
        except OSError: pass
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(server.server_address[1]))
server.serve_forever()
"""

RUNTIME_CRASH = """
from restart_policy import runtime
def main(life):
    raise RuntimeError("boom")
runtime.run(main)
"""


@pytest.fixture
def trickling(tmp_path: Path) -> Any:
    port_file, asked = tmp_path / "port", tmp_path / "asked"
    server = subprocess.Popen([sys.executable, "-c", TRICKLE, str(port_file), str(asked)])
    try:
        deadline = time.monotonic() + TIMEOUT
        while not port_file.exists() or not port_file.read_text():
            assert time.monotonic() < deadline, "the trickling endpoint never started"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port_file.read_text()}/v4/x", asked
    finally:
        server.kill()
        server.wait()


HOLD_LONG = {"start_window": 600, "initial": 10, "maximum": 300, "healthy_reset": 600}


@pytest.mark.parametrize("kind", ["wrapper", "runtime"])
def test_a_stop_ends_a_trickling_metadata_fetch(
    tmp_path: Path, trickling: tuple[str, Path], kind: str
) -> None:
    url, asked = trickling
    script = tmp_path / "crash.py"
    script.write_text(RUNTIME_CRASH if kind == "runtime" else "import sys; sys.exit(9)\n")
    command = [sys.executable, str(script)]
    if kind == "wrapper":
        command = [sys.executable, "-m", "restart_policy.hold", "--", *command]
    process = subprocess.Popen(
        command,
        stderr=subprocess.PIPE,
        env=environment(
            RESTART_POLICY_HOLD=json.dumps(HOLD_LONG), ECS_CONTAINER_METADATA_URI_V4=url
        ),
    )
    wait_for(asked)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=TIMEOUT)  # before the fix: never, whatever the signal
    assert process.returncode == (1 if kind == "runtime" else 9)
    assert [x["event"] for x in json_lines(err)][-1] == "hold_stopped"


def test_a_trickling_metadata_fetch_gives_up_as_a_whole(
    tmp_path: Path, trickling: tuple[str, Path]
) -> None:
    url, _ = trickling
    process = wrapper(
        *python("import sys; sys.exit(9)"),
        RESTART_POLICY_HOLD=json.dumps(
            {
                **HOLD_LONG,
                "start_window": 0,
                "initial": 0.1,
                "maximum": 0.1,
                "state_dir": str(tmp_path),
            }
        ),
        ECS_CONTAINER_METADATA_URI_V4=url,
    )
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 9
    degraded = [x for x in json_lines(err) if x["event"] == "hold_degraded"]
    assert "no whole answer within 2 s" in degraded[0]["message"]


# ---- issue 15's breaker: defects 3 to 7 ----

SHORT_HOLD = {"start_window": 0, "initial": 0.1, "maximum": 0.1, "healthy_reset": 600}


def crash_events(err: bytes) -> list[str]:
    return [x["event"] for x in json_lines(err) if "crash" in x["event"]]


def test_a_runtime_child_crash_is_counted_once(tmp_path: Path) -> None:
    script = tmp_path / "daemon.py"
    script.write_text(RUNTIME_CRASH)
    returncode, _, err = run("--", sys.executable, str(script))
    assert returncode == 1
    assert crash_events(err) == ["crash", "child-crashed"]
    wrapper_line = json_lines(err)[-1]
    assert (wrapper_line["exit_code"], wrapper_line["reported_by_child"]) == (1, True)


def test_a_shell_child_crash_is_counted_once() -> None:
    returncode, _, err = run("--", "sh", "-c", "exit 3")
    assert returncode == 3
    assert crash_events(err) == ["crash"]


def test_sighup_is_forwarded_without_making_a_later_crash_a_stop(tmp_path: Path) -> None:
    ready, reloaded = tmp_path / "ready", tmp_path / "reloaded"
    code = f"""
import pathlib, signal, sys, time
signal.signal(signal.SIGHUP, lambda n, f: pathlib.Path({str(reloaded)!r}).touch())
pathlib.Path({str(ready)!r}).touch()
while not pathlib.Path({str(reloaded)!r}).exists():
    time.sleep(0.02)
sys.exit(5)
"""
    process = wrapper(*python(code))
    wait_for(ready)
    process.send_signal(signal.SIGHUP)
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 5
    assert [x["event"] for x in json_lines(err)] == ["crash"]


def test_sigquit_ends_the_runtime_hold_with_the_crash_code(tmp_path: Path) -> None:
    script = tmp_path / "daemon.py"
    script.write_text(RUNTIME_CRASH)
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stderr=subprocess.PIPE,
        env=environment(RESTART_POLICY_HOLD=json.dumps({**HOLD_LONG, "state_dir": str(tmp_path)})),
    )
    wait_for(tmp_path / "hold-state.json")  # written just before the hold starts
    process.send_signal(signal.SIGQUIT)
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 1  # not killed by SIGQUIT's default action
    assert [x["event"] for x in json_lines(err)][-1] == "hold_stopped"


def test_the_crash_line_is_json_after_a_partial_line() -> None:
    returncode, _, err = run(*python("import sys; sys.stderr.write('no newline'); sys.exit(4)"))
    assert returncode == 4
    assert err.startswith(b"no newline\n")
    assert crash_events(err) == ["crash"]


@pytest.mark.parametrize("target", ["/dev/full", "closed pipe"])
def test_a_broken_stderr_keeps_the_child_exit_code(target: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "restart_policy.hold", *python("import sys; sys.exit(7)")]
    env = environment(RESTART_POLICY_HOLD=json.dumps({**SHORT_HOLD, "state_dir": str(tmp_path)}))
    if target == "/dev/full":
        with open("/dev/full", "wb") as full:
            process = subprocess.Popen(command, stderr=full, env=env)
    else:
        process = subprocess.Popen(command, stderr=subprocess.PIPE, env=env)
        assert process.stderr is not None
        process.stderr.close()
    assert process.wait(timeout=TIMEOUT) == 7
    assert (tmp_path / "hold-state.json").exists()  # and it held


def test_a_broken_stderr_keeps_the_runtime_crash_code(tmp_path: Path) -> None:
    script = tmp_path / "daemon.py"
    script.write_text(RUNTIME_CRASH)
    with open("/dev/full", "wb") as full:
        process = subprocess.Popen([sys.executable, str(script)], stderr=full, env=environment())
    assert process.wait(timeout=TIMEOUT) == 1


def test_a_closed_stderr_still_holds_and_keeps_the_code(tmp_path: Path) -> None:
    env = environment(RESTART_POLICY_HOLD=json.dumps({**SHORT_HOLD, "state_dir": str(tmp_path)}))
    closing = ["sh", "-c", 'exec "$@" 2>&-', "sh"]
    process = subprocess.Popen(
        [*closing, sys.executable, "-m", "restart_policy.hold", "--", "sh", "-c", "exit 7"], env=env
    )
    assert process.wait(timeout=TIMEOUT) == 7
    assert (tmp_path / "hold-state.json").exists()


def test_a_runtime_crash_after_a_stop_is_not_held(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = tmp_path / "daemon.py"
    script.write_text(
        f"""
import pathlib
from restart_policy import runtime
def main(life):
    pathlib.Path({str(ready)!r}).touch()
    while not life.wait(0.05):
        pass
    raise RuntimeError("failed while stopping")
runtime.run(main)
"""
    )
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stderr=subprocess.PIPE,
        env=environment(RESTART_POLICY_HOLD=json.dumps({**HOLD_LONG, "state_dir": str(tmp_path)})),
    )
    wait_for(ready)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=TIMEOUT)  # before the fix: held for 600 s
    assert process.returncode == 1
    events = [x["event"] for x in json_lines(err)]
    assert events == ["stop-requested", "crash-after-stop"]


def test_the_command_in_the_crash_line_is_bounded() -> None:
    many = [str(n) * 100 for n in range(100)]  # about 10 KiB of arguments
    returncode, _, err = run("--", "sh", "-c", "exit 2", *many)
    assert returncode == 2
    (line,) = json_lines(err)
    assert sum(map(len, line["command"])) < hold.MAX_COMMAND_CHARS + 100
    assert line["command"][-1].endswith("arguments cut]")
