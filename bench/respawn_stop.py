"""What a back-off round past the start window costs on the real supervisord 4.3.

supervisor respawns a process that exits after its start window on the very main-loop pass that
hands the EXITED event to listeners (``process.transition`` for EXITED + ``autorestart=true``),
and ``stopProcess`` refuses an EXITED process: no XML-RPC call can prevent that spawn. The agent
stops the respawn as soon as it sees it (a run it did not start, within RESPAWN_WINDOW of the
exit). This counts, per back-off round: the agent's own starts (one probe), supervisor's
respawns (spawned, then stopped), and how many of those respawns got far enough to run the
daemon's first line (a Python daemon, whose interpreter start-up takes tens of milliseconds,
and a shell one).

Run: ``python -m bench.respawn_stop`` (a few processes; about a minute per daemon kind).
"""

from __future__ import annotations

import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

from tests.supervisor_harness import Supervisord

AGENT = Path(__file__).parents[1] / "constructs" / "restart_policy" / "backoff_agent.py"
SETTINGS = {
    "initial": 1,
    "maximum": 2,
    "healthy_reset": 30,
    "start_retries": 1,
    "start_window": 1,
    "max_rearms": None,
    "restart_always": True,
}
PYTHON_DAEMON = """
import sys, time
with open(sys.argv[1] + "/starts", "a") as f:
    f.write(f"{time.time()}\\n")
time.sleep(1.5)
sys.exit(1)
"""
SHELL_DAEMON = """#!/bin/sh
echo "$(date +%s.%N)" >> "$1/starts"
sleep 1.5
exit 1
"""


def measure(kind: str, rounds: int) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix=f"rp-respawn-{kind}-"))
    if kind == "python":
        (folder / "daemon.py").write_text(PYTHON_DAEMON)
        command = f"{shlex.quote(sys.executable)} {folder / 'daemon.py'} {folder}"
    else:
        script = folder / "daemon.sh"
        script.write_text(SHELL_DAEMON)
        script.chmod(0o755)
        command = f"{script} {folder}"
    (folder / "backoff.json").write_text(json.dumps([{"settings": SETTINGS, "programs": ["d"]}]))
    agent = (
        f"{shlex.quote(sys.executable)} {AGENT} --config {folder / 'backoff.json'} "
        f"--state {folder / 'state.json'}"
    )
    sections = (
        f"[program:d]\ncommand={command}\nstartsecs=1\nstartretries=3\nautorestart=true\n"
        "stopsignal=INT\nstopasgroup=true\n"
        "[eventlistener:restart-policy-backoff]\n"
        f"command={agent}\nevents=PROCESS_STATE,TICK_5\nautorestart=true\n"
        f"stderr_logfile={folder}/agent.log\n"
    )
    with Supervisord(folder, sections):
        deadline = time.monotonic() + 60 + 10 * rounds
        while time.monotonic() < deadline:
            log = [json.loads(x) for x in (folder / "agent.log").read_text().splitlines()]
            if sum(1 for d in log if d["decision"] == "backoff") > rounds:
                break
            time.sleep(0.5)
        time.sleep(1)
    log = [json.loads(x) for x in (folder / "agent.log").read_text().splitlines()]
    spawned = (folder / "supervisord.log").read_text().count("spawned: 'd'")
    backoffs = [d for d in log if d["decision"] == "backoff"][: rounds + 1]
    rearms = [d for d in log if d["decision"] == "rearm"][:rounds]
    stops = [d for d in log if d["decision"] == "crash-loop-stop"]
    starts = len((folder / "starts").read_text().split())
    return {
        "daemon": kind,
        "rounds": len(backoffs),
        "agent_starts": len(rearms),
        "respawns_stopped": len(stops),
        "spawns_by_supervisor_log": spawned,
        "daemon_first_lines": starts,
        "respawns_that_ran_the_first_line": starts - (spawned - len(stops)),
        "manual_decisions": sum(1 for d in log if d["decision"].startswith("manual-")),
    }


def main() -> None:
    for kind in ("python", "shell"):
        print(json.dumps(measure(kind, rounds=8)), flush=True)


if __name__ == "__main__":
    main()
