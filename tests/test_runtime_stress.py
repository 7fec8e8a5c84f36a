"""Stop signals delivered at random moments into real daemons: no hang, no lost stop.

Each daemon gets one stop signal (SIGINT or SIGTERM at random) a random 0-30 ms after it says it is
ready, while it polls with ``life.wait(0)`` or ``life.wait(0.001)``, blocks in a read (inside
``life.interruptible()``, or in a zero-argument ``main``), loops on ``time.sleep(0.001)`` in a
zero-argument ``main``, waits for the next item of ``life.aitems``, or floods stderr. A *hang* is
a daemon still alive ``STOP_TIMEOUT`` seconds after the signal; a *lost stop* is one that exited
otherwise than by the graceful stop (exit 0 and a ``stopped`` line). The test counts them; it
asserts no durations, so a loaded machine only makes it slower.

The normal suite sends ``RUNTIME_STRESS_SIGNALS`` signals (default 40). The full run of 1,000 is
heavy: ``RUNTIME_STRESS_SIGNALS=1000 flock /tmp/heavy.lock .venv/bin/pytest -p no:xdist -s
tests/test_runtime_stress.py`` (results in bench/RESULTS.md).
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.test_runtime import child_env

SIGNALS = int(os.environ.get("RUNTIME_STRESS_SIGNALS", "40"))
STOP_TIMEOUT = float(os.environ.get("RUNTIME_STRESS_STOP_TIMEOUT", "30"))
START_TIMEOUT = 120.0
PARALLEL = 4

MODES = {
    "wait0": """
        def main(life):
            print("ready", flush=True)
            while not life.wait(0):
                pass
        """,
    "wait1ms": """
        def main(life):
            print("ready", flush=True)
            while not life.wait(0.001):
                pass
        """,
    "read-interruptible": """
        import sys
        def main(life):
            print("ready", flush=True)
            with life.interruptible():
                sys.stdin.buffer.read()
        """,
    "read-zero-arg": """
        import sys
        def main():
            print("ready", flush=True)
            sys.stdin.buffer.read()
        """,
    "sleep-zero-arg": """
        import time
        def main():
            print("ready", flush=True)
            while True:
                time.sleep(0.001)
        """,
    "aitems": """
        import asyncio
        async def source():
            while True:
                await asyncio.sleep(0.001)
                yield 1
        async def main(life):
            print("ready", flush=True)
            async for message in life.aitems(source()):
                pass
        """,
    "flood": """
        import itertools, sys
        def main(life):
            print("ready", flush=True)
            for n in life.items(itertools.count()):
                print("flood", n, "x" * 100, file=sys.stderr)
        """,
}


def write_daemons(folder: Path) -> dict[str, Path]:
    paths = {}
    for mode, body in MODES.items():
        path = folder / f"{mode}.py"
        path.write_text(
            "from restart_policy import runtime\n" + textwrap.dedent(body) + "runtime.run(main)\n"
        )
        paths[mode] = path
    return paths


def read_ready(process: subprocess.Popen[bytes], timeout: float) -> bool:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        readable, _, _ = select.select([process.stdout], [], [], left)
        if readable:
            chunk = os.read(process.stdout.fileno(), 100)
            if not chunk:
                return False
            data += chunk
    return data.startswith(b"ready")


def one_stop(mode: str, path: Path, folder: Path, index: int, seed: int) -> tuple[str, str, float]:
    """(mode, "ok" | "hang" | "lost: ...", seconds from the signal to the exit)."""
    chooser = random.Random(seed)
    err_path = folder / f"{index}.err"
    with err_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            env=child_env(),
        )
        try:
            if not read_ready(process, START_TIMEOUT):
                process.kill()
                process.wait()
                return mode, "lost: never ready", 0.0
            time.sleep(chooser.uniform(0, 0.03))
            sent = time.monotonic()
            process.send_signal(chooser.choice([signal.SIGINT, signal.SIGTERM]))
            try:
                code = process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                return mode, "hang", STOP_TIMEOUT
            took = time.monotonic() - sent
        finally:
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
    events = []
    for line in err_path.read_bytes().splitlines():
        if line.startswith(b"{"):
            try:
                events.append(json.loads(line)["event"])
            except ValueError:
                events.append("broken-line")
    err_path.unlink()
    if code != 0 or "stopped" not in events:
        return mode, f"lost: exit {code}, events {events[-3:]}", took
    return mode, "ok", took


def test_random_stop_signals_are_never_lost_nor_hung(tmp_path: Path) -> None:
    paths = write_daemons(tmp_path)
    modes = list(MODES)
    seed = int(os.environ.get("RUNTIME_STRESS_SEED", str(random.SystemRandom().randrange(10**6))))
    jobs = [(modes[n % len(modes)], n, seed + n) for n in range(SIGNALS)]
    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(
            pool.map(lambda job: one_stop(job[0], paths[job[0]], tmp_path, job[1], job[2]), jobs)
        )
    outcomes = Counter((mode, outcome.split(":")[0]) for mode, outcome, _ in results)
    slowest = max(took for _, _, took in results)
    summary = {
        "signals": SIGNALS,
        "seed": seed,
        "hangs": sum(1 for _, outcome, _ in results if outcome == "hang"),
        "lost": sum(1 for _, outcome, _ in results if outcome.startswith("lost")),
        "slowest_stop_seconds": round(slowest, 2),
        "by_mode": {f"{mode}/{kind}": count for (mode, kind), count in sorted(outcomes.items())},
    }
    print("\nstress:", json.dumps(summary))
    failures = [f"{mode}: {outcome}" for mode, outcome, _ in results if outcome != "ok"]
    assert not failures, (summary, failures[:10])
