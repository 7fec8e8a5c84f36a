"""``make bench``: every benchmark, printed and written to bench/RESULTS.md.

RESULTS.md keeps the prose around each benchmark; what a run measures goes between the markers
``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` and is replaced by the next run (a block
whose markers are missing is appended). ``python -m bench NAME ...`` runs only those benchmarks;
the names are those of ``BENCHES``.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from bench import crashloop, render, synth

HERE = Path(__file__).resolve().parent


def versions() -> str:
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    packages = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("aws-cdk-lib", "jsii", "supervisor")
    )
    return f"Python {platform.python_version()}, Node {node}, {packages}"


def core() -> str:
    """The renderer, synth overhead, checks cost and supervisor crash-loop sections."""
    sections: list[str] = []
    print("render ...", file=sys.stderr)
    thousand = render.render_thousand()
    doc_max, doc_200 = render.capacity(render.doc_program)
    env_max, env_200 = render.capacity(render.env_program)
    sections += [
        "",
        "## Renderer and user data",
        "",
        f"- Validate and render 1,000 programs: {thousand * 1000:.0f} ms (median of 7; target "
        "under 100 ms).",
        f"- Programs shaped like the policy document's (name, command, numprocs 1-3, user) in "
        f"16,384 bytes of user data: **{doc_max}** (200 take {doc_200:,} bytes).",
        f"- Heavier programs (2 processes, 2 environment variables): **{env_max}** (200 take "
        f"{env_200:,} bytes). Target: at least 200.",
        "- Sizes include the back-off agent's download from S3 (the agent itself is an asset, "
        "outside the user data), the CloudWatch agent set-up, and the deploy-time values "
        "counted at their longest (the log group's name 512 bytes, the agent's bucket 63, the "
        "region 25).",
    ]
    print("synth overhead ...", file=sys.stderr)
    rows = synth.overhead()
    mean_ratio = sum(row["total_ratio"] for row in rows) / len(rows)
    checks = synth.checks_cost()
    sections += [
        "",
        "## Synth overhead: WorkerService against the same resources by hand",
        "",
        "Median of 5 alternating runs, each a fresh process; `CDK_VALIDATION=false`. "
        "Target: at most 1.10x, linear in N. Alarms (a metric filter and alarms a service) are "
        "measured separately, since the hand-written services have none. Peak RSS is the "
        "Python process plus the jsii kernel (node).",
        "",
        f"Mean ratio over the four sizes: **{mean_ratio:.2f}x**. "
        "Run-to-run noise on this machine is about ±10 % (differences of 0.05-0.1 s); what "
        "the library adds per service is one wrapper construct (the only remaining jsii call "
        "the hand-written code does not make), which any L3 construct pays.",
        "",
        synth.overhead_table(rows),
        "",
        "## Cost of RestartPolicyChecks",
        "",
        f"On the {checks['n']}-service app ({rows[-1]['library']['resources']:.0f} resources in "
        f"8 stacks), the checks' own work (their `validate`, timed in the process) takes "
        f"{checks['checks_s'] * 1000:.0f} ms: **{checks['share_of_synth']:.1%}** of "
        f"`app.synth()` ({checks['synth_s']:.2f} s) and {checks['share_of_whole']:.1%} of the "
        f"whole `cdk synth` process ({checks['whole_s']:.2f} s). Target: at most 10 %. "
        f"CDK's own cost of running a validation plugin, measured with one that does nothing: "
        f"synth {checks['noop_synth_s']:.2f} s (with the checks: "
        f"{checks['checks_synth_s']:.2f} s).",
    ]
    print("crash loop (6 minutes) ...", file=sys.stderr)
    results = crashloop.run(30, 120)
    sections += [
        "",
        "## Crash loops on the real supervisord",
        "",
        f"Time compressed 1:{crashloop.SCALE} (`python -m bench.crashloop`); see its docstring "
        "for the set-ups and what is not scaled. The daemon needs 30 s to notice that its "
        "database is down.",
        "",
        crashloop.table(results, 30),
    ]
    return "\n".join(sections).strip("\n")


def _cpus() -> int:
    return os.cpu_count() or 0


class Command:
    """A benchmark that prints its own results: its output, verbatim, is the block."""

    def __init__(self, *argv: str, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.env = env or {}

    def __call__(self) -> str:
        result = subprocess.run(
            [sys.executable, *self.argv],
            cwd=HERE.parent,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=False,
        )
        output = (result.stdout + result.stderr).strip()
        status = "" if result.returncode == 0 else f" (exit {result.returncode})"
        return f"`python {' '.join(self.argv)}`{status}:\n\n```text\n{output}\n```"


# The core block's modules; every other benchmark module runs as a Command.
CORE_MODULES = ("render", "synth", "crashloop")

BENCHES: dict[str, Callable[[], str]] = {
    "core": core,
    "fleet": Command("-m", "bench.synth"),
    "host-outage": Command("-m", "bench.host_outage"),
    "backoff-cpu": Command("-m", "bench.backoff_cpu"),
    "starts-per-round": Command("-m", "bench.starts_per_round"),
    "ecs-crashloop": Command("-m", "bench.ecs_crashloop"),
    "runtime-stress": Command(
        "-m",
        "pytest",
        "-p",
        "no:xdist",
        "-q",
        "-s",
        "tests/test_runtime_stress.py",
        env={"RUNTIME_STRESS_SIGNALS": "1000"},
    ),
}


def replace_block(text: str, name: str, block: str) -> str:
    """``text`` with the block between ``name``'s markers replaced (appended when missing)."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    today = datetime.date.today().isoformat()
    stamp = f"Measured {today} on {platform.machine()}, {_cpus()} cores; {versions()}."
    body = f"{begin}\n{stamp}\n\n{block}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: body, text)
    return f"{text.rstrip()}\n\n## {name}\n\n{body}\n"


def main(argv: list[str] | None = None) -> None:
    names = list(sys.argv[1:] if argv is None else argv) or list(BENCHES)
    unknown = sorted(set(names) - set(BENCHES))
    if unknown:
        raise SystemExit(f"unknown benchmarks {unknown}; known: {sorted(BENCHES)}")
    results = HERE / "RESULTS.md"
    for name in names:
        print(f"== {name} ...", file=sys.stderr)
        block = BENCHES[name]()
        print(block)
        text = results.read_text(encoding="utf-8") if results.exists() else "# Benchmark results\n"
        results.write_text(replace_block(text, name, block), encoding="utf-8")


if __name__ == "__main__":
    main()
