"""The bound on a line: byte-exact whatever the characters, and the frames are kept."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from restart_policy import _runtime_lines as lines
from restart_policy import runtime

# One byte, two, three and four in UTF-8; escaped by JSON to 2 or 6; a lone surrogate (6 once
# backslash-replaced).
KINDS = ["a", "é", "€", "\U0001f600", "\x01", "\n", '"', "\\", "\udcff"]

runs = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(min_value=0, max_value=150_000)),
    min_size=1,
    max_size=4,
)


def _innermost(message: str) -> None:
    raise ValueError(message)


def _outer(message: str) -> None:
    _innermost(message)


def crash_line(message: str, item: str) -> str:
    try:
        _outer(message)
    except ValueError as exc:
        entry = lines.build_entry(40, "crash", event="crash", exc=exc, exit_code=1, item=item)
        return lines.encode(entry)
    raise AssertionError("unreachable")


@settings(max_examples=60, deadline=None)
@given(message_runs=runs, item_runs=runs)
def test_a_line_never_exceeds_the_limit_and_keeps_its_frames(
    message_runs: list[tuple[str, int]], item_runs: list[tuple[str, int]]
) -> None:
    message = "".join(char * count for char, count in message_runs)
    item = "".join(char * count for char, count in item_runs)
    line = crash_line(message, item)
    assert lines.line_size(line) <= runtime.MAX_LINE_BYTES
    parsed = json.loads(line)
    assert (parsed["event"], parsed["exit_code"]) == ("crash", 1)
    stacktrace = parsed["exception"]["stacktrace"]
    assert "in _outer" in stacktrace
    assert "in _innermost" in stacktrace
    if message:
        assert parsed["exception"]["message"][:1] == message[:1]


def test_a_line_that_fits_is_not_touched() -> None:
    line = crash_line("\U0001f600" * 1000, "m-1")
    parsed = json.loads(line)
    assert "truncated" not in parsed
    assert parsed["exception"]["message"] == "\U0001f600" * 1000
