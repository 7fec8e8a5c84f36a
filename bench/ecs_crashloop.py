"""Crash loops on ECS with and without the crash hold, in tests/ecs_harness.py, time compressed.

The harness applies the ECS agent's restart rule (``ShouldRestart``) and serves RestartCount on a
task metadata endpoint v4; when the rule says no, the service replaces the task with a fresh one
(fresh RestartCount, fresh task-scoped volume). The daemons are real processes: a plain Python
daemon under ``python -m restart_policy.hold`` and a ``restart_policy.runtime.run`` daemon.

Set-ups, with the policy's defaults (start window = ``restartAttemptPeriod`` 120 s, back-off 10 s
doubling to 300 s, healthy reset 600 s, jitter +-20 %):
  - ECS alone: the container restart policy, no hold;
  - hold wrapper, and runtime.run: the same, with ``RESTART_POLICY_HOLD`` as WorkerService sets it.

Scenarios: (a) permanent crash 5 s after start, for two hours: starts per hour after the first,
task replacements, replacements per crash; (b) the daemon's database is down for 30 minutes (it
needs 30 s to notice, then exits 1), then back: recovery lag (database back -> connected);
(c) a stop signal during the hold: seconds from SIGTERM to the container's exit (real time, not
scaled; the target is 1 s); (d) permanent crash 150 s after start (past the start window, so ECS
alone restarts it in place at once, for ever): starts per hour after the first.

Time scale: 1 real second = SCALE simulated seconds, for every duration of the policy and the
daemon. Not scaled: process start-up (Python's, ~0.1-0.3 s real here, i.e. 2-6 s simulated) and
the harness's reaction time; ECS alone replaces a task at once, where a real one takes tens of
seconds to provision, so its starts per hour are an upper bound and its replacements per crash
is the figure that carries over.

Run: ``flock /tmp/heavy.lock python -m bench.ecs_crashloop`` (about 9 minutes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.ecs_harness import EcsService, RestartRule

SCALE = 20  # simulated seconds per real second

POLICY = {"start_window": 120, "initial": 10, "maximum": 300, "healthy_reset": 600, "jitter": 0.2}
CRASH_AFTER = 5.0
LATE_CRASH_AFTER = 150.0  # past the start window: ECS alone restarts it in place at once
CONNECT_TIMEOUT = 30.0

DAEMON = """
import sys, time
from pathlib import Path
folder = Path(sys.argv[1])
crash_after, connect_timeout = float(sys.argv[2]), float(sys.argv[3])
with open(folder / "starts", "a") as starts:
    starts.write(f"{time.time()}\\n")
if crash_after > 0:
    time.sleep(crash_after)
    sys.exit(1)
if not (folder / "db-up").exists():
    time.sleep(connect_timeout)
    sys.exit(1)
with open(folder / "connected", "a") as connected:
    connected.write(f"{time.time()}\\n")
while (folder / "db-up").exists():
    time.sleep(0.02)
sys.exit(1)
"""

RUNTIME_DAEMON = """
import sys, time
from pathlib import Path
from restart_policy import runtime
folder = Path(sys.argv[1])
crash_after, connect_timeout = float(sys.argv[2]), float(sys.argv[3])

def main(life):
    with open(folder / "starts", "a") as starts:
        starts.write(f"{time.time()}\\n")
    if crash_after > 0:
        if life.wait(crash_after):
            return
        raise RuntimeError("permanent crash")
    if not (folder / "db-up").exists():
        if life.wait(connect_timeout):
            return
        raise ConnectionError("the database is down")
    with open(folder / "connected", "a") as connected:
        connected.write(f"{time.time()}\\n")
    while (folder / "db-up").exists():
        if life.wait(0.02):
            return
    raise ConnectionError("the connection broke")

runtime.run(main)
"""


@dataclass(frozen=True)
class Setup:
    name: str
    hold: bool
    kind: str  # "wrapper" or "runtime"


SETUPS = [
    Setup("ECS alone", hold=False, kind="wrapper"),
    Setup("ECS + hold wrapper", hold=True, kind="wrapper"),
    Setup("ECS + runtime.run hold", hold=True, kind="runtime"),
]


def scaled(seconds: float) -> float:
    return seconds / SCALE


def command(setup: Setup, folder: Path, *, crash_after: float) -> list[str]:
    args = [str(folder), str(scaled(crash_after)), str(scaled(CONNECT_TIMEOUT))]
    if setup.kind == "runtime":
        (folder / "daemon.py").write_text(RUNTIME_DAEMON)
        return [sys.executable, str(folder / "daemon.py"), *args]
    (folder / "daemon.py").write_text(DAEMON)
    if not setup.hold:
        return [sys.executable, str(folder / "daemon.py"), *args]
    return [
        sys.executable,
        "-m",
        "restart_policy.hold",
        "--",
        sys.executable,
        str(folder / "daemon.py"),
        *args,
    ]


def service(setup: Setup, folder: Path, *, crash_after: float) -> EcsService:
    folder.mkdir(parents=True)
    hold = {k: (v if k == "jitter" else scaled(v)) for k, v in POLICY.items()}
    return EcsService(
        command(setup, folder, crash_after=crash_after),
        folder=folder / "ecs",
        rule=RestartRule(restart_attempt_period=scaled(POLICY["start_window"])),
        hold=hold if setup.hold else None,
        stop_timeout=scaled(120),
    )


def times(path: Path) -> list[float]:
    return [float(x) for x in path.read_text().split()] if path.exists() else []


@dataclass
class Result:
    setup: str
    first_hour_starts: int | None = None
    steady_starts_per_hour: float | None = None
    crashes: int | None = None
    replacements: int | None = None
    restarts_in_place: int | None = None
    outage_starts: int | None = None
    recovery_lag: float | None = None  # simulated seconds
    stop_seconds: list[float] | None = None  # real seconds, one per trial
    late_steady_starts_per_hour: float | None = None  # crash at 150 s, after the first hour
    late_replacements: int | None = None


def permanent(setup: Setup, folder: Path, minutes: float, result: Result) -> None:
    ecs = service(setup, folder, crash_after=CRASH_AFTER)
    began = time.time()
    with ecs:
        time.sleep(scaled(minutes * 60))
        exits = ecs.count("exit")
        replacements = ecs.count("replace")
        restarts = ecs.count("restart")
    hour = scaled(3600)
    starts = [t - began for t in times(folder / "starts")]
    if minutes > 60:
        result.first_hour_starts = sum(1 for t in starts if t < hour)
        later = [t for t in starts if t >= hour]
        result.steady_starts_per_hour = len(later) * 3600 / (minutes * 60 - 3600)
    else:  # a run shorter than the ramp: the overall rate
        result.steady_starts_per_hour = len(starts) * 3600 / (minutes * 60)
    result.crashes = exits
    result.replacements = replacements
    result.restarts_in_place = restarts


def late(setup: Setup, folder: Path, minutes: float, result: Result) -> None:
    """A crash 150 s after start, for ever: restarted in place by ECS alone too."""
    ecs = service(setup, folder, crash_after=LATE_CRASH_AFTER)
    began = time.time()
    with ecs:
        time.sleep(scaled(minutes * 60))
        result.late_replacements = ecs.count("replace")
    later = [t for t in times(folder / "starts") if t - began >= scaled(3600)]
    result.late_steady_starts_per_hour = len(later) * 3600 / (minutes * 60 - 3600)


def outage(setup: Setup, folder: Path, minutes: float, result: Result) -> None:
    ecs = service(setup, folder, crash_after=0)
    (folder / "db-up").touch()
    with ecs:
        deadline = time.monotonic() + 60
        while not times(folder / "connected"):
            assert time.monotonic() < deadline, f"{setup.name}: never connected"
            time.sleep(0.02)
        down = time.time()
        (folder / "db-up").unlink()
        time.sleep(scaled(minutes * 60))
        up = time.time()
        (folder / "db-up").touch()
        before = len(times(folder / "connected"))
        end = time.monotonic() + scaled(2 * (POLICY["maximum"] + POLICY["start_window"]))
        while time.monotonic() < end and len(times(folder / "connected")) == before:
            time.sleep(0.02)
    result.outage_starts = sum(1 for t in times(folder / "starts") if down <= t < up)
    reconnects = [t for t in times(folder / "connected") if t >= up]
    result.recovery_lag = (reconnects[0] - up) * SCALE if reconnects else None


def stop_during_hold(setup: Setup, folder: Path, trials: int, result: Result) -> None:
    seconds: list[float] = []
    for trial in range(trials):
        ecs = service(setup, folder / f"trial-{trial}", crash_after=CRASH_AFTER)
        with ecs:
            deadline = time.monotonic() + 60
            while not any(line.get("event") == "hold" for line in ecs.json_lines()):
                assert time.monotonic() < deadline, f"{setup.name}: no hold line"
                time.sleep(0.02)
            time.sleep(0.2)  # well inside the hold (>= 6 s real)
            took = ecs.stop_task()
        seconds.append(took if took is not None else float("inf"))
    result.stop_seconds = seconds


def run(permanent_minutes: float, outage_minutes: float, trials: int) -> list[Result]:
    scratch = Path(tempfile.mkdtemp(prefix="rp-ecs-crashloop-"))
    results = {setup.name: Result(setup.name) for setup in SETUPS}
    jobs: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
    for index, setup in enumerate(SETUPS):
        result = results[setup.name]
        base = scratch / f"setup-{index}"
        # ECS alone loops as fast as processes start; 20 simulated minutes show its rate.
        minutes = permanent_minutes if setup.hold else min(permanent_minutes, 20)
        jobs.append((permanent, (setup, base / "permanent", minutes, result)))
        jobs.append((outage, (setup, base / "outage", outage_minutes, result)))
        jobs.append((late, (setup, base / "late", max(permanent_minutes, 61), result)))
    threads = [threading.Thread(target=job, args=args) for job, args in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Alone, so that the other scenarios' load does not count against the stop latency.
    for index, setup in enumerate(SETUPS):
        if setup.hold:
            stop_during_hold(
                setup, scratch / f"setup-{index}" / "stop", trials, results[setup.name]
            )
    return [results[setup.name] for setup in SETUPS]


def table(results: list[Result], permanent_minutes: float, outage_minutes: float) -> str:
    lines = [
        "| set-up | starts in the first hour of a permanent crash | starts per hour after that "
        "| task replacements / crashes | starts during a "
        f"{outage_minutes:g}-minute outage | recovery lag after it | stop during the hold "
        "(max of trials) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lag = "never" if r.recovery_lag is None else f"{r.recovery_lag:.0f} s"
        stop = "n/a" if not r.stop_seconds else f"{max(r.stop_seconds):.2f} s"
        lines.append(
            f"| {r.setup} | {'-' if r.first_hour_starts is None else r.first_hour_starts} | "
            f"{r.steady_starts_per_hour:.1f} | "
            f"{r.replacements} / {r.crashes} | {r.outage_starts} | {lag} | {stop} |"
        )
    lines += [
        "",
        "| set-up | crash 150 s after start: starts per hour after the first hour "
        "| task replacements |",
        "| --- | ---: | ---: |",
    ]
    for r in results:
        lines.append(f"| {r.setup} | {r.late_steady_starts_per_hour:.1f} | {r.late_replacements} |")
    return "\n".join(lines)


def verdicts(results: list[Result]) -> list[str]:
    alone, *held = results
    lines = [
        "ECS alone: one task replacement per crash: "
        + ("met" if alone.crashes and alone.replacements == alone.crashes else "MISSED")
        + f" ({alone.replacements} of {alone.crashes})"
    ]
    bound = POLICY["maximum"] + POLICY["start_window"]
    for r in held:
        steady = r.steady_starts_per_hour is not None and r.steady_starts_per_hour <= 15
        lag = r.recovery_lag is not None and r.recovery_lag <= bound
        stop = bool(r.stop_seconds) and max(r.stop_seconds or [9e9]) < 1.0
        lines.append(
            f"{r.setup}: <= 15 starts/hour: {'met' if steady else 'MISSED'}; "
            f"0 task replacements: {'met' if r.replacements == 0 else 'MISSED'}; "
            f"recovery <= {bound:g} s: {'met' if lag else 'MISSED'}; "
            f"stop within 1 s: {'met' if stop else 'MISSED'}; "
            f"late crash <= 15 starts/hour: "
            f"{'met' if (r.late_steady_starts_per_hour or 99) <= 15 else 'MISSED'}"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--permanent-minutes", type=float, default=120)
    parser.add_argument("--outage-minutes", type=float, default=30)
    parser.add_argument("--trials", type=int, default=5, help="stop-during-hold trials per set-up")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = run(args.permanent_minutes, args.outage_minutes, args.trials)
    print(f"time scale 1:{SCALE}; permanent crash {args.permanent_minutes:g} min simulated")
    print(table(results, args.permanent_minutes, args.outage_minutes))
    for line in verdicts(results):
        print(line)
    for r in results:
        if r.stop_seconds:
            print(
                f"{r.setup}: stop during the hold, "
                f"median {statistics.median(r.stop_seconds):.3f} s, "
                f"max {max(r.stop_seconds):.3f} s over {len(r.stop_seconds)} trials"
            )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
