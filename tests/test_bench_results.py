"""`make bench` replaces only the measured blocks of bench/RESULTS.md, keeping the prose."""

from __future__ import annotations

from pathlib import Path

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
