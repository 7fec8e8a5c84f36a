"""One daemon start per back-off round, counted on the real supervisord 4.3.

Programs under the agent are rendered as the library renders them (``autorestart=false``,
``startretries=0``): supervisor starts them once (``autostart``) and every later start is the
agent's. Each daemon appends one line per start to a file before anything else; each start the
agent decides on is one decision line (``restart``, ``retry`` or ``rearm``). This matches them,
program by program, in time order: every decision must be followed by exactly one daemon start
before the next one. Counted: starts matched to a decision, *extra* starts (no decision asked
for them, after supervisord's autostart), *missing* starts (a decision followed by none before
the next decision), starts in each back-off round (from its ``rearm`` to the next decision:
target exactly 1), and decisions that would mean the agent mistook a start or a stop.

Scenarios (time-compressed policies, so that many rounds fit in a minute; the counting does not
depend on the times):
- ``crash past the start window``: start window 2 s, the daemon dies 3 s after each start;
- ``failed start``: the daemon dies 0.2 s after each start, inside the start window;
- ``150 at once``: 150 programs start and fail together, even-numbered ones inside the start
  window, odd ones past it, for ``--seconds``.

Run: ``python -m bench.starts_per_round`` (heavy: under ``flock /tmp/heavy.lock``; about 2 min).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench._agent_setup import (
    DEFECT_DECISIONS,
    START_DECISIONS,
    START_LINE,
    agent_log,
    agent_sections,
    host_supervisord,
    loadavg,
    revision,
    starts,
)
from restart_policy import Program, RestartPolicy

# start_window 2 s: supervisor's start and stop stamps are whole seconds, so a run of 0.2 s can
# look 1 s long to the agent; 2 s keeps both kinds of daemon clearly on their side of the window.
POLICY = RestartPolicy(
    start_window=2,
    start_retries=2,
    backoff_initial=1,
    backoff_max=2,
    healthy_reset=30,
    stop_timeout=5,
)
CROWD_POLICY = POLICY.replace(backoff_initial=2, backoff_max=8)
DAEMON = (
    "#!/bin/sh\n"
    + START_LINE
    + """n=${SUPERVISOR_PROCESS_NAME##*-}
case "$2" in
  past) sleep 3 ;;
  failed) sleep 0.2 ;;
  *) if [ $((n % 2)) -eq 0 ]; then sleep 0.2; else sleep 3; fi ;;
esac
exit 1
"""
)


@dataclass
class Audit:
    scenario: str
    programs: int
    seconds: float = 0.0
    load: str = ""
    autostarts: int = 0
    start_decisions: dict[str, int] = field(default_factory=dict)
    starts: int = 0
    matched: int = 0
    extra: int = 0
    missing: int = 0
    pending_at_end: int = 0  # a decision whose start had not come when the run ended
    refused: int = 0
    rounds: int = 0
    starts_per_round: dict[int, int] = field(default_factory=dict)  # starts -> rounds
    defects: int = 0
    evidence: list[str] = field(default_factory=list)  # log lines around each extra/missing

    @property
    def met(self) -> bool:
        return (
            self.extra == 0
            and self.missing == 0
            and self.defects == 0
            and set(self.starts_per_round) == {1}
        )


def audit(scenario: str, programs: int, folder: Path, end: float) -> Audit:
    log = agent_log(folder)
    result = Audit(scenario, programs)
    timeline: dict[str, list[tuple[float, int, dict[str, Any] | None]]] = defaultdict(list)
    for line in log:
        if "process" in line and line["at"] < end:
            timeline[line["process"]].append((line["at"], 0, line))
        if line.get("decision") in DEFECT_DECISIONS:
            result.defects += 1
            result.evidence.append(json.dumps(line, sort_keys=True))
    for name, stamp in starts(folder):
        timeline[name].append((stamp, 1, None))
    decisions: dict[str, int] = defaultdict(int)
    per_round: dict[int, int] = defaultdict(int)
    for name, events in sorted(timeline.items()):
        events.sort(key=lambda event: (event[0], event[1]))
        owed: dict[str, Any] | None = None
        decided = False
        round_starts: int | None = None  # starts since the last rearm, while its round lasts
        recent: list[str] = []
        for stamp, _kind, entry in events:
            if entry is not None:
                recent = [*recent[-3:], json.dumps(entry, sort_keys=True)]
                decision = entry.get("decision")
                if str(entry.get("reason", "")).endswith("-refused"):
                    result.refused += 1
                    owed = None  # the start it answers was refused: no daemon start owed
                if decision not in START_DECISIONS and decision != "backoff":
                    continue
                if round_starts is not None:
                    per_round[round_starts] += 1
                    round_starts = None
                if owed is not None:
                    result.missing += 1
                    result.evidence += [f"missing start for {name}:", *recent]
                    owed = None
                if decision in START_DECISIONS:
                    decided = True
                    decisions[decision] += 1
                    owed = entry
                    if decision == "rearm":
                        round_starts = 0
                continue
            if stamp >= end and owed is None:
                continue  # after the run: only the starts of decisions made in it count
            result.starts += 1
            if round_starts is not None:
                round_starts += 1
            if owed is not None:
                result.matched += 1
                owed = None
            elif not decided and result.autostarts < programs:
                result.autostarts += 1
                decided = True  # supervisord's autostart, before any decision
            else:
                result.extra += 1
                result.evidence += [f"extra start of {name} at {stamp:.3f} after:", *recent]
        if owed is not None:
            result.pending_at_end += 1
            if round_starts == 0:
                round_starts = None  # its probe had not come yet: not a round to judge
        if round_starts is not None:
            per_round[round_starts] += 1
    result.start_decisions = dict(decisions)
    result.rounds = sum(per_round.values())
    result.starts_per_round = dict(sorted(per_round.items()))
    return result


def run(scenario: str, kind: str, programs: int, rounds: int, seconds: float) -> Audit:
    folder = Path(tempfile.mkdtemp(prefix=f"rp-rounds-{kind}-"))
    script = folder / "daemon.sh"
    script.write_text(DAEMON)
    script.chmod(0o755)
    policy = CROWD_POLICY if kind == "crowd" else POLICY
    program = Program(name="d", command=f"{script} {folder} {kind}", numprocs=programs)
    load = loadavg()
    began = time.time()
    with host_supervisord(folder, agent_sections(folder, program, policy)):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            backoffs = sum(1 for d in agent_log(folder) if d.get("decision") == "backoff")
            if kind != "crowd" and backoffs > rounds:
                break
            time.sleep(0.5)
        end = time.time()
        time.sleep(1)  # the agent's lines for what happened before ``end``
    result = audit(scenario, programs, folder, end)
    result.seconds = round(end - began, 1)
    result.load = f"{load} -> {loadavg()}"
    return result


def table(results: list[Audit]) -> str:
    lines = [
        "| scenario | programs | seconds | starts (autostart + matched + extra) | decisions "
        "restart / retry / rearm | missing | back-off rounds | starts per round "
        "(starts: rounds) | manual-* / error decisions | load before -> after |",
        "| --- | ---: | ---: | --- | --- | ---: | ---: | --- | ---: | --- |",
    ]
    for r in results:
        d = r.start_decisions
        spread = ", ".join(f"{k}: {v}" for k, v in r.starts_per_round.items()) or "-"
        lines.append(
            f"| {r.scenario} | {r.programs} | {r.seconds:.0f} | {r.starts} "
            f"({r.autostarts} + {r.matched} + **{r.extra}**) | {d.get('restart', 0)} / "
            f"{d.get('retry', 0)} / {d.get('rearm', 0)} | {r.missing} | {r.rounds} | {spread} | "
            f"{r.defects} | {r.load} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=8, help="back-off rounds, one program")
    parser.add_argument("--programs", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=45, help="of the 150 failing at once")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    measured = revision()
    results = [
        run("crash past the start window", "past", 1, args.rounds, 120),
        run("failed start", "failed", 1, args.rounds, 120),
        run(f"{args.programs} at once", "crowd", args.programs, 0, args.seconds),
    ]
    print(f"Agent at {measured}.\n")
    print(table(results))
    for r in results:
        if r.evidence:
            print(f"\n{r.scenario}: log lines around each extra or missing start or defect:")
            print("\n".join(r.evidence[:40]))
    met = all(r.met for r in results)
    print(
        f"\none daemon start per back-off round, no start without a decision: "
        f"{'met' if met else 'MISSED'}"
    )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
