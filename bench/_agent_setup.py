"""Supervisor sections for the back-off benchmarks, rendered by the library itself.

Programs under the agent look exactly as on a host (``render_program(..., backoff_agent=True)``:
``autorestart=false``, ``startretries=0``), the agent's settings are ``settings_json`` and its
``[eventlistener:...]`` section is ``render_listener``: a benchmark cannot drift from the
product. The daemons' command lines and the policy's times are the benchmark's own.

``BENCH_PROFILE=FOLDER`` runs the agent under cProfile (``_profile_agent.py``); its stats are
written to FOLDER when supervisord stops the agent.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from restart_policy import LogPolicy, Program, RestartPolicy, render_program
from restart_policy._backoff_listener import (
    AGENT_SOURCE,
    LISTENER_NAME,
    render_listener,
    settings_json,
)
from tests.supervisor_harness import Supervisord

PROFILER = Path(__file__).with_name("_profile_agent.py")

#: Start-calling decisions: each asks for exactly one daemon start.
START_DECISIONS = ("restart", "retry", "rearm")
#: Decisions that would mean the agent mistook a start or a stop (none should appear here).
DEFECT_DECISIONS = ("manual-start", "manual-stop", "agent-error", "give-up")

# A shell daemon: one line per start ("NAME STAMP") before anything else.
START_LINE = 'echo "$SUPERVISOR_PROCESS_NAME $(date +%s.%N)" >> "$1/starts"\n'


def agent_sections(folder: Path, program: Program, policy: RestartPolicy) -> str:
    """``program`` as the library renders it under the agent, and the agent's listener."""
    logs = LogPolicy(directory=str(folder))
    (folder / "backoff.json").write_text(settings_json([program], policy), encoding="utf-8")
    python = shlex.quote(sys.executable)
    profile = os.environ.get("BENCH_PROFILE")
    if profile:
        python = f"{python} {PROFILER} {shlex.quote(profile)}"
    return render_program(program, policy, logs, backoff_agent=True) + render_listener(
        python=python,
        agent_path=str(AGENT_SOURCE),
        config_path=str(folder / "backoff.json"),
        state_path=str(folder / "state.json"),
        log_policy=logs,
    )


def host_supervisord(folder: Path, sections: str) -> Supervisord:
    """The test harness's supervisord, at the log level a host's has (``info``, the default
    that ``SupervisorPrograms`` keeps), not the harness's ``debug``: supervisord logs each
    event and call at debug, which is part of what the CPU benchmarks measure."""
    daemon = Supervisord(folder, sections)
    text = daemon.conf.read_text(encoding="utf-8")
    daemon.conf.write_text(text.replace("loglevel=debug\n", "loglevel=info\n"), encoding="utf-8")
    return daemon


def agent_log(folder: Path) -> list[dict[str, Any]]:
    path = folder / f"{LISTENER_NAME}.log"
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def starts(folder: Path) -> list[tuple[str, float]]:
    """Every daemon start: (group:process, stamp), from the daemons' own lines."""
    path = folder / "starts"
    if not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, stamp = line.partition(" ")
        group = name.rsplit("-", 1)[0]
        found.append((f"{group}:{name}", float(stamp)))
    return found


def cpu_seconds(pid: int) -> float:
    """user + system CPU of ``pid`` so far (its own, not its children's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def revision() -> str:
    """The commit measured, and whether the agent's source differs from it (a shared tree)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)

    commit = git("rev-parse", "--short", "HEAD").stdout.strip() or "unknown"
    changed = git("diff", "--quiet", "HEAD", "--", str(AGENT_SOURCE)).returncode != 0
    return f"commit {commit}" + (
        " with backoff_agent.py modified in the work tree" if changed else ""
    )


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def peak(stamps: Iterable[float], window: float = 1.0) -> int:
    """The most stamps in any ``window`` seconds."""
    ordered = sorted(stamps)
    best, first = 0, 0
    for last, stamp in enumerate(ordered):
        while stamp - ordered[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best
