"""End to end (Debian chroot): a host set up by 0.1.0 (its own user data, replayed from
tests/e2e/user_data_0_1_0.sh) is taken over by this release's user data: 0.1.0's unit and
wrapper go, its programs stop before this release's supervisord starts them, and a second run
changes nothing. Debian's own supervisor, and a host's own supervisord.service and
supervisorctl, are left alone."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.assets import serve_assets
from tests.e2e.rootfs import Chroot, chroot
from tests.test_e2e_user_data import (
    DEBIAN_SUPERVISOR,
    SCRIPTS,
    apply,
    statuses,
    supervisord_pid,
    synth_assembly,
    wait_for,
)

pytestmark = pytest.mark.e2e

V010_USER_DATA = Path(__file__).parent / "e2e" / "user_data_0_1_0.sh"
CALLS = "/run/systemctl-standin/calls.log"
STATE = "/var/lib/restart-policy/backoff-state.json"
AGENT = "restart-policy-backoff:restart-policy-backoff"
WORKERS = ["worker:worker-0", "worker:worker-1"]
# What the workers run: counted in /proc to find duplicates.
WORKER_SLEEP = "123456"
# A host's own supervisor, on Debian's package and configuration.
HOSTAPP = "[program:hostapp]\ncommand=sleep 99999\n"
OWN_UNIT = (
    "[Unit]\nDescription=supervisord\n[Service]\n"
    "ExecStart=/usr/bin/supervisord -n -c /etc/supervisor/supervisord.conf\n"
    "[Install]\nWantedBy=multi-user.target\n"
)
OWN_CTL = '#!/bin/sh\nexec /usr/bin/supervisorctl -c /etc/supervisor/supervisord.conf "$@"\n'


def programs() -> list[Any]:
    """The programs of the 0.1.0 user data, for this release."""
    from restart_policy import Program

    return [
        Program(name="worker", command=f"{SCRIPTS}/run.sh", numprocs=2),
        Program(name="crasher", command=f"{SCRIPTS}/crash.sh"),
    ]


def write_scripts(host: Chroot) -> None:
    host.write(f"{SCRIPTS}/run.sh", f"#!/bin/sh\nexec sleep {WORKER_SLEEP}\n", mode=0o755)
    host.write(f"{SCRIPTS}/crash.sh", "#!/bin/sh\nexit 3\n", mode=0o755)


def apply_current(host: Chroot) -> str:
    """Runs this release's user data for ``programs()``; returns the systemctl calls it made."""
    from restart_policy import SupervisorInstall

    user_data, assembly = synth_assembly(programs(), install=SupervisorInstall.preinstalled())
    serve_assets(host, user_data, assembly)
    before = len(calls(host))
    apply(host, user_data)
    return calls(host)[before:]


def calls(host: Chroot) -> str:
    path = host.path(CALLS)
    return path.read_text() if path.exists() else ""


def workers_up(host: Chroot) -> dict[str, int]:
    now = statuses(host)
    alive = ("STARTING", "RUNNING")
    return {n: now[n][1] for n in WORKERS if n in now and now[n][0] in alive and now[n][1]}


def worker_processes(host: Chroot) -> int:
    """Workers alive in this chroot: the ones supervisord names (a worker just started may not
    have reached its exec of sleep yet) and every ``sleep WORKER_SLEEP`` (a duplicate shows).
    Only this chroot's: another xdist worker's test runs the same sleep at the same time."""
    root = str(host.root.resolve())
    pids = set(workers_up(host).values())
    for entry in Path("/proc").iterdir():
        try:
            if os.readlink(entry / "root") != root:
                continue
            if (entry / "cmdline").read_bytes() == f"sleep\0{WORKER_SLEEP}\0".encode():
                pids.add(int(entry.name))
        except (OSError, ValueError):  # not a process, or gone
            continue
    return len(pids)


def start_debian_supervisor(host: Chroot) -> None:
    host.write("/etc/supervisor/conf.d/hostapp.conf", HOSTAPP)
    host.run(DEBIAN_SUPERVISOR, "-c", "/etc/supervisor/supervisord.conf")


def hosts_status(host: Chroot) -> str:
    """The host supervisor's programs with state and pid (not the uptime)."""
    out = host.run("/usr/bin/supervisorctl", "status", check=False, timeout=30).stdout
    return "\n".join(line.split(", uptime")[0] for line in out.splitlines())


def test_a_0_1_0_host_is_taken_over_once_and_debians_supervisor_is_left_alone(
    tmp_path: Path,
) -> None:
    debians = ["/usr/bin/supervisorctl", "/lib/systemd/system/supervisor.service"]
    with chroot(tmp_path) as host:
        write_scripts(host)
        start_debian_supervisor(host)
        wait_for(lambda: "RUNNING" in hosts_status(host), f"hostapp: {hosts_status(host)}")
        debian_status = hosts_status(host)
        debian_files = {path: host.path(path).read_bytes() for path in debians}

        # 0.1.0 sets the host up: its unit runs the programs, its agent keeps a state file.
        apply(host, V010_USER_DATA.read_text())
        assert "systemctl restart supervisord.service" in calls(host)
        wait_for(lambda: len(workers_up(host)) == 2, f"0.1.0: {statuses(host)}")
        wait_for(lambda: host.path(STATE).exists(), "0.1.0's agent wrote no state")
        assert json.loads(host.path(STATE).read_text())["version"] == 1
        old_daemon = supervisord_pid(host)
        old_workers = workers_up(host)

        made = apply_current(host)

        # 0.1.0's unit stopped (its programs first), disabled and gone before ours started.
        disable = made.index("systemctl disable --now supervisord.service")
        assert disable < made.index("systemctl restart restart-policy-supervisord.service")
        assert not host.path("/etc/systemd/system/supervisord.service").exists()
        assert not host.path("/run/systemctl-standin/supervisord.service.enabled").exists()
        assert not os.path.lexists(host.path("/usr/local/bin/supervisorctl"))
        assert not os.path.exists(f"/proc/{old_daemon}")
        assert not any(os.path.exists(f"/proc/{pid}") for pid in old_workers.values())

        # Ours runs the programs, each once, with the agent state 0.1.0 left.
        wait_for(lambda: len(workers_up(host)) == 2, f"0.2.0: {statuses(host)}")
        assert statuses(host)[AGENT][0] in ("STARTING", "RUNNING")
        daemon = supervisord_pid(host)
        assert daemon != old_daemon
        workers = workers_up(host)
        assert worker_processes(host) == 2
        assert host.path(STATE).exists()
        agent_log = host.path("/var/log/supervisor/restart-policy-backoff.log").read_text()
        assert "state-unreadable" not in agent_log

        # Debian's supervisor: same files, same daemon and program, never asked to do anything.
        assert hosts_status(host) == debian_status
        assert {path: host.path(path).read_bytes() for path in debians} == debian_files
        assert "supervisor.service" not in calls(host)

        # A second run finds nothing of 0.1.0's and restarts nothing.
        again = apply_current(host)
        assert "supervisord.service" not in again.replace("restart-policy-supervisord", "")
        assert "systemctl restart" not in again
        assert supervisord_pid(host) == daemon
        assert workers_up(host) == workers
        assert worker_processes(host) == 2


def test_a_hosts_own_supervisord_service_and_supervisorctl_are_left_alone(
    tmp_path: Path,
) -> None:
    """Same names as 0.1.0's, written by the host's people: not touched, not stopped."""
    own = {
        "/etc/systemd/system/supervisord.service": OWN_UNIT,
        "/usr/local/bin/supervisorctl": OWN_CTL,
    }
    with chroot(tmp_path) as host:
        write_scripts(host)
        host.write("/etc/supervisor/conf.d/hostapp.conf", HOSTAPP)
        for path, text in own.items():
            host.write(path, text, mode=0o755)
        host.run("systemctl", "enable", "supervisord.service")
        host.run("systemctl", "start", "supervisord.service")
        wait_for(lambda: "RUNNING" in hosts_status(host), f"hostapp: {hosts_status(host)}")
        status = hosts_status(host)

        made = apply_current(host)

        assert "supervisord.service" not in made.replace("restart-policy-supervisord", "")
        assert {path: host.path(path).read_text() for path in own} == own
        assert host.path("/run/systemctl-standin/supervisord.service.enabled").exists()
        assert (
            host.run("systemctl", "is-active", "supervisord.service", check=False).returncode == 0
        )
        assert hosts_status(host) == status
        wait_for(lambda: len(workers_up(host)) == 2, f"0.2.0: {statuses(host)}")
