"""Issue 14 breaker: the back-off agent under a real supervisord 4.3, tried as a new user would.

Programs and the agent's listener are rendered by the library itself (``render_program(...,
backoff_agent=True)``, ``render_listener``, ``settings_json``), with short times. Tests marked
``xfail(strict=True)`` reproduce a defect (``defect N`` in the reason); the others are scenarios
that held and guard them. Assertions are on decisions, counts and order, never on durations:
each wait has a generous deadline, so that a loaded 2-core machine only makes the tests slower.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Duration

from restart_policy import LogPolicy, RestartPolicy
from restart_policy._backoff_listener import render_listener, settings_json
from restart_policy.backoff_agent import Observation, Reconciler, Settings
from restart_policy.program import Program, render_program
from tests.supervisor_harness import Supervisord
from tests.test_backoff_agent import AGENT, DAEMON, STARTING, agent_starts, of

pytestmark = pytest.mark.supervisord

LISTENER = "restart-policy-backoff"
SCAN = 7.0  # the agent reads the person's file at least this often (every process: 15 s)


@pytest.fixture(autouse=True)
def default_buffering(monkeypatch: pytest.MonkeyPatch) -> None:
    # children inherit supervisord's environment: keep Python's default output buffering
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)


def policy(**overrides: Any) -> RestartPolicy:
    """Short times; a 2 s start window keeps a loaded machine's interpreter start-up inside."""
    values: dict[str, Any] = {
        "start_window": Duration.seconds(2),
        "start_retries": 2,
        "backoff_initial": Duration.seconds(1),
        "backoff_max": Duration.seconds(4),
        "healthy_reset": Duration.seconds(6),
        "stop_timeout": Duration.seconds(10),
    }
    values.update(overrides)
    return RestartPolicy(**values)


class Host:
    """A supervisord with programs and the agent as the library renders them."""

    def __init__(
        self,
        folder: Path,
        *,
        restart_policy: RestartPolicy | None = None,
        numprocs: int = 1,
        fail_after: float = 0.2,
        state: Path | None = None,
        programs: tuple[str, ...] = ("daemon",),
        extra_sections: str = "",
    ) -> None:
        self.folder = folder
        self.state = folder / "state" / "backoff.json" if state is None else state
        self.config = folder / "backoff.json"
        (folder / "fail_after").write_text(str(fail_after))
        (folder / "daemon.py").write_text(DAEMON)
        self.policy = policy() if restart_policy is None else restart_policy
        self.logs = LogPolicy(directory=str(folder))
        self.numprocs = numprocs
        self.programs = [self.program(name) for name in programs]
        self.config.write_text(settings_json(self.programs, self.policy))
        sections = "".join(
            render_program(p, self.policy, self.logs, backoff_agent=True) + "\n"
            for p in self.programs
        )
        listener = render_listener(
            python=sys.executable,
            agent_path=str(AGENT),
            config_path=str(self.config),
            state_path=str(self.state),
            log_policy=self.logs,
        )
        self.supervisord = Supervisord(folder, sections + listener + extra_sections)

    def program(self, name: str, command: str | None = None) -> Program:
        if command is None:
            command = f"{sys.executable} {self.folder / 'daemon.py'} {self.folder}"
        return Program(
            name=name, command=command, numprocs=self.numprocs, restart_policy=self.policy
        )

    def __enter__(self) -> Host:
        self.supervisord.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.supervisord.stop()

    @property
    def rpc(self) -> Any:
        return self.supervisord.rpc

    def state_of(self, name: str) -> str:
        return self.supervisord.state(name)

    def decisions(self) -> list[dict[str, Any]]:
        path = self.folder / f"{LISTENER}.log"
        if not path.exists():
            return []
        lines = path.read_text(errors="replace").splitlines()
        return [json.loads(x) for x in lines if x.startswith("{") and x.endswith("}")]

    def wait_decisions(
        self, count: int, kind: str, process: str | None = None, timeout: float = 60
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.decisions()
            if len(of(log, kind, process)) >= count:
                return log
            time.sleep(0.2)
        raise AssertionError(f"fewer than {count} {kind!r} decisions: {self.decisions()}")

    def starts(self, name: str = "daemon-0") -> int:
        path = self.folder / f"starts.{name}"
        return len(path.read_text().split()) if path.exists() else 0

    def person(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(AGENT), "--config", str(self.config)]
        command += ["--state", str(self.state), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    def ctl_stop(self, *names: str) -> None:
        """What the host's rp-supervisorctl wrapper does for `stop NAME...`: supervisorctl's
        stop (`group:*` stops the group), then the agent's `stop` with the same names."""
        for name in names:
            try:  # as supervisorctl reads names: a bare NAME is the process NAME:NAME
                if name.endswith((":*", ":")):
                    self.rpc.supervisor.stopProcessGroup(name.split(":", 1)[0])
                else:
                    self.rpc.supervisor.stopProcess(name)
            except Exception:  # NOT_RUNNING during a cool-down: supervisorctl says so
                pass
        self.person("stop", *names)

    def agent_pid(self) -> int:
        return int(self.rpc.supervisor.getProcessInfo(LISTENER)["pid"])

    def kill_agent(self) -> None:
        old = self.agent_pid()
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            info = self.rpc.supervisor.getProcessInfo(LISTENER)
            if info["pid"] and info["pid"] != old and info["statename"] == "RUNNING":
                return
            time.sleep(0.1)
        raise AssertionError("supervisord did not restart the agent")

    def states(self, group: str = "daemon") -> dict[str, str]:
        infos = self.rpc.supervisor.getAllProcessInfo()
        return {f"{i['group']}:{i['name']}": i["statename"] for i in infos if i["group"] == group}

    def wait_all(self, wanted: str, timeout: float, group: str = "daemon") -> dict[str, str]:
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = self.states(group)
            if states and all(s == wanted for s in states.values()):
                return states
            time.sleep(0.5)
        raise AssertionError(f"not all {wanted} after {timeout}s: {states}")

    def status(self) -> dict[str, dict[str, Any]]:
        done = self.person("status")
        lines = [json.loads(x) for x in done.stdout.splitlines()]
        return {line["process"]: line for line in lines}


def update_group(host: Host, group: str) -> None:
    """What `supervisorctl update` does for a changed group: stop, remove, add. An agent's start
    can land between the stop and the removal (STILL_RUNNING): then a person runs it again."""
    for _ in range(10):
        host.rpc.supervisor.stopProcessGroup(group)
        try:
            host.rpc.supervisor.removeProcessGroup(group)
        except Exception as error:
            if "STILL_RUNNING" not in str(error):
                raise
            continue
        host.rpc.supervisor.addProcessGroup(group)
        return
    raise AssertionError(f"{group}: update kept failing with STILL_RUNNING")


def last_decision(log: list[dict[str, Any]], process: str) -> str:
    mine = [d["decision"] for d in log if d.get("process") == process]
    return mine[-1] if mine else ""


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"not {what} after {timeout}s")


# --- robust state ----------------------------------------------------------------------------


def test_an_old_persons_stop_is_not_applied_again_after_an_agent_restart(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state-dir"  # every state write fails; the person's file still works
    state.mkdir()
    (tmp_path / "db-up").touch()
    with Host(tmp_path, state=state) as host:
        host.supervisord.wait_state("daemon:daemon-0", "RUNNING", timeout=60)
        host.ctl_stop("daemon:*")  # a person stops it for maintenance ...
        host.supervisord.wait_state("daemon:daemon-0", "STOPPED", timeout=60)
        host.rpc.supervisor.startProcess("daemon:daemon-0", True)  # ... and starts it again
        time.sleep(SCAN)  # the agent has read the person's file
        (tmp_path / "db-up").unlink()  # later, the database goes away
        host.wait_decisions(1, "backoff", timeout=90)
        mark = len(host.decisions())
        host.kill_agent()  # the agent restarts (an upgrade, an OOM kill, a crash)
        (tmp_path / "db-up").touch()  # the database is back
        # maximum (4 s) + start window (2 s) + wide slack: it must come back by itself
        wait_until(lambda: host.state_of("daemon:daemon-0") == "RUNNING", 90, "RUNNING again")
        log = host.decisions()
    after_kill = log[mark:]
    assert sum(1 for d in after_kill if d["decision"] in STARTING)  # still restarting it
    assert not of(log, "manual-stop")


def test_a_person_command_with_an_unwritable_state_folder_fails_without_a_traceback(
    tmp_path: Path,
) -> None:
    host_files = tmp_path / "var"
    host_files.write_text("a read-only or broken /var/lib")  # no file can be written under it
    host = Host.__new__(Host)  # the command line only: no supervisord
    host.config, host.state = tmp_path / "backoff.json", host_files / "backoff.json"
    host.config.write_text(settings_json([Program(name="daemon", command="/bin/true")], policy()))
    done = host.person("hold", "daemon")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert str(host_files) in done.stderr


# --- a person's intent -----------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["daemon:*", "daemon:"])
def test_a_persons_stop_of_a_group_by_its_group_syntax_cancels_the_cooldown(
    tmp_path: Path, spelling: str
) -> None:
    # supervisorctl reads both spellings as the whole group
    with Host(tmp_path, restart_policy=policy(backoff_initial=Duration.seconds(3))) as host:
        host.wait_decisions(1, "backoff", timeout=60)
        host.ctl_stop(spelling)  # rp-supervisorctl stop daemon:* (or daemon:)
        host.wait_decisions(1, "manual-stop", timeout=30)


def test_a_persons_stop_naming_an_unmanaged_program_too_cancels_the_cooldown(
    tmp_path: Path,
) -> None:
    other = Program(name="other", command="/bin/sleep 1000")
    section = render_program(other, policy(), LogPolicy(directory=str(tmp_path)))
    with Host(
        tmp_path,
        restart_policy=policy(backoff_initial=Duration.seconds(3)),
        extra_sections=section,
    ) as host:
        host.wait_decisions(1, "backoff", timeout=60)
        host.ctl_stop("daemon:*", "other:*")  # rp-supervisorctl stop daemon:* other:*
        host.wait_decisions(1, "manual-stop", timeout=30)


def test_a_persons_stop_of_a_process_by_its_name_cancels_the_cooldown(tmp_path: Path) -> None:
    with Host(tmp_path, restart_policy=policy(backoff_initial=Duration.seconds(3))) as host:
        host.wait_decisions(1, "backoff", timeout=60)
        host.ctl_stop("daemon:daemon-0")
        log = host.wait_decisions(1, "manual-stop", timeout=30)
        time.sleep(3)  # a probe begun before the agent read the stop may still be starting
        count = host.starts()
        time.sleep(10)  # longer than the cap (4 s) and a scan: no probe comes
        assert host.starts() == count
        after = host.decisions()
    assert not of(after[len(log) :], "rearm")
    assert host.status()["daemon:daemon-0"]["phase"] == "person-stopped"


@pytest.mark.parametrize("kind", ["missing", "not-executable"])
def test_a_command_unusable_for_a_while_is_backed_off_and_comes_back_once_it_is_fixed(
    tmp_path: Path, kind: str
) -> None:
    command = tmp_path / "bin" / "daemon"  # a volume mounted late, a package not yet installed
    script = f"#!/bin/sh\nexec {sys.executable} {tmp_path / 'daemon.py'} {tmp_path}\n"
    if kind == "not-executable":  # a deploy that forgot chmod +x
        command.parent.mkdir()
        command.write_text(script)
        command.chmod(0o644)
    host = Host(tmp_path)
    host.programs = [host.program("daemon", str(command))]
    section = render_program(host.programs[0], host.policy, host.logs, backoff_agent=True)
    listener = host.supervisord.conf.read_text().split("[eventlistener:", 1)[1]
    host.supervisord = Supervisord(tmp_path, section + "\n[eventlistener:" + listener)
    with host:
        log = host.wait_decisions(2, "backoff", timeout=90)
        assert {d.get("reason") for d in of(log, "backoff")} & {"rearm-refused", "start-refused"}
        command.parent.mkdir(exist_ok=True)
        command.write_text(script)
        command.chmod(0o755)
        (tmp_path / "db-up").touch()
        # maximum (4 s) + start window (2 s) + wide slack
        host.supervisord.wait_state("daemon:daemon-0", "RUNNING", timeout=90)
        log = host.wait_decisions(1, "recovered", timeout=30)
    assert not of(log, "give-up") and not of(log, "manual-stop")


def test_an_exit_code_in_exit_codes_is_left_exited_under_on_failure(tmp_path: Path) -> None:
    (tmp_path / "exit_code").write_text("3")
    (tmp_path / "db-up").touch()
    on_failure = policy(restart="on-failure", exit_codes=[0, 3])
    with Host(tmp_path, restart_policy=on_failure, fail_after=2.5) as host:
        host.wait_decisions(1, "exited", timeout=60)
        time.sleep(SCAN + 2)  # a scan and a tick: nothing starts it again
        assert host.starts() == 1
        assert host.state_of("daemon:daemon-0") == "EXITED"
        log = host.decisions()
    assert of(log, "exited")[0]["code"] == 3
    assert not [d for d in log if d["decision"] in (*STARTING, "backoff")]


def test_an_exit_code_in_exit_codes_is_restarted_at_once_under_always(tmp_path: Path) -> None:
    (tmp_path / "exit_code").write_text("3")
    (tmp_path / "db-up").touch()
    with Host(tmp_path, restart_policy=policy(exit_codes=[0, 3]), fail_after=2.5) as host:
        wait_until(lambda: host.starts() >= 4, 90, "started four times")
        log = host.decisions()
    assert not of(log, "backoff")
    assert {d["reason"] for d in of(log, "restart")} == {"exit-code"}


def test_a_crash_with_a_code_outside_exit_codes_is_still_a_crash(tmp_path: Path) -> None:
    (tmp_path / "exit_code").write_text("4")
    (tmp_path / "db-up").touch()
    with Host(tmp_path, restart_policy=policy(exit_codes=[0, 3]), fail_after=2.5) as host:
        log = host.wait_decisions(1, "backoff", timeout=90)
    assert of(log, "backoff")[0]["reason"] == "crash-loop"


def test_a_run_started_and_stopped_by_a_person_while_the_agent_was_down_stays_stopped(
    tmp_path: Path,
) -> None:
    (tmp_path / "db-up").touch()
    with Host(tmp_path) as host:
        host.supervisord.wait_state("daemon:daemon-0", "RUNNING", timeout=60)
        time.sleep(SCAN)  # the agent has seen it running
        host.rpc.supervisor.stopProcess(LISTENER)  # an operator stops the agent for a while
        host.rpc.supervisor.stopProcess("daemon:daemon-0")
        host.rpc.supervisor.startProcess("daemon:daemon-0", True)  # a restart by hand ...
        time.sleep(1)
        # ... and a stop of the running program (supervisorctl stop: the agent is told by
        # supervisor's own state, as for any stop of a running program)
        host.rpc.supervisor.stopProcess("daemon:daemon-0")
        count = host.starts()
        host.rpc.supervisor.startProcess(LISTENER, True)
        time.sleep(2 * SCAN)
        assert not of(host.decisions(), "restart")
        assert host.starts() == count
        assert host.state_of("daemon:daemon-0") == "STOPPED"


def test_a_persons_stop_then_start_leaves_the_program_under_the_agent(tmp_path: Path) -> None:
    slow = policy(backoff_initial=Duration.seconds(4), healthy_reset=Duration.seconds(300))
    with Host(tmp_path, restart_policy=slow) as host:
        host.wait_decisions(1, "backoff", timeout=60)
        (tmp_path / "db-up").touch()
        host.ctl_stop("daemon:*")  # a person restarts it by hand, as a script would
        host.rpc.supervisor.startProcess("daemon:daemon-0", True)
        time.sleep(SCAN)
        assert host.state_of("daemon:daemon-0") == "RUNNING"
        mark = len(host.decisions())
        (tmp_path / "db-up").unlink()  # later it crashes
        # a crash after a round is backed off at once (or restarted): either way, acted on
        wait_until(
            lambda: [d for d in host.decisions()[mark:] if d["decision"] in ("restart", "backoff")],
            60,
            "the crash acted on",
        )
        log = host.decisions()
    assert not of(log, "manual-stop")


def test_releasing_one_process_of_a_held_group_releases_it_or_says_why_not(
    tmp_path: Path,
) -> None:
    host = Host.__new__(Host)  # the command line only: no supervisord
    host.config, host.state = tmp_path / "backoff.json", tmp_path / "state" / "backoff.json"
    program = Program(name="daemon", command="/bin/true", numprocs=2)
    host.config.write_text(settings_json([program], policy()))
    host.state.parent.mkdir()
    records: dict[str, dict[str, Any]] = {"daemon:daemon-0": {}, "daemon:daemon-1": {}}
    host.state.write_text(json.dumps({"version": 3, "processes": records}))
    assert host.person("hold", "daemon").returncode == 0
    done = host.person("release", "daemon:daemon-1")
    assert host.status()["daemon:daemon-0"]["held"] is True
    assert done.returncode != 0 or host.status()["daemon:daemon-1"]["held"] is False


def test_a_persons_start_racing_the_agents_restart_after_each_crash(tmp_path: Path) -> None:
    person_starts = 0
    with Host(tmp_path, fail_after=2.5) as host:  # each run passes the start window, then dies
        deadline = time.monotonic() + 120
        while person_starts < 4 and time.monotonic() < deadline:
            if host.state_of("daemon:daemon-0") in ("EXITED", "FATAL"):
                try:  # a person's `supervisorctl start` right after the crash
                    host.rpc.supervisor.startProcess("daemon:daemon-0", False)
                    person_starts += 1
                except Exception:  # ALREADY_STARTED: the agent was first
                    pass
            time.sleep(0.02)
        (tmp_path / "db-up").touch()
        host.wait_all("RUNNING", timeout=90)
        time.sleep(3)
        log = host.decisions()
        count = host.starts()
    assert person_starts >= 1
    assert not of(log, "manual-stop")
    # every daemon start is the autostart, a person's or one the agent decided: never two
    assert count <= 1 + person_starts + agent_starts(log)


def test_a_hold_outlives_an_agent_restart(tmp_path: Path) -> None:
    with Host(tmp_path) as host:
        host.wait_decisions(1, "backoff", timeout=60)
        assert host.person("hold", "daemon").returncode == 0
        host.wait_decisions(1, "hold", timeout=30)
        host.kill_agent()
        time.sleep(3)  # a start already on its way may land
        count = host.starts()
        time.sleep(SCAN + 4)  # longer than the cap and a scan: the held program is left alone
        assert host.starts() == count
        assert host.person("release", "daemon").returncode == 0
        (tmp_path / "db-up").touch()
        host.supervisord.wait_state("daemon:daemon-0", "RUNNING", timeout=60)


def test_a_crash_while_the_agent_is_down_is_restarted_once_it_is_back(tmp_path: Path) -> None:
    (tmp_path / "db-up").touch()
    with Host(tmp_path, fail_after=0.5) as host:
        host.supervisord.wait_state("daemon:daemon-0", "RUNNING", timeout=60)
        time.sleep(SCAN)  # the agent has seen it running
        host.rpc.supervisor.stopProcess(LISTENER)
        (tmp_path / "db-up").unlink()
        host.supervisord.wait_state("daemon:daemon-0", "EXITED", timeout=60)
        time.sleep(2)
        assert host.state_of("daemon:daemon-0") == "EXITED"  # nothing restarts it meanwhile
        (tmp_path / "db-up").touch()
        host.rpc.supervisor.startProcess(LISTENER, True)
        host.supervisord.wait_state("daemon:daemon-0", "RUNNING", timeout=60)
        log = host.wait_decisions(1, "restart", timeout=30)
    assert of(log, "restart")[0]["reason"] in ("crash", "exit-after-healthy-run")


def test_a_process_removed_by_update_mid_round_is_forgotten(tmp_path: Path) -> None:
    with Host(tmp_path, numprocs=3) as host:
        host.wait_decisions(2, "backoff", process="daemon:daemon-2", timeout=90)
        conf = host.supervisord.conf.read_text().replace("numprocs=3", "numprocs=2", 1)
        host.supervisord.conf.write_text(conf)
        assert host.rpc.supervisor.reloadConfig()[0][1] == ["daemon"]
        update_group(host, "daemon")
        mark = len(host.decisions())
        time.sleep(3 * SCAN)  # several rounds at the cap (4 s)
        gone = [d for d in host.decisions()[mark:] if d.get("process") == "daemon:daemon-2"]
    assert len(of(gone, "rearm")) <= 1  # one already under way, then nothing


def test_supervisorctl_update_of_a_group_mid_round_is_not_undone_by_a_probe(
    tmp_path: Path,
) -> None:
    (tmp_path / "fail_after.daemon-0").write_text("1000")  # up, still serving
    (tmp_path / "slow_stop.daemon-0").touch()  # and slow to stop (stopwaitsecs, then KILL)
    slow = policy(stop_timeout=Duration.seconds(20))
    with Host(tmp_path, restart_policy=slow, numprocs=2) as host:
        log = host.wait_decisions(3, "backoff", process="daemon:daemon-1", timeout=90)
        # right after a back-off decision: its probe is at least 1.6 s away
        host.wait_decisions(
            len(of(log, "backoff", "daemon:daemon-1")) + 1, "backoff", "daemon:daemon-1"
        )
        (tmp_path / "db-up").touch()  # the probe will stay up
        host.rpc.supervisor.stopProcessGroup("daemon")  # supervisorctl update: stop ...
        host.rpc.supervisor.removeProcessGroup("daemon")  # ... remove, then add


# --- the host-wide outage --------------------------------------------------------------------


def test_a_process_group_recovers_through_agent_kills_mid_round(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"fail_after.daemon-{i}").write_text("3" if i == 0 else "0.2")
    with Host(tmp_path, numprocs=3) as host:
        host.wait_decisions(3, "backoff", timeout=90)
        for pause in (0.3, 1.7, 0.9, 2.6):  # mid-cool-down and mid-probe, whichever it is
            time.sleep(pause)
            host.kill_agent()
        (tmp_path / "db-up").touch()
        host.wait_all("RUNNING", timeout=120)
        time.sleep(3)  # let the starts already asked for write their line
        log = host.decisions()
    assert not of(log, "manual-stop") and not of(log, "manual-start")
    for i in range(3):
        # the autostart, then at most one start per decision that calls for one
        assert host.starts(f"daemon-{i}") <= 1 + agent_starts(log, f"daemon:daemon-{i}")


def test_an_agent_killed_right_after_its_probe_resumes_the_round(tmp_path: Path) -> None:
    slow_probe = policy(start_window=Duration.seconds(3))
    with Host(tmp_path, restart_policy=slow_probe, fail_after=1.5) as host:
        for _ in range(2):
            log = host.wait_decisions(2, "rearm", timeout=90)
            count = len(of(log, "rearm"))
            log = host.wait_decisions(count + 1, "rearm", timeout=60)
            host.kill_agent()  # the probe is up (it dies 1.5 s after its start): mid-probe
        log = host.wait_decisions(len(of(host.decisions(), "backoff")) + 2, "backoff", timeout=90)
        time.sleep(3)
        count = host.starts()
        log = host.decisions()
    rounds = [d["round"] for d in of(log, "backoff")]
    assert rounds == list(range(1, len(rounds) + 1))  # each round decided once, none lost
    assert not of(log, "manual-start") and not of(log, "manual-stop")
    assert count <= 1 + agent_starts(log)


def test_a_supervisord_restart_mid_round_leaves_no_program_stranded(tmp_path: Path) -> None:
    with Host(tmp_path, numprocs=3) as host:
        host.wait_decisions(4, "backoff", timeout=90)
        host.supervisord.stop()
        host.supervisord.start()  # systemctl restart, a reboot: autostart, then the agent
        before = len(of(host.decisions(), "backoff"))
        host.wait_decisions(before + 3, "backoff", timeout=90)
        (tmp_path / "db-up").touch()
        host.wait_all("RUNNING", timeout=120)
        status = host.status()
    assert all(line.get("phase") != "person-stopped" for line in status.values())


def test_an_overflowing_event_buffer_strands_no_program(tmp_path: Path) -> None:
    host = Host(tmp_path, numprocs=12)
    conf = host.supervisord.conf.read_text().replace("buffer_size=1024", "buffer_size=2")
    host.supervisord.conf.write_text(conf)
    with host:
        host.wait_decisions(12, "backoff", timeout=120)
        (tmp_path / "db-up").touch()
        host.wait_all("RUNNING", timeout=120)
        log = host.decisions()
    assert "overflowed" in host.supervisord.log()  # events were lost: the scans made up for it
    assert not of(log, "manual-start") and not of(log, "manual-stop")


def test_supervisorctl_restart_during_a_cooldown_is_a_persons_start(tmp_path: Path) -> None:
    with Host(tmp_path, restart_policy=policy(backoff_initial=Duration.seconds(4))) as host:
        host.wait_decisions(1, "backoff", timeout=60)
        (tmp_path / "db-up").touch()
        with pytest.raises(Exception, match="NOT_RUNNING"):  # supervisorctl restart: stop ...
            host.rpc.supervisor.stopProcess("daemon:daemon-0")
        host.rpc.supervisor.startProcess("daemon:daemon-0", False)  # ... then start
        log = host.wait_decisions(1, "manual-start", timeout=30)
        host.supervisord.wait_state("daemon:daemon-0", "RUNNING", timeout=60)
        time.sleep(SCAN)
        log = host.decisions()
    kinds = [d["decision"] for d in log]
    assert "rearm" not in kinds[kinds.index("manual-start") :]


def test_supervisorctl_update_of_one_program_leaves_the_others_round_alone(
    tmp_path: Path,
) -> None:
    with Host(tmp_path, programs=("daemon", "other")) as host:
        host.wait_decisions(2, "backoff", process="other:other-0", timeout=90)
        host.wait_decisions(2, "backoff", process="daemon:daemon-0", timeout=90)
        head, other = host.supervisord.conf.read_text().split("[program:other]", 1)
        other = other.replace("stdout_logfile_backups=10", "stdout_logfile_backups=9", 1)
        host.supervisord.conf.write_text(f"{head}[program:other]{other}")
        modified = host.rpc.supervisor.reloadConfig()[0][1]
        assert modified == ["other"]
        for group in modified:
            update_group(host, group)
        mark = len(host.decisions())
        host.wait_decisions(3, "backoff", process="other:other-0", timeout=90)
        (tmp_path / "db-up").touch()
        host.wait_all("RUNNING", timeout=120, group="daemon")
        host.wait_all("RUNNING", timeout=120, group="other")
        log = host.decisions()[mark:]
    assert not of(log, "manual-start", "daemon:daemon-0")
    # its back-off went on from where it was; a reset (round 0 by design) may follow once it has
    # run past healthy_reset (6 s), which a loaded machine lets happen before the log is read
    rounds = [
        d["round"]
        for d in log
        if d.get("process") == "daemon:daemon-0" and d["decision"] != "reset"
    ]
    assert rounds and min(rounds) >= 2


# --- the decision core, with a fake clock ----------------------------------------------------

CORE = Settings(initial=4, maximum=8, healthy_reset=60, start_retries=0, start_window=2)


def test_a_clock_stepped_back_does_not_delay_the_probe_past_the_cap() -> None:
    core = Reconciler({"web": CORE}, rng=random.Random(3))
    now = 1_000_000.5
    failed = Observation("web:web-0", "FATAL", start=1_000_000, stop=1_000_000, now=1_000_000)
    assert [a.decision for a in core.observe(failed, now)] == ["backoff"]
    stepped = now - 3600  # chrony/ntpd steps the clock back an hour
    started = []
    t = stepped
    while t < stepped + CORE.maximum + CORE.start_window + 5:
        started += [a for a in core.tick(t) if a.kind == "start"]
        t += 0.5
    assert started


def test_forty_programs_losing_their_database_together_all_come_back(tmp_path: Path) -> None:
    # The issue's scenario: 40 programs lose the database; 30 die 0.2 s after each start, 10
    # after the start window; it is back after 30 s (or once all 40 have backed off, which a
    # loaded machine can delay past 30 s: a program not yet backed off would then never be).
    names = tuple(f"p{i:02d}" for i in range(40))
    for i, name in enumerate(names):
        (tmp_path / f"fail_after.{name}-0").write_text("3" if i % 4 == 0 else "0.2")
    long_reset = policy(backoff_max=Duration.seconds(8), healthy_reset=Duration.seconds(120))
    with Host(tmp_path, restart_policy=long_reset, programs=names) as host:
        back = time.monotonic() + 30
        deadline = back + 150
        while time.monotonic() < deadline and (
            time.monotonic() < back
            or len({d["process"] for d in of(host.decisions(), "backoff")}) < 40
        ):
            time.sleep(0.5)
        (tmp_path / "db-up").touch()
        # maximum (8 s) + start window (2 s) + wide slack for a loaded machine
        for name in names:
            host.wait_all("RUNNING", timeout=150, group=name)
        time.sleep(3)  # let the starts already asked for write their line
        log = host.decisions()
        counts = {name: host.starts(f"{name}-0") for name in names}
        status = host.status()
    assert not of(log, "manual-start") and not of(log, "manual-stop")
    assert len({d["process"] for d in of(log, "backoff")}) == 40
    phases = [line["phase"] for line in status.values() if "phase" in line]
    assert phases == ["watch"] * 40  # nothing stranded, nothing scheduled
    for name, count in counts.items():
        assert count == 1 + agent_starts(log, f"{name}:{name}-0")  # one start per decision


def test_a_persons_stop_read_after_the_agents_own_probe_still_stops_it() -> None:
    core = Reconciler({"web": CORE}, rng=random.Random(5))
    failed = Observation("web:web-0", "FATAL", start=1_000_000, stop=1_000_000, now=1_000_000)
    assert [a.decision for a in core.observe(failed, 1_000_000.5)] == ["backoff"]
    due = core.records["web:web-0"].due
    assert due is not None
    stop_stamp = due - 0.7  # `rp-supervisorctl stop web` during the cool-down ...
    # ... but the agent, busy with other programs' events, fires the probe before it reads the
    # person's file (it reads it with its scans, every 5 s)
    assert [a.kind for a in core.tick(due)] == ["log", "start"]
    probe = Observation("web:web-0", "STARTING", pid=42, start=int(due), now=int(due))
    core.started(probe, due)
    actions = core.person(set(), {"web": stop_stamp}, due + 2)
    # the stop holds, and the probe that got in first is stopped (defect 11)
    assert [a.decision or a.kind for a in actions] == ["manual-stop", "stop"]
    assert core.records["web:web-0"].phase == "person-stopped"
