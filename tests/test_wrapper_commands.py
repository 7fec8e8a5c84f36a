"""The host's ``rp-supervisorctl`` wrapper, run for real: the script the library renders, against
a real supervisord 4.3 with the real back-off agent (issue 14, Deliver 2).

The wrapper's text comes from ``build_host_files``; only its host paths are swapped for this
test's, each by an exact replacement that must find its string (a change to the wrapper fails
here loudly). Its ``supervisorctl`` is the venv's, pointed at the test's socket. Assertions are
on decisions, states and spawns, never on durations: each wait has a generous deadline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Duration

from restart_policy import LogPolicy, Program, SupervisorInstall
from restart_policy._host_files import (
    AGENT_CONFIG,
    AGENT_PATH,
    AGENT_STATE,
    SUPERVISORD_CONF,
    build_host_files,
)
from restart_policy.program import render_program
from tests.test_backoff_agent import (  # default_buffering: autouse, no PYTHONUNBUFFERED
    AGENT,
    STARTING,
    default_buffering,  # noqa: F401
    of,
)
from tests.test_backoff_agent_breaker import SCAN, Host, policy, wait_until

pytestmark = pytest.mark.supervisord

DAEMON = "daemon:daemon-0"
# longer than the cap (4 s) and the agent's scan of the person's file: a probe would have come
QUIET = 4 + SCAN + 4
NOT_RUNNING = ("STOPPED", "FATAL", "EXITED")
CTL = Path(sys.executable).with_name("supervisorctl")


class Wrapper:
    """``rp-supervisorctl`` as the library renders it, aimed at ``host``'s files."""

    def __init__(self, host: Host) -> None:
        self.host = host
        install = SupervisorInstall.pip_venv()  # the library's default install
        text = build_host_files(host.programs, host.policy, host.logs, install).ctl_wrapper
        bin_dir = host.folder / "bin"
        bin_dir.mkdir(exist_ok=True)
        shim = bin_dir / "supervisorctl"
        shim.write_text(f'#!/bin/sh\nexec {CTL} "$@"\n')
        shim.chmod(0o755)
        swaps = {
            f"{install.bin_dir}/supervisorctl": str(shim),
            SUPERVISORD_CONF: str(host.supervisord.conf),
            install.python: sys.executable,
            AGENT_PATH: str(AGENT),
            AGENT_CONFIG: str(host.config),
            AGENT_STATE: str(host.state),
        }
        for old, new in swaps.items():
            assert old in text, f"the wrapper no longer contains {old!r}:\n{text}"
            text = text.replace(old, new)
        for host_path in ("/etc/", "/var/lib/", "/opt/", "/usr/"):
            assert host_path not in text, f"a host path left in the wrapper:\n{text}"
        self.path = host.folder / "rp-supervisorctl"
        self.path.write_text(text)
        self.path.chmod(0o755)
        self.env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.path), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=self.env,
        )


def ctl_section(folder: Path) -> str:
    """The host's supervisord.conf has one (supervisorctl refuses a file without it)."""
    return f"[supervisorctl]\nserverurl=unix://{folder}/supervisor.sock\n"


def spawns(host: Host, name: str = "daemon-0") -> int:
    """Spawns supervisord logged for ``name``: every start, whoever asked for it."""
    return host.supervisord.log().count(f"spawned: '{name}' with pid")


def since(log: list[dict[str, Any]], mark: int, *kinds: str) -> list[dict[str, Any]]:
    return [d for d in log[mark:] if d.get("process") == DAEMON and d["decision"] in kinds]


def cooling(tmp_path: Path) -> Host:
    """A host whose daemon fails at every start (no ``db-up``): it is backed off."""
    slow = policy(backoff_initial=Duration.seconds(3))
    return Host(tmp_path, restart_policy=slow, extra_sections=ctl_section(tmp_path))


def assert_stays_down(host: Host, mark: int) -> None:
    """No probe after decision ``mark``: supervisor spawns nothing over longer than the cap
    and a scan, and the agent decides no start."""
    wait_until(lambda: host.state_of(DAEMON) in NOT_RUNNING, 60, "down")
    count = spawns(host)
    time.sleep(QUIET)
    assert spawns(host) == count
    assert host.state_of(DAEMON) in NOT_RUNNING
    assert not since(host.decisions(), mark, *STARTING)


@pytest.mark.parametrize("spelling", ["daemon:*", "daemon:", DAEMON])
def test_stop_during_a_cooldown_cancels_it(tmp_path: Path, spelling: str) -> None:
    # supervisorctl's two spellings of a group, and its process's name
    with cooling(tmp_path) as host:
        ctl = Wrapper(host)
        host.wait_decisions(1, "backoff", timeout=60)
        done = ctl("stop", spelling)
        assert done.returncode == 0, done
        log = host.wait_decisions(1, "manual-stop", DAEMON, timeout=30)
        mark = len(log)
        assert_stays_down(host, mark)
        assert host.status()[DAEMON]["phase"] == "person-stopped"


def test_start_after_a_stop_puts_the_program_back_under_the_agent(tmp_path: Path) -> None:
    with cooling(tmp_path) as host:
        ctl = Wrapper(host)
        host.wait_decisions(1, "backoff", timeout=60)
        assert ctl("stop", "daemon:*").returncode == 0
        host.wait_decisions(1, "manual-stop", DAEMON, timeout=30)
        (tmp_path / "db-up").touch()
        done = ctl("start", "daemon:*")  # supervisorctl waits out the start window
        assert done.returncode == 0, done
        assert host.state_of(DAEMON) == "RUNNING"
        wait_until(lambda: host.status()[DAEMON].get("phase") != "person-stopped", 60, "taken")
        mark = len(host.decisions())
        (tmp_path / "db-up").unlink()  # it crashes again: the agent acts on it
        wait_until(
            lambda: since(host.decisions(), mark, "restart", "retry", "backoff"),
            60,
            "acted on by the agent",
        )


def test_hold_is_honoured_and_release_resumes_the_backoff(tmp_path: Path) -> None:
    with cooling(tmp_path) as host:
        ctl = Wrapper(host)
        host.wait_decisions(1, "backoff", timeout=60)
        done = ctl("hold", "daemon")
        assert done.returncode == 0, done
        log = host.wait_decisions(1, "hold", DAEMON, timeout=30)
        status = ctl("backoff-status")
        assert status.returncode == 0, status
        lines = [json.loads(line) for line in status.stdout.splitlines()]
        assert {line["process"]: line["held"] for line in lines}[DAEMON] is True
        assert_stays_down(host, len(log))
        mark = len(host.decisions())
        done = ctl("release", "daemon")
        assert done.returncode == 0, done
        host.wait_decisions(1, "release", DAEMON, timeout=30)
        wait_until(lambda: since(host.decisions(), mark, *STARTING), 60, "probed again")
    assert not of(host.decisions(), "manual-stop")


def test_hold_of_a_program_outside_the_agent_fails_and_says_why(tmp_path: Path) -> None:
    host = cooling(tmp_path)  # the files only: no supervisord is needed to refuse a name
    done = Wrapper(host)("hold", "nosuch")
    assert done.returncode != 0
    assert "not a program under the back-off agent: nosuch" in done.stderr
    assert "managed programs: daemon" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("names", [["other:*"], ["daemon:*", "other:*"]])
def test_stop_of_a_program_outside_the_agent_is_passed_to_supervisor(
    tmp_path: Path, names: list[str]
) -> None:
    (tmp_path / "db-up").touch()
    other = Program(name="other", command="/bin/sleep 1000")
    section = render_program(other, policy(), LogPolicy(directory=str(tmp_path)))
    with Host(tmp_path, extra_sections=section + ctl_section(tmp_path)) as host:
        ctl = Wrapper(host)
        host.supervisord.wait_state("other:other-0", "RUNNING", timeout=60)
        host.supervisord.wait_state(DAEMON, "RUNNING", timeout=60)
        done = ctl("stop", *names)
        assert done.returncode == 0, done
        assert host.state_of("other:other-0") == "STOPPED"
        if "daemon:*" in names:
            assert host.state_of(DAEMON) == "STOPPED"


def test_other_subcommands_go_to_supervisorctl_unchanged(tmp_path: Path) -> None:
    (tmp_path / "db-up").touch()
    with Host(tmp_path, extra_sections=ctl_section(tmp_path)) as host:
        ctl = Wrapper(host)
        host.supervisord.wait_state(DAEMON, "RUNNING", timeout=60)
        done = ctl("status")
        direct = subprocess.run(
            [str(CTL), "--configuration", str(host.supervisord.conf), "status"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == direct.returncode, (done, direct)
    columns = [line.split()[:2] for line in done.stdout.splitlines()]
    assert columns == [line.split()[:2] for line in direct.stdout.splitlines()]
    assert [DAEMON, "RUNNING"] in columns
    assert "restart-policy-backoff" in [c[0] for c in columns]


def test_a_stop_supervisorctl_refuses_leaves_the_program_alone(tmp_path: Path) -> None:
    # RUNNING again after a back-off round, before healthy_reset: the round is not over yet
    slow = policy(backoff_initial=Duration.seconds(3), healthy_reset=Duration.seconds(300))
    with Host(tmp_path, restart_policy=slow, extra_sections=ctl_section(tmp_path)) as host:
        ctl = Wrapper(host)
        host.wait_decisions(1, "backoff", timeout=60)
        (tmp_path / "db-up").touch()
        mark = len(host.wait_decisions(1, "recovered", DAEMON, timeout=60))
        done = ctl("stop", "daemon")
        assert done.returncode != 0 and "no such process" in done.stdout, done
        time.sleep(QUIET)  # the agent has read the person's file
        assert not since(host.decisions(), mark, "manual-stop")
        assert host.state_of(DAEMON) == "RUNNING"
