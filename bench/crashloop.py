"""Crash-loop benchmark on the real supervisord, with time compressed.

Three set-ups run the same daemon, whose dependency (a "database") is a file:
  - supervisor's defaults (startsecs=1, startretries=3, autorestart=unexpected);
  - the policy document's settings alone (startsecs=120, startretries=5, autorestart=true),
    i.e. ``RestartPolicy(backoff=None)``;
  - the policy with the library's back-off agent (``RestartPolicy()``), the program rendered
    as under the agent on a host (``autorestart=false``, ``startretries=0``: the agent does
    every restart).
The daemon needs 30 s to notice that the database is down (a connect timeout), then exits 1.

Scenarios: (a) the database is down for 30 minutes, then back; (b) it never comes back
(two hours). Reported per set-up: starts during the outage, starts in the first hour of the
permanent crash (which includes the policy's own 5 start retries and the back-off's ramp) and
per hour after it, and recovery lag (database back -> daemon connected).

Time scale: 1 real second = SCALE simulated seconds. Every duration of the policy and the daemon
is scaled; supervisor's own retry delays (1 s, 2 s, 3 s ... after failed starts; under the
agent, the agent's first-round retries, which copy them) and its 1 s main-loop tick are not, so
they weigh SCALE times more in simulated time than on a real host.

Run: ``python -m bench.crashloop`` (``make bench`` runs it with the other benchmarks).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from restart_policy import LogPolicy, Program, RestartPolicy, render_program
from restart_policy._backoff_listener import AGENT_SOURCE, render_listener, settings_json
from tests.supervisor_harness import Supervisord

SCALE = 20  # simulated seconds per real second
CONNECT_TIMEOUT = 30 / SCALE

DAEMON = """
import signal, sys, time
from pathlib import Path
folder = Path(sys.argv[1])
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
with open(folder / "starts", "a") as starts:
    starts.write(f"{time.time()}\\n")
if not (folder / "db-up").exists():
    time.sleep(float(sys.argv[2]))  # the connect timeout
    sys.exit(1)
with open(folder / "connected", "a") as connected:
    connected.write(f"{time.time()}\\n")
while (folder / "db-up").exists():
    time.sleep(0.05)
sys.exit(1)  # the connection broke
"""


@dataclass(frozen=True)
class Setup:
    name: str
    section: str  # extra settings or a policy
    policy: RestartPolicy | None


def scaled_policy(*, backoff: bool) -> RestartPolicy:
    return RestartPolicy(
        start_window=round(120 / SCALE),
        start_retries=5,
        stop_timeout=round(120 / SCALE),
        backoff=True if backoff else None,
        backoff_initial=10 / SCALE,
        backoff_max=300 / SCALE,
        healthy_reset=600 / SCALE,
    )


SETUPS = [
    Setup("supervisor defaults", "defaults", None),
    Setup("policy document alone", "policy", scaled_policy(backoff=False)),
    Setup("policy + back-off agent", "agent", scaled_policy(backoff=True)),
]


def configure(folder: Path, setup: Setup) -> Supervisord:
    script = folder / "daemon.py"
    script.write_text(DAEMON)
    command = f"{shlex.quote(sys.executable)} {script} {folder} {CONNECT_TIMEOUT}"
    logs = LogPolicy(directory=str(folder))
    if setup.policy is None:
        section = (
            f"[program:daemon]\ncommand={command}\n"
            f"stdout_logfile={folder}/daemon.log\nstderr_logfile={folder}/daemon.err.log\n"
        )
        return Supervisord(folder, section)
    program = Program(name="daemon", command=command)
    # under the agent exactly as on a host: autorestart=false, startretries=0
    section = render_program(program, setup.policy, logs, backoff_agent=bool(setup.policy.backoff))
    if setup.policy.backoff:
        (folder / "backoff.json").write_text(settings_json([program], setup.policy))
        section += render_listener(
            python=shlex.quote(sys.executable),
            agent_path=str(AGENT_SOURCE),
            config_path=str(folder / "backoff.json"),
            state_path=str(folder / "state.json"),
            log_policy=logs,
        )
    return Supervisord(folder, section)


def times(path: Path) -> list[float]:
    return [float(x) for x in path.read_text().split()] if path.exists() else []


@dataclass
class Result:
    setup: str
    outage_restarts: int | None = None
    recovery_lag: float | None = None  # simulated seconds; None: never within the window
    recovered: bool = False
    first_hour: int | None = None  # restarts in the first simulated hour of a permanent crash
    steady_per_hour: float | None = None  # restarts per hour after that


def outage(setup: Setup, folder: Path, outage_seconds: float, watch_seconds: float) -> Result:
    (folder / "db-up").touch()
    with configure(folder, setup):
        deadline = time.monotonic() + 30
        while not times(folder / "connected"):
            assert time.monotonic() < deadline, f"{setup.name}: never connected"
            time.sleep(0.05)
        down = time.time()
        (folder / "db-up").unlink()
        time.sleep(outage_seconds)
        up = time.time()
        (folder / "db-up").touch()
        connected_before = len(times(folder / "connected"))
        end = time.monotonic() + watch_seconds
        while time.monotonic() < end and len(times(folder / "connected")) == connected_before:
            time.sleep(0.05)
    starts = times(folder / "starts")
    during = [t for t in starts if down <= t < up]
    result = Result(setup.name, outage_restarts=len(during))
    reconnects = [t for t in times(folder / "connected") if t >= up]
    if reconnects:
        result.recovered = True
        result.recovery_lag = (reconnects[0] - up) * SCALE
    return result


def permanent(setup: Setup, folder: Path, seconds: float) -> Result:
    began = time.time()
    with configure(folder, setup):
        time.sleep(seconds)
    hour = 3600 / SCALE
    starts = [t - began for t in times(folder / "starts")]
    later = [t for t in starts if t >= hour]
    return Result(
        setup.name,
        first_hour=sum(1 for t in starts if t < hour),
        steady_per_hour=len(later) * 3600 / ((seconds - hour) * SCALE),
    )


def run(outage_minutes: float, permanent_minutes: float) -> list[Result]:
    outage_seconds = outage_minutes * 60 / SCALE
    permanent_seconds = permanent_minutes * 60 / SCALE
    watch_seconds = 2 * 300 / SCALE + 120 / SCALE + 2  # two cool-down caps and a start window
    results: dict[tuple[str, str], Result] = {}
    scratch = Path(tempfile.mkdtemp(prefix="rp-crashloop-"))

    def one(kind: str, setup: Setup) -> None:
        folder = scratch / f"{kind}-{setup.section}"
        folder.mkdir()
        if kind == "outage":
            results[kind, setup.name] = outage(setup, folder, outage_seconds, watch_seconds)
        else:
            results[kind, setup.name] = permanent(setup, folder, permanent_seconds)

    threads = [
        threading.Thread(target=one, args=(kind, setup))
        for kind in ("outage", "permanent")
        for setup in SETUPS
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    merged = []
    for setup in SETUPS:
        merged_result = results["outage", setup.name]
        crash = results["permanent", setup.name]
        merged_result.first_hour = crash.first_hour
        merged_result.steady_per_hour = crash.steady_per_hour
        merged.append(merged_result)
    return merged


def table(results: list[Result], outage_minutes: float) -> str:
    lines = [
        f"| set-up | starts during a {outage_minutes:g}-minute outage | starts in the first hour "
        "of a permanent crash | starts per hour after that | recovery lag after the outage |",
        "| --- | --- | --- | --- | --- |",
    ]
    for result in results:
        lag = "never (left FATAL)" if not result.recovered else f"{result.recovery_lag:.0f} s"
        lines.append(
            f"| {result.setup} | {result.outage_restarts} | {result.first_hour} | "
            f"{result.steady_per_hour:.0f} | {lag} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--outage-minutes", type=float, default=30)
    parser.add_argument("--permanent-minutes", type=float, default=120)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = run(args.outage_minutes, args.permanent_minutes)
    print(
        f"time scale 1:{SCALE} (simulated durations; real run "
        f"{max(args.outage_minutes, args.permanent_minutes) * 60 / SCALE:.0f} s)"
    )
    print(table(results, args.outage_minutes))
    agent = results[-1]
    bounded = agent.steady_per_hour is not None and agent.steady_per_hour <= 15
    recovers = agent.recovered and (agent.recovery_lag or 0) <= 300 + 120
    print(
        f"agent: at most 15 restarts/hour of permanent crash: {'met' if bounded else 'MISSED'}; "
        f"recovery within backoff_max (+ the start window): {'met' if recovers else 'MISSED'}"
    )
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2))


if __name__ == "__main__":
    main()
