"""`make bench` replaces only the measured blocks of bench/RESULTS.md, keeping the prose."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.__main__ import BENCHES, CORE_MODULES, Command, replace_block


def test_a_block_between_its_markers_is_replaced_and_the_prose_kept() -> None:
    text = "# R\n\nprose before\n<!-- bench:x -->\nold numbers\n<!-- /bench:x -->\nprose after\n"
    updated = replace_block(text, "x", "new numbers")
    assert "old numbers" not in updated
    assert "new numbers" in updated
    assert updated.startswith("# R\n\nprose before\n<!-- bench:x -->\n")
    assert updated.endswith("<!-- /bench:x -->\nprose after\n")


def test_a_block_without_markers_is_appended_under_its_name() -> None:
    updated = replace_block("# R\n", "fleet", "numbers")
    assert updated.startswith("# R\n\n## fleet\n\n<!-- bench:fleet -->\n")
    assert updated.rstrip().endswith("numbers\n<!-- /bench:fleet -->")


def test_other_blocks_are_left_alone() -> None:
    text = "<!-- bench:a -->\nA\n<!-- /bench:a -->\n<!-- bench:b -->\nB\n<!-- /bench:b -->\n"
    updated = replace_block(text, "b", "B2")
    assert "<!-- bench:a -->\nA\n<!-- /bench:a -->" in updated
    assert "B2" in updated


def test_every_benchmark_module_is_run_by_make_bench() -> None:
    folder = Path(__file__).resolve().parent.parent / "bench"
    modules = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
    run = set(CORE_MODULES)
    for bench in BENCHES.values():
        if isinstance(bench, Command) and bench.argv[:1] == ("-m",):
            run.add(bench.argv[1].removeprefix("bench."))
    assert modules <= run, f"not run by make bench: {sorted(modules - run)}"


def test_results_has_a_block_for_every_benchmark() -> None:
    text = (Path(__file__).resolve().parent.parent / "bench" / "RESULTS.md").read_text()
    for name in BENCHES:
        assert f"<!-- bench:{name} -->" in text, name
        assert f"<!-- /bench:{name} -->" in text, name


def test_back_off_benchmarks_render_programs_as_the_library_does_under_the_agent(
    tmp_path: Path,
) -> None:
    from bench._agent_setup import agent_sections
    from restart_policy import Program, RestartPolicy
    from tests.supervisor_harness import load_programs

    program = Program(name="d", command="/bin/true", numprocs=2)
    configs = load_programs(agent_sections(tmp_path, program, RestartPolicy()), tmp_path)
    assert [configs[n].autorestart for n in ("d-0", "d-1")] == [False, False]
    assert [configs[n].startretries for n in ("d-0", "d-1")] == [0, 0]
    assert "restart-policy-backoff" in configs


def _audit_of(tmp_path: Path, decisions: list[tuple[float, str]], starts: list[float]) -> Any:
    from bench.starts_per_round import audit

    lines = [
        json.dumps({"at": at, "decision": decision, "process": "d:d-0"})
        for at, decision in decisions
    ]
    (tmp_path / "restart-policy-backoff.log").write_text("\n".join(lines) + "\n")
    (tmp_path / "starts").write_text("".join(f"d-0 {stamp}\n" for stamp in starts))
    return audit("x", 1, tmp_path, end=100.0)


def test_starts_per_round_matches_each_start_to_its_decision(tmp_path: Path) -> None:
    result = _audit_of(
        tmp_path, [(1, "retry"), (3, "backoff"), (13, "rearm"), (14, "backoff")], [0, 2, 13.1]
    )
    assert (result.autostarts, result.matched, result.extra, result.missing) == (1, 2, 0, 0)
    assert result.starts_per_round == {1: 1}


def test_starts_per_round_counts_a_start_nobody_decided_as_extra(tmp_path: Path) -> None:
    result = _audit_of(tmp_path, [(3, "backoff"), (13, "rearm"), (14, "backoff")], [0, 13.1, 13.5])
    assert result.extra == 1
    assert result.starts_per_round == {2: 1}


def test_starts_per_round_counts_a_decision_without_its_start_as_missing(tmp_path: Path) -> None:
    result = _audit_of(tmp_path, [(1, "retry"), (3, "backoff"), (13, "rearm")], [0, 13.1])
    assert (result.missing, result.matched) == (1, 1)
