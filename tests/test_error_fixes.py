"""The fix a PolicyError suggests is the one that mends that problem."""

from __future__ import annotations

import pytest

from restart_policy import PolicyError, Program


def _message(command: str) -> str:
    with pytest.raises(PolicyError) as caught:
        Program(name="p", command=command)
    return str(caught.value)


def test_a_line_break_in_a_command_is_told_to_go_on_one_line() -> None:
    message = _message("/bin/true\n/bin/false")
    assert "Fix: put the command on one line" in message
    assert "white space before ; and #" not in message


def test_a_line_break_before_a_comment_sign_is_still_told_to_go_on_one_line() -> None:
    message = _message("/bin/true\n# note")
    assert "Fix: put the command on one line" in message


def test_an_inline_comment_in_a_command_is_told_to_drop_the_white_space() -> None:
    message = _message('sh -c "echo a ; echo b"')
    assert "Fix: remove the white space before ; and #" in message
