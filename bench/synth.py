"""Synth cost of WorkerService against the same resources written by hand, and of the checks.

Each run is a fresh process (``bench._synth_app``), as ``cdk synth`` is; variants alternate
within one go so that machine noise hits both alike. CDK's own CloudFormation checker
(``CDK_VALIDATION``) is off: it costs about 1.2 s per synth whatever the app, and would hide the
difference measured here.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Any

COUNTS = (1, 10, 50, 200)


def run_once(variant: str, count: int) -> dict[str, float]:
    env = dict(os.environ, CDK_VALIDATION="false")
    with tempfile.TemporaryDirectory(prefix="rp-bench-") as outdir:
        result = subprocess.run(
            [sys.executable, "-m", "bench._synth_app", variant, str(count), outdir],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
    line = [x for x in result.stdout.splitlines() if x.startswith("{")][-1]
    data: dict[str, float] = json.loads(line)
    return data


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def overhead(repeats: int = 5) -> list[dict[str, Any]]:
    rows = []
    for count in COUNTS:
        runs: dict[str, list[dict[str, float]]] = {"hand": [], "library": []}
        for _ in range(repeats):
            for variant in ("hand", "library"):  # alternating
                runs[variant].append(run_once(variant, count))
        hand, library = median_of(runs["hand"]), median_of(runs["library"])
        alarms = run_once("library-alarms", count)
        rows.append(
            {
                "n": count,
                "hand": hand,
                "library": library,
                "alarms": alarms,
                "construct_ratio": library["construct_s"] / hand["construct_s"],
                "synth_ratio": library["synth_s"] / hand["synth_s"],
                "total_ratio": (library["construct_s"] + library["synth_s"])
                / (hand["construct_s"] + hand["synth_s"]),
            }
        )
        print(f"  N={count}: done", file=sys.stderr)
    return rows


def checks_cost(count: int = 200, repeats: int = 5) -> dict[str, float]:
    """The checks' own time (their validate(), timed in the process) against synth time, and
    CDK's cost of running any plugin (a plugin that does nothing), both on N services."""
    plain, noop, checked = [], [], []
    for _ in range(repeats):
        plain.append(run_once("library", count))
        noop.append(run_once("library-noop", count))
        checked.append(run_once("library-checks", count))
    base, empty, with_checks = median_of(plain), median_of(noop), median_of(checked)
    whole = base["import_s"] + base["construct_s"] + base["synth_s"]
    return {
        "n": count,
        "synth_s": base["synth_s"],
        "whole_s": whole,
        "checks_s": with_checks["checks_s"],
        "share_of_synth": with_checks["checks_s"] / base["synth_s"],
        "share_of_whole": with_checks["checks_s"] / whole,
        "noop_synth_s": empty["synth_s"],
        "checks_synth_s": with_checks["synth_s"],
    }


def overhead_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| services | resources | hand: construct / synth | WorkerService: construct / synth | "
        "ratio (construct + synth) | peak RSS hand / library | with alarms: resources, "
        "construct + synth |",
        "| ---: | ---: | --- | --- | ---: | --- | --- |",
    ]
    for row in rows:
        hand, lib, alarms = row["hand"], row["library"], row["alarms"]
        lines.append(
            f"| {row['n']} | {lib['resources']:.0f} | {hand['construct_s']:.2f} s / "
            f"{hand['synth_s']:.2f} s | {lib['construct_s']:.2f} s / {lib['synth_s']:.2f} s | "
            f"{row['total_ratio']:.2f}x | {hand['rss_mib']:.0f} / {lib['rss_mib']:.0f} MiB | "
            f"{alarms['resources']:.0f}, {alarms['construct_s'] + alarms['synth_s']:.2f} s |"
        )
    return "\n".join(lines)


def fleet(count: int = 30, repeats: int = 5) -> dict[str, float]:
    """WorkerService with alarms against the same resources by hand (issue 12's bar: 1.10x per
    resource), construct + synth, median of alternating runs."""
    runs: dict[str, list[dict[str, float]]] = {"hand-alarms": [], "library-alarms": []}
    for _ in range(repeats):
        for variant in ("hand-alarms", "library-alarms"):
            runs[variant].append(run_once(variant, count))
    hand, library = median_of(runs["hand-alarms"]), median_of(runs["library-alarms"])

    def per_resource(row: dict[str, float]) -> float:
        return (row["construct_s"] + row["synth_s"]) / row["resources"]

    return {
        "n": count,
        "hand_resources": hand["resources"],
        "library_resources": library["resources"],
        "hand_s": hand["construct_s"] + hand["synth_s"],
        "library_s": library["construct_s"] + library["synth_s"],
        "ratio_per_resource": per_resource(library) / per_resource(hand),
    }


def one_stack(count: int = 60, with_network: int = 59) -> dict[str, dict[str, float]]:
    """Services with default alarms in one stack: resources of that stack, EventBridge rules.
    With the VPC and cluster in the same stack, ``with_network`` services (CDK refuses a stack
    over 500 resources at synth, so the 60 of the platform shape do not fit there)."""
    return {
        "library-alarms-one-stack": run_once("library-alarms-one-stack", count),
        "library-alarms-one-stack-vpc": run_once("library-alarms-one-stack-vpc", with_network),
    }


if __name__ == "__main__":
    print(json.dumps({"one_stack": one_stack()}, indent=1), flush=True)
    print(json.dumps({"fleet": fleet()}, indent=1), flush=True)
