"""``make bench``: every benchmark, printed and written to bench/RESULTS.md."""

from __future__ import annotations

import datetime
import platform
import subprocess
import sys
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


def main() -> None:
    sections = [
        "# Benchmark results",
        "",
        f"Recorded {datetime.date.today().isoformat()} on {platform.machine()}, "
        f"{_cpus()} cores; {versions()}. Reproduce with `make bench`.",
    ]
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
        "- Sizes include the back-off agent, the CloudWatch agent set-up, and the log group's "
        "deploy-time name counted at its longest (512 bytes).",
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
        "Target: at most 1.10x, linear in N. Alarms (3 rules and 3 alarms a service) are "
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
    text = "\n".join(sections) + "\n"
    (HERE / "RESULTS.md").write_text(text)
    print(text)


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
