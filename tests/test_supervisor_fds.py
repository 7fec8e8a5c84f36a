"""minfds sized from the process count, on a real supervisord running 250 processes that start
with the usual soft limit of 1,024 open files (systemd's default for a service)."""

from __future__ import annotations

import resource
import subprocess
import time
from pathlib import Path

import pytest

from restart_policy import LogPolicy, Program, RestartPolicy, render_program
from restart_policy._host_files import min_fds
from tests.supervisor_harness import SUPERVISORD, Supervisord

pytestmark = [pytest.mark.supervisord, pytest.mark.e2e]

COUNT = 250


def sections(folder: Path) -> str:
    quick = RestartPolicy(start_window=1, backoff=None)
    logs = LogPolicy(directory=str(folder))
    return "".join(
        render_program(Program(name=f"p{n:03d}", command="/bin/sleep 100000"), quick, logs)
        for n in range(COUNT)
    )


def settle(daemon: Supervisord) -> dict[str, int]:
    """Counts of states once no process is starting any more (generous deadline)."""
    deadline = time.monotonic() + 300
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = {}
        for info in daemon.rpc.supervisor.getAllProcessInfo():
            counts[info["statename"]] = counts.get(info["statename"], 0) + 1
        if not {"STARTING", "BACKOFF"} & set(counts):
            return counts
        time.sleep(1)
    raise AssertionError(f"processes did not settle: {counts}")


def run_with_soft_limit(daemon: Supervisord, soft: int) -> None:
    """Starts supervisord as systemd would without LimitNOFILE: soft limit 1,024."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    daemon.process = subprocess.Popen(
        [SUPERVISORD, "-n", "-c", str(daemon.conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=limit,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            daemon.rpc.supervisor.getState()
            return
        except OSError:
            assert time.monotonic() < deadline, daemon.log()
            time.sleep(0.1)


def test_250_processes_run_with_the_computed_minfds(tmp_path: Path) -> None:
    fds = min_fds(COUNT)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < fds:
        pytest.skip(f"the hard open-files limit ({hard}) is below minfds={fds}")
    daemon = Supervisord(tmp_path, sections(tmp_path), extra="")
    daemon.conf.write_text(
        daemon.conf.read_text().replace("[supervisord]\n", f"[supervisord]\nminfds={fds}\n", 1)
    )
    try:
        run_with_soft_limit(daemon, 1024)
        counts = settle(daemon)
    finally:
        daemon.stop()
    assert counts == {"RUNNING": COUNT}, daemon.log()[-2000:]


def test_without_minfds_250_processes_run_out_of_open_files(tmp_path: Path) -> None:
    """The defect: supervisord's default minfds (1,024) under the default soft limit."""
    daemon = Supervisord(tmp_path, sections(tmp_path))
    try:
        run_with_soft_limit(daemon, 1024)
        counts = settle(daemon)
    finally:
        daemon.stop()
    assert counts.get("FATAL", 0) > 0, counts
    assert "Too many open files" in daemon.log() or "too many open files" in daemon.log().lower()
