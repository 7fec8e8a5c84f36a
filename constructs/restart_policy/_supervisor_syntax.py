"""What supervisor's config reader does to a value, and how to write one that survives it.

supervisor reads program sections with ``configparser`` (inline comments after white space,
values stripped, one line each), then %-expands every value, and splits ``environment=`` with a
non-POSIX ``shlex`` that strips every quote character from both ends of a value. These helpers
write values that read back exactly, or say why a value cannot be written.
"""

from __future__ import annotations

import re
import shlex

# supervisor's own expansions in program sections; they are kept, every other % is doubled.
_EXPANSION = re.compile(
    r"%\((?:program_name|process_num|group_name|host_node_name|numprocs|here"
    r"|ENV_[A-Za-z_][A-Za-z0-9_]*)\)[#0 +\-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]"
)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
USER = re.compile(r"^[a-z_][a-z0-9_-]*\$?$|^[0-9]+$")
_LINE_BREAKS = ("\n", "\r", "\x00")


def has_expansion(value: str) -> bool:
    return _EXPANSION.search(value) is not None


def escape_percent(value: str) -> str:
    """Double every ``%`` except in supervisor's own ``%(name)s`` expansions."""
    parts: list[str] = []
    position = 0
    for match in _EXPANSION.finditer(value):
        parts.append(value[position : match.start()].replace("%", "%%"))
        parts.append(match.group(0))
        position = match.end()
    parts.append(value[position:].replace("%", "%%"))
    return "".join(parts)


def comment_hazard(value: str) -> str | None:
    """The ``;`` or ``#`` after white space that would silently end the value, if any."""
    for index, char in enumerate(value):
        if char in ";#" and index > 0 and value[index - 1].isspace():
            return f"{value[index - 1]!r} followed by {char!r} at position {index - 1}"
    return None


def line_problem(value: str) -> str | None:
    """Why ``value`` cannot stand on one config line, or None."""
    for char in _LINE_BREAKS:
        if char in value:
            return f"holds {char!r}, which ends a config line"
    hazard = comment_hazard(value)
    if hazard is not None:
        return (
            f"holds {hazard}, where supervisor starts an inline comment and cuts the value; "
            "no quoting avoids it"
        )
    return None


def command_problems(command: str) -> list[tuple[str, str]]:
    """(reason, fix) for each way ``command`` would not load or run as given."""
    problems: list[tuple[str, str]] = []
    if not command.strip():
        return [("is empty", "give the program's command line")]
    problem = line_problem(command)
    if problem is not None:
        if any(char in command for char in _LINE_BREAKS):
            fix = "put the command on one line, or move a multi-line script into a wrapper script"
        else:
            fix = "remove the white space before ; and #, or use a wrapper script"
        problems.append((problem, fix))
    if command != command.strip():
        problems.append(
            ("has white space at its start or end, which supervisor strips", "strip it")
        )
    try:
        shlex.split(command)
    except ValueError as exc:
        problems.append((f"cannot be split into arguments ({exc})", "balance its quotes"))
    return problems


def environment_value_problem(value: str) -> str | None:
    problem = line_problem(value)
    if problem is not None:
        return problem
    if '"' in value and "'" in value:
        return "holds both quote kinds, which supervisor's environment parser cannot carry"
    if value[:1] in ("'", '"') or value[-1:] in ("'", '"'):
        return "starts or ends with a quote, which supervisor strips"
    return None


def quote_environment_value(value: str) -> str:
    """Quote a value checked by ``environment_value_problem`` so that supervisor reads it back."""
    escaped = escape_percent(value)
    if '"' in value:
        return f"'{escaped}'"
    return f'"{escaped}"'


def byte_size(size: int) -> str:
    """supervisor's byte size notation (its KB and MB are 1024-based), exact."""
    for suffix, unit in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)
