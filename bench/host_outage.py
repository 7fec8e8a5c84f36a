"""Host-wide outage on the real supervisord: 150 programs lose their database together.

Two in three programs die 0.2 s after start (supervisor's start-up retries, then FATAL, then the
back-off agent); one in three dies after its start window (a crash loop past the window). After
the outage the database is back and every program must come back by itself within
``backoff_max`` + start window + 5 s (the jitter never goes past ``backoff_max``).

Time is compressed like ``bench.crashloop``: 1 real second = SCALE simulated seconds for every
duration of the policy and the daemon; supervisor's own retry delays (1, 2, 3 ... s after failed
starts) and its 1 s main-loop tick are not scaled. The outage lasts OUTAGE_REAL real seconds
(5 simulated minutes): a 60 s simulated outage (3-6 real s) would end inside supervisor's own,
unscaled, start-up retries and never reach the agent.

Reported per run: programs RUNNING after the outage and the lag (simulated seconds) for the last
one; the peak number of daemon starts in one simulated second and in one real second (the
stampede a recovering database sees; it includes supervisor's own restarts of the crash loops
past the window, which all started together and so die and respawn together), and the peak of
the agent's own probes in one simulated second; agent and supervisord CPU while the 150
programs back off (% of one core, measured in real time on the compressed run, so with SCALE
times the event rate of a real host: an upper bound; ``bench.backoff_cpu`` measures it at real
speed); agent decisions that would mean a defect (``manual-start``,
``manual-stop``, ``agent-error``).

The daemons are small shell scripts so that 150 of them starting at once measure supervisor and
the agent, not the Python interpreter's start-up. Run: ``python -m bench.host_outage`` (heavy:
under ``flock /tmp/heavy.lock``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.supervisor_harness import Supervisord

SCALE = 10
PROGRAMS = 150
OUTAGE_REAL = 30.0
START_WINDOW = 120 / SCALE
BACKOFF_MAX = 300 / SCALE
SETTINGS = {
    "initial": 10 / SCALE,
    "maximum": BACKOFF_MAX,
    "healthy_reset": 600 / SCALE,
    "start_retries": 5,
    "start_window": START_WINDOW,
    "max_rearms": None,
    "restart_always": True,
}
AGENT = Path(__file__).parents[1] / "constructs" / "restart_policy" / "backoff_agent.py"

DAEMON = """#!/bin/sh
# one line per start; then fail after a connect timeout while the database is down
echo "$(date +%s.%N)" >> "$1/starts"
n=${SUPERVISOR_PROCESS_NAME##*-}
if [ $((n % 3)) -eq 0 ]; then fail_after=$2; else fail_after=0.2; fi
trap 'exit 0' INT TERM
while :; do
  if [ ! -e "$1/db-up" ]; then sleep "$fail_after"; exit 1; fi
  sleep 0.5
done
"""


def sections(folder: Path, programs: int) -> str:
    script = folder / "daemon.sh"
    script.write_text(DAEMON)
    script.chmod(0o755)
    fail_after = START_WINDOW + 1
    command = f"{script} {folder} {fail_after}"
    agent = (
        f"{shlex.quote(sys.executable)} {AGENT} --config {folder / 'backoff.json'} "
        f"--state {folder / 'state.json'}"
    )
    return (
        "[program:daemon]\n"
        f"command={command}\n"
        "process_name=%(program_name)s-%(process_num)d\n"
        f"numprocs={programs}\n"
        f"startsecs={int(START_WINDOW)}\n"
        "startretries=5\n"
        "autorestart=true\n"
        "stopsignal=INT\n"
        "stopasgroup=true\n"
        "stopwaitsecs=10\n"
        "stdout_logfile=NONE\n"
        "stderr_logfile=NONE\n"
        "[eventlistener:restart-policy-backoff]\n"
        f"command={agent}\n"
        "events=PROCESS_STATE,TICK_5\n"
        "buffer_size=4096\n"
        "autorestart=true\n"
        "startsecs=1\n"
        f"stderr_logfile={folder}/agent.log\n"
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    running: int
    lag_simulated: float | None
    bound_simulated: float
    peak_starts_per_simulated_second: int
    peak_starts_per_real_second: int
    peak_probes_per_simulated_second: int  # the agent's own starts, not supervisor's
    starts_during_outage: int
    starts_after: int
    agent_cpu_percent: float
    supervisord_cpu_percent: float
    defects: int


def peak(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    best, first = 0, 0
    for last, stamp in enumerate(stamps):
        while stamp - stamps[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


def one_run(folder: Path, programs: int = PROGRAMS, outage: float = OUTAGE_REAL) -> Run:
    (folder / "backoff.json").write_text(
        json.dumps([{"settings": SETTINGS, "programs": ["daemon"]}])
    )
    bound_real = BACKOFF_MAX + START_WINDOW + 5 / SCALE
    with Supervisord(folder, sections(folder, programs)) as supervisord:
        assert supervisord.process is not None
        agent_pid = supervisord.rpc.supervisor.getProcessInfo("restart-policy-backoff")["pid"]
        cpu0 = (cpu_seconds(agent_pid), cpu_seconds(supervisord.process.pid))
        began = time.time()
        time.sleep(outage)
        cpu1 = (cpu_seconds(agent_pid), cpu_seconds(supervisord.process.pid))
        elapsed = time.time() - began
        (folder / "db-up").touch()
        up = time.time()
        lag: float | None = None
        running = 0
        deadline = up + 3 * bound_real
        while time.time() < deadline:
            infos = supervisord.rpc.supervisor.getAllProcessInfo()
            running = sum(
                1 for i in infos if i["group"] == "daemon" and i["statename"] == "RUNNING"
            )
            if running == programs:
                lag = time.time() - up
                break
            time.sleep(0.25)
    stamps = [float(x) for x in (folder / "starts").read_text().split()]
    log = (folder / "agent.log").read_text().splitlines()
    decisions = [json.loads(line) for line in log if line.startswith("{")]
    probes = [d["at"] for d in decisions if d.get("decision") == "rearm" and d["at"] >= up]
    defects = sum(
        1
        for line in log
        if any(f'"decision": "{d}"' in line for d in ("manual-start", "manual-stop", "agent-error"))
    )
    return Run(
        running=running,
        lag_simulated=None if lag is None else round(lag * SCALE, 1),
        bound_simulated=round(bound_real * SCALE, 1),
        peak_starts_per_simulated_second=peak([s * SCALE for s in stamps if s >= up], 1.0),
        peak_starts_per_real_second=peak([s for s in stamps if s >= up], 1.0),
        peak_probes_per_simulated_second=peak([p * SCALE for p in probes], 1.0),
        starts_during_outage=sum(1 for s in stamps if s < up),
        starts_after=sum(1 for s in stamps if s >= up),
        agent_cpu_percent=round(100 * (cpu1[0] - cpu0[0]) / elapsed, 2),
        supervisord_cpu_percent=round(100 * (cpu1[1] - cpu0[1]) / elapsed, 2),
        defects=defects,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--programs", type=int, default=PROGRAMS)
    parser.add_argument("--outage", type=float, default=OUTAGE_REAL, help="real seconds")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = []
    for n in range(args.runs):
        folder = Path(tempfile.mkdtemp(prefix=f"rp-outage-{n}-"))
        result = one_run(folder, args.programs, args.outage)
        results.append(result)
        print(json.dumps(asdict(result)), flush=True)
    met = all(r.running == args.programs and r.lag_simulated is not None for r in results) and all(
        (r.lag_simulated or 0) <= r.bound_simulated for r in results
    )
    print(
        f"time scale 1:{SCALE}; {args.programs} programs, outage {args.outage * SCALE:.0f} s "
        "simulated;"
        f" all RUNNING within backoff_max + start window + 5 s in {args.runs} of {args.runs} runs:"
        f" {'met' if met else 'MISSED'}"
    )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
