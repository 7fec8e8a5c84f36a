"""The back-off agent under a real supervisord 4.3, with short times.

Assertions are on decisions, counts and order, never on durations: each wait has a generous
deadline, so that a loaded 2-core machine only makes the tests slower.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from restart_policy import LogPolicy
from restart_policy._backoff_listener import render_listener
from tests.supervisor_harness import Supervisord

pytestmark = pytest.mark.supervisord

AGENT = Path(__file__).parents[1] / "constructs" / "restart_policy" / "backoff_agent.py"

# A daemon whose dependency is a file: up -> it runs; down -> it fails `fail_after` s after start
# (its own `fail_after.N` file, N its process number, else `fail_after`), exiting `exit_code`;
# with `slow_stop.N` it ignores its stop signal.
DAEMON = """
import os, signal, sys, time
from pathlib import Path
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))  # the policy's stop signal: stop at once
folder = Path(sys.argv[1])
name = os.environ["SUPERVISOR_PROCESS_NAME"]
if (folder / f"slow_stop.{name}").exists():  # a daemon that takes its time to stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
with open(folder / f"starts.{name}", "a") as starts:
    starts.write(f"{time.time()}\\n")
own = folder / f"fail_after.{name}"
fail_after = float((own if own.exists() else folder / "fail_after").read_text())
code = folder / "exit_code"
while True:
    if not (folder / "db-up").exists() or code.exists():
        time.sleep(fail_after)
        sys.exit(int(code.read_text()) if code.exists() else 1)
    time.sleep(0.1)
"""

# Short times; a 2 s start window keeps a loaded machine's slow interpreter start-up inside it.
FAST: dict[str, Any] = {
    "initial": 1,
    "maximum": 4,
    "healthy_reset": 6,
    "start_retries": 2,
    "start_window": 2,
    "max_rearms": None,
    "restart_always": True,
}


@pytest.fixture(autouse=True)
def default_buffering(monkeypatch: pytest.MonkeyPatch) -> None:
    # children inherit supervisord's environment: keep Python's default output buffering
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)


def program_section(tmp_path: Path, name: str, numprocs: int, settings: dict[str, Any]) -> str:
    command = f"{shlex.quote(sys.executable)} {tmp_path / 'daemon.py'} {tmp_path}"
    return (
        f"[program:{name}]\n"
        f"command={command}\n"
        f"process_name=%(program_name)s-%(process_num)d\n"
        f"numprocs={numprocs}\n"
        f"startsecs={settings['start_window']}\n"
        # as the library renders programs under the agent: supervisor restarts nothing itself
        "startretries=0\n"
        "autorestart=false\n"
        "stopsignal=INT\n"
        "stopwaitsecs=10\n"
        f"stdout_logfile={tmp_path}/{name}-%(process_num)d.out\n"
        f"stderr_logfile={tmp_path}/{name}-%(process_num)d.err\n"
    )


def listener_section(tmp_path: Path, state: Path) -> str:
    # the section as the library renders it (PROCESS_STATE only: the agent's own timers, no
    # TICK events), so these tests run the production wake-up path
    return render_listener(
        python=shlex.quote(sys.executable),
        agent_path=str(AGENT),
        config_path=str(tmp_path / "backoff.json"),
        state_path=str(state),
        log_policy=LogPolicy(directory=str(tmp_path)),
    )


def write_settings(tmp_path: Path, settings: dict[str, Any], programs: list[str]) -> None:
    document = [{"settings": settings, "programs": programs}]
    (tmp_path / "backoff.json").write_text(json.dumps(document))


def agent_daemon(
    tmp_path: Path,
    settings: dict[str, Any] | None = None,
    *,
    fail_after: float = 0.2,
    numprocs: int = 1,
    state: Path | None = None,
) -> Supervisord:
    settings = FAST if settings is None else settings
    (tmp_path / "fail_after").write_text(str(fail_after))
    (tmp_path / "daemon.py").write_text(DAEMON)
    write_settings(tmp_path, settings, ["daemon"])
    state = tmp_path / "state" / "backoff.json" if state is None else state
    sections = program_section(tmp_path, "daemon", numprocs, settings)
    return Supervisord(tmp_path, sections + listener_section(tmp_path, state))


def decisions(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "restart-policy-backoff.log"
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{") and line.endswith("}")]


def of(log: list[dict[str, Any]], kind: str, process: str | None = None) -> list[dict[str, Any]]:
    return [
        d
        for d in log
        if d.get("decision") == kind and (process is None or d.get("process") == process)
    ]


def wait_decisions(tmp_path: Path, count: int, kind: str, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(of(decisions(tmp_path), kind)) >= count:
            return decisions(tmp_path)
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} {kind!r} decisions: {decisions(tmp_path)}")


def starts(tmp_path: Path, name: str = "daemon-0") -> list[float]:
    path = tmp_path / f"starts.{name}"
    return [float(x) for x in path.read_text().split()] if path.exists() else []


def agent_starts(log: list[dict[str, Any]], process: str = "daemon:daemon-0") -> int:
    """Starts the agent's decisions call for: one per restart, retry and re-arm."""
    return sum(1 for d in log if d.get("process") == process and d["decision"] in STARTING)


STARTING = ("restart", "retry", "rearm")


def person(
    tmp_path: Path, *args: str, state: Path | None = None
) -> subprocess.CompletedProcess[str]:
    state = tmp_path / "state" / "backoff.json" if state is None else state
    command = [sys.executable, str(AGENT), "--config", str(tmp_path / "backoff.json")]
    command += ["--state", str(state), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def wait_all(supervisord: Supervisord, wanted: str, timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        infos = supervisord.rpc.supervisor.getAllProcessInfo()
        states = {
            f"{i['group']}:{i['name']}": i["statename"] for i in infos if i["group"] == "daemon"
        }
        if states and all(s == wanted for s in states.values()):
            return states
        time.sleep(0.5)
    raise AssertionError(f"not all {wanted} after {timeout}s: {states}")


# --- the rules -------------------------------------------------------------------------------


def test_fatal_is_rearmed_after_jittered_doubling_capped_cooldowns(tmp_path: Path) -> None:
    with agent_daemon(tmp_path):
        before = wait_decisions(tmp_path, 5, "backoff", timeout=120)
        time.sleep(5)  # let the starts already asked for write their line
        count = len(starts(tmp_path))
        log = decisions(tmp_path)
    backoffs = of(log, "backoff")[:5]
    assert [d["base"] for d in backoffs] == [1, 2, 4, 4, 4]  # doubling, then the cap
    for d in backoffs:
        assert 0.8 * d["base"] - 1e-9 <= d["cooldown"] <= min(1.2 * d["base"], 4) + 1e-9
    # the autostart and start_retries (2) retries, 1 s then 2 s apart, then the back-off
    assert [d["attempt"] for d in of(log, "retry")] == [1, 2]
    assert backoffs[0]["reason"] == "start-failed"
    assert {d["reason"] for d in backoffs[1:]} == {"probe-failed"}
    rearms = of(log, "rearm")
    for backoff, rearm in zip(backoffs, rearms, strict=False):
        assert rearm["at"] - backoff["at"] >= backoff["cooldown"] - 0.05
    # every daemon start is the autostart or one the agent decided: one per round, no more
    assert 1 + agent_starts(before) <= count <= 1 + agent_starts(log)


def test_recovers_once_the_dependency_is_back_and_resets_after_clean_running(
    tmp_path: Path,
) -> None:
    with agent_daemon(tmp_path) as supervisord:
        wait_decisions(tmp_path, 2, "backoff", timeout=60)
        (tmp_path / "db-up").touch()
        supervisord.wait_state("daemon:daemon-0", "RUNNING", timeout=60)
        log = wait_decisions(tmp_path, 1, "reset", timeout=60)
    kinds = [d["decision"] for d in log]
    assert kinds.index("recovered") < kinds.index("reset")
    assert of(log, "reset")[0]["round"] == 0


def test_max_rearms_leaves_the_program_stopped(tmp_path: Path) -> None:
    with agent_daemon(tmp_path, {**FAST, "max_rearms": 2}) as supervisord:
        wait_decisions(tmp_path, 1, "give-up", timeout=90)
        count = len(starts(tmp_path))
        time.sleep(6)  # longer than the cap: nothing more happens
        assert len(starts(tmp_path)) == count
        assert supervisord.state("daemon:daemon-0") in ("STOPPED", "FATAL")
    give_up = of(decisions(tmp_path), "give-up")[0]
    assert give_up["round"] == 2
    assert len(of(decisions(tmp_path), "rearm")) == 2


def test_crash_loop_past_the_start_window_costs_one_daemon_start_per_round(
    tmp_path: Path,
) -> None:
    # Each run passes the 2 s start window, then dies: supervisor alone restarts it for ever.
    # healthy_reset far above the 3 s run, so that a slow interpreter start on a loaded machine
    # cannot make a run count as healthy.
    settings = {**FAST, "healthy_reset": 30}
    with agent_daemon(tmp_path, settings, fail_after=3) as supervisord:
        before = wait_decisions(tmp_path, 3, "backoff", timeout=120)
        supervisord.wait_state("daemon:daemon-0", "EXITED", timeout=30)
        time.sleep(5)  # let the starts already asked for write their line
        count = len(starts(tmp_path))
        log = decisions(tmp_path)
    backoffs = of(log, "backoff")[:3]
    assert [d["reason"] for d in backoffs] == ["crash-loop"] * 3
    assert [d["base"] for d in backoffs] == [1, 2, 4]
    assert all(2 <= d["ran"] < 30 for d in backoffs)  # past the window, short of healthy_reset
    # start_retries (2) crashes: the first restarted at once by the agent, the second backs off;
    # then each round is its one probe, and nothing else starts the daemon
    kinds = [d["decision"] for d in log if d["decision"] in ("restart", "backoff", "rearm")]
    assert kinds[:6] == ["restart", "backoff", "rearm", "backoff", "rearm", "backoff"]
    assert 1 + agent_starts(before) <= count <= 1 + agent_starts(log)
    assert not of(log, "manual-start") and not of(log, "manual-stop")


def test_an_expected_exit_code_is_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "exit_code").write_text("0")
    (tmp_path / "db-up").touch()
    # healthy_reset far above the 2.5 s run: the restart must be for the exit code, not health
    with agent_daemon(tmp_path, {**FAST, "healthy_reset": 30}, fail_after=2.5):
        deadline = time.monotonic() + 90
        while len(starts(tmp_path)) < 5 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(starts(tmp_path)) >= 5  # restarted each time (restart=always)
    log = decisions(tmp_path)
    assert not of(log, "backoff")
    assert {d["reason"] for d in of(log, "restart")} == {"exit-code"}


def test_round_count_survives_a_supervisord_restart(tmp_path: Path) -> None:
    daemon = agent_daemon(tmp_path)
    with daemon:
        wait_decisions(tmp_path, 2, "backoff", timeout=60)
    state = json.loads((tmp_path / "state" / "backoff.json").read_text())
    assert state["processes"]["daemon:daemon-0"]["rounds"] >= 2
    rounds = state["processes"]["daemon:daemon-0"]["rounds"]
    with daemon:  # supervisord starts again; the program crash-loops again
        log = wait_decisions(tmp_path, rounds + 1, "backoff", timeout=60)
    assert of(log, "backoff")[rounds]["round"] == rounds + 1


# --- a person's intent -----------------------------------------------------------------------


def test_a_person_starting_the_program_cancels_the_cooldown(tmp_path: Path) -> None:
    with agent_daemon(tmp_path, {**FAST, "initial": 30, "maximum": 60}) as supervisord:
        wait_decisions(tmp_path, 1, "backoff", timeout=60)
        (tmp_path / "db-up").touch()
        supervisord.rpc.supervisor.startProcess("daemon:daemon-0", True)
        log = wait_decisions(tmp_path, 1, "manual-start", timeout=30)
        assert supervisord.state("daemon:daemon-0") == "RUNNING"
    assert not of(log, "rearm")


def test_a_persons_stop_during_the_cooldown_keeps_it_stopped(tmp_path: Path) -> None:
    with agent_daemon(tmp_path, {**FAST, "initial": 3}) as supervisord:
        wait_decisions(tmp_path, 1, "backoff", timeout=60)
        # what the host's supervisorctl wrapper does for `supervisorctl stop daemon:*`
        with pytest.raises(Exception, match="NOT_RUNNING"):
            supervisord.rpc.supervisor.stopProcess("daemon:daemon-0")
        done = person(tmp_path, "stop", "daemon:*")
        assert done.returncode == 0, done.stderr
        wait_decisions(tmp_path, 1, "manual-stop", timeout=30)
        # the agent reads the person's file every 5 s: a probe it began before may still be
        # starting Python (its line not written yet), and is stopped
        time.sleep(3)
        count = len(starts(tmp_path))
        time.sleep(8)  # twice the cap: no probe comes
        assert len(starts(tmp_path)) == count
        (tmp_path / "db-up").touch()
        supervisord.rpc.supervisor.startProcess("daemon:daemon-0", True)  # a person's start
        wait_decisions(tmp_path, 1, "manual-start", timeout=30)
        log = decisions(tmp_path)
    after_stop = log[log.index(of(log, "manual-stop")[0]) :]
    assert not of(after_stop, "rearm")


def test_hold_and_release(tmp_path: Path) -> None:
    with agent_daemon(tmp_path) as supervisord:
        wait_decisions(tmp_path, 1, "backoff", timeout=60)
        held = person(tmp_path, "hold", "daemon")
        assert held.returncode == 0, held.stderr
        wait_decisions(tmp_path, 1, "hold", timeout=30)
        time.sleep(3)  # a start already on its way may land (Python starts slowly under load)
        count = len(starts(tmp_path))
        time.sleep(8)
        assert len(starts(tmp_path)) == count  # held: the agent starts nothing
        status = person(tmp_path, "status")
        assert json.loads(status.stdout.splitlines()[0])["held"] is True
        (tmp_path / "db-up").touch()
        released = person(tmp_path, "release", "daemon")
        assert released.returncode == 0, released.stderr
        wait_decisions(tmp_path, 1, "release", timeout=30)
        supervisord.wait_state("daemon:daemon-0", "RUNNING", timeout=60)
    log = decisions(tmp_path)
    kinds = [d["decision"] for d in log]
    assert "rearm" in kinds[kinds.index("release") :]


def test_hold_of_an_unknown_program_is_an_error(tmp_path: Path) -> None:
    write_settings(tmp_path, FAST, ["daemon"])
    done = person(tmp_path, "hold", "nosuch")
    assert done.returncode == 2
    assert "not a program under the back-off agent: nosuch" in done.stderr
    assert "daemon" in done.stderr


# --- robust state ----------------------------------------------------------------------------


def test_a_state_path_that_is_a_directory_keeps_the_agent_backing_off(tmp_path: Path) -> None:
    state = tmp_path / "state-dir"
    state.mkdir()
    with agent_daemon(tmp_path, state=state):
        log = wait_decisions(tmp_path, 3, "backoff", timeout=90)
    assert of(log, "state-unreadable") or of(log, "state-write-failed")
    assert of(log, "state-write-failed")
    assert len(of(log, "rearm")) >= 2


def test_a_state_path_under_a_file_keeps_the_agent_backing_off(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("not a folder")  # /var read-only or full: no write works
    state = tmp_path / "var" / "backoff.json"
    with agent_daemon(tmp_path, state=state):
        log = wait_decisions(tmp_path, 3, "backoff", timeout=90)
    # once, then once a minute at most (a loaded machine can make the test last past a minute)
    failed = [d["at"] for d in of(log, "state-write-failed")]
    assert failed and all(b - a >= 59 for a, b in itertools.pairwise(failed)), failed
    assert len(of(log, "rearm")) >= 2


@pytest.mark.parametrize(
    "garbage", ["{not json", "[]", '{"version": 2, "processes": {"daemon:daemon-0": 7}}']
)
def test_a_state_file_of_the_wrong_shape_is_replaced(tmp_path: Path, garbage: str) -> None:
    state = tmp_path / "state" / "backoff.json"
    state.parent.mkdir()
    state.write_text(garbage)
    with agent_daemon(tmp_path):
        log = wait_decisions(tmp_path, 1, "backoff", timeout=60)
    assert of(log, "state-unreadable")
    assert json.loads(state.read_text())["version"] == 3


def test_an_agent_restart_mid_round_resumes_the_round(tmp_path: Path) -> None:
    # healthy_reset far above the 3 s run: a slow start on a loaded machine must not reset it
    with agent_daemon(tmp_path, {**FAST, "healthy_reset": 30}, fail_after=3) as supervisord:
        wait_decisions(tmp_path, 1, "backoff", timeout=90)
        info = supervisord.rpc.supervisor.getProcessInfo("restart-policy-backoff")
        os.kill(info["pid"], signal.SIGKILL)  # the agent dies mid-cool-down or mid-probe
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            again = supervisord.rpc.supervisor.getProcessInfo("restart-policy-backoff")
            if again["pid"] and again["pid"] != info["pid"] and again["statename"] == "RUNNING":
                break
            time.sleep(0.2)
        log = wait_decisions(tmp_path, 3, "backoff", timeout=90)
    assert not of(log, "manual-stop") and not of(log, "manual-start")
    assert [d["round"] for d in of(log, "backoff")[:3]] == [1, 2, 3]


def test_settings_reload_forgets_removed_programs(tmp_path: Path) -> None:
    with agent_daemon(tmp_path) as supervisord:
        wait_decisions(tmp_path, 1, "backoff", timeout=60)
        write_settings(tmp_path, FAST, [])
        info = supervisord.rpc.supervisor.getProcessInfo("restart-policy-backoff")
        os.kill(info["pid"], signal.SIGHUP)
        log = wait_decisions(tmp_path, 1, "forgotten", timeout=30)
        count = len(of(log, "rearm"))
        time.sleep(6)
        assert len(of(decisions(tmp_path), "rearm")) <= count + 1  # one already under way
    assert of(log, "settings-reloaded")


# --- a host-wide outage ----------------------------------------------------------------------


def test_many_programs_failing_together_all_come_back(tmp_path: Path) -> None:
    # 24 processes lose their database together: two in three die 0.2 s after start, the
    # others after the start window; it is back 15 s later (or once 20 have backed off, which a
    # loaded machine can delay past 15 s: the others would then never back off).
    for i in range(24):
        (tmp_path / f"fail_after.daemon-{i}").write_text("3" if i % 3 == 0 else "0.2")
    with agent_daemon(tmp_path, numprocs=24) as supervisord:
        back = time.monotonic() + 15
        deadline = back + 165
        while time.monotonic() < deadline and (
            time.monotonic() < back
            or len({d["process"] for d in of(decisions(tmp_path), "backoff")}) < 20
        ):
            time.sleep(0.5)
        (tmp_path / "db-up").touch()
        wait_all(supervisord, "RUNNING", timeout=240)
        log = decisions(tmp_path)
        time.sleep(5)  # let the starts already asked for write their line
        counts = {f"daemon:daemon-{i}": len(starts(tmp_path, f"daemon-{i}")) for i in range(24)}
        after = decisions(tmp_path)
    assert not of(log, "manual-start") and not of(log, "manual-stop")
    assert len({d["process"] for d in of(log, "backoff")}) >= 20
    assert of(log, "recovered")  # the probes brought them back
    # one daemon start per decision, for every program, even with 24 failing at once
    for process, count in counts.items():
        assert 1 + agent_starts(log, process) <= count <= 1 + agent_starts(after, process)
