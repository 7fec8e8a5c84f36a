"""CPU of the back-off agent and supervisord while 150 programs back off, at real speed.

The policy's own times (start window 120 s, 5 start retries, cool-downs from 10 s doubling to
300 s, jittered); 150 programs whose database is down die 0.2 s after each start. supervisor's
start-up retries end after about 15 s (FATAL); from then on only the agent starts anything. CPU
(user + system, from /proc) of the agent and of supervisord is measured over MEASURE seconds
that start WARMUP seconds in, i.e. while every program is in the agent's back-off rounds.
Target: both together at most 5 % of one core on average.

Run: ``python -m bench.backoff_cpu`` (heavy: under ``flock /tmp/heavy.lock``; about 2.5 min).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from tests.supervisor_harness import Supervisord

PROGRAMS = 150
WARMUP = 25.0
MEASURE = 120.0
SETTINGS = {
    "initial": 10,
    "maximum": 300,
    "healthy_reset": 600,
    "start_retries": 5,
    "start_window": 120,
    "max_rearms": None,
    "restart_always": True,
}
AGENT = Path(__file__).parents[1] / "constructs" / "restart_policy" / "backoff_agent.py"
DAEMON = """#!/bin/sh
echo "$(date +%s.%N)" >> "$1/starts"
sleep 0.2
exit 1
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(programs: int, warmup: float, seconds: float) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="rp-backoff-cpu-"))
    script = folder / "daemon.sh"
    script.write_text(DAEMON)
    script.chmod(0o755)
    (folder / "backoff.json").write_text(
        json.dumps([{"settings": SETTINGS, "programs": ["daemon"]}])
    )
    agent = (
        f"{shlex.quote(sys.executable)} {AGENT} --config {folder / 'backoff.json'} "
        f"--state {folder / 'state.json'}"
    )
    sections = (
        f"[program:daemon]\ncommand={script} {folder}\n"
        f"process_name=%(program_name)s-%(process_num)d\nnumprocs={programs}\n"
        "startsecs=120\nstartretries=5\nautorestart=true\nstopsignal=INT\nstopasgroup=true\n"
        "stdout_logfile=NONE\nstderr_logfile=NONE\n"
        "[eventlistener:restart-policy-backoff]\n"
        f"command={agent}\nevents=PROCESS_STATE,TICK_5\nbuffer_size=4096\nautorestart=true\n"
        f"stderr_logfile={folder}/agent.log\n"
    )
    with Supervisord(folder, sections) as supervisord:
        assert supervisord.process is not None
        time.sleep(warmup)
        agent_pid = supervisord.rpc.supervisor.getProcessInfo("restart-policy-backoff")["pid"]
        pids = (agent_pid, supervisord.process.pid)
        before = [cpu_seconds(pid) for pid in pids]
        began = time.time()
        time.sleep(seconds)
        after = [cpu_seconds(pid) for pid in pids]
        elapsed = time.time() - began
        fatal_or_backing_off = sum(
            1
            for info in supervisord.rpc.supervisor.getAllProcessInfo()
            if info["group"] == "daemon" and info["statename"] != "RUNNING"
        )
    stamps = [float(x) for x in (folder / "starts").read_text().split()]
    log = [json.loads(x) for x in (folder / "agent.log").read_text().splitlines()]
    return {
        "programs": programs,
        "seconds": round(elapsed, 1),
        "not_running_at_the_end": fatal_or_backing_off,
        "starts_while_measured": sum(1 for s in stamps if began <= s < began + elapsed),
        "agent_cpu_percent": round(100 * (after[0] - before[0]) / elapsed, 2),
        "supervisord_cpu_percent": round(100 * (after[1] - before[1]) / elapsed, 2),
        "backoff_decisions": sum(1 for d in log if d.get("decision") == "backoff"),
        "defects": sum(
            1 for d in log if d.get("decision") in ("manual-start", "manual-stop", "agent-error")
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--programs", type=int, default=PROGRAMS)
    parser.add_argument("--warmup", type=float, default=WARMUP)
    parser.add_argument("--seconds", type=float, default=MEASURE)
    args = parser.parse_args(argv)
    result = measure(args.programs, args.warmup, args.seconds)
    total = result["agent_cpu_percent"] + result["supervisord_cpu_percent"]
    print(json.dumps(result))
    print(f"agent + supervisord: {total:.2f} % of a core: {'met' if total <= 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
