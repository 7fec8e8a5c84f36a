"""supervisor config text read the way supervisor 4.3 reads it.

supervisor parses with ``configparser.RawConfigParser`` (inline ``;``/``#`` comments after white
space, indented continuation lines, ``[DEFAULT]`` values in every section, later keys win), then
%-expands each value it fetches and converts it with ``supervisor.datatypes``. The converters
here are those of ``datatypes`` (``boolean``, ``auto_restart``, ``integer``, ``byte_size``);
tests check them against supervisor itself.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass

#: Section kinds that run processes (``ServerOptions.process_groups_from_parser``).
PROCESS_KINDS = ("program", "fcgi-program", "eventlistener")
HEADER = re.compile(r"^\s*\[\s*(program|fcgi-program|eventlistener):", re.MULTILINE)

TRUTHY = ("yes", "true", "on", "1")
FALSY = ("no", "false", "off", "0")


@dataclass(frozen=True)
class ReadConfig:
    sections: list[tuple[str, dict[str, str]]]  # (header, settings)
    problem: str | None  # why supervisor would refuse the file, if it would


def has_process_section(text: str) -> bool:
    return HEADER.search(text) is not None


def read_config(text: str) -> ReadConfig:
    """Every section that runs processes, with its settings; a file supervisor would refuse is
    still read as far as it goes, and the reason is given."""
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    problem: str | None = None
    try:
        parser.read_string(text)
    except configparser.MissingSectionHeaderError as error:
        problem = f"line {error.lineno} is outside any section"
        return ReadConfig(_sections_after_stray_lines(text), problem)
    except configparser.Error as error:
        problem = str(error).splitlines()[0]
    sections = []
    for header in parser.sections():
        if header.split(":", 1)[0] in PROCESS_KINDS and ":" in header:
            sections.append((header, dict(parser.items(header))))
    return ReadConfig(sections, problem)


def _sections_after_stray_lines(text: str) -> list[tuple[str, dict[str, str]]]:
    # Lines before the first section make supervisor refuse the whole file; the sections are
    # still judged so that a finding is not lost behind the warning.
    match = re.search(r"^\s*\[", text, re.MULTILINE)
    if match is None:
        return []
    return read_config(text[match.start() :]).sections


def boolean(value: str) -> bool:
    word = value.lower()
    if word in TRUTHY:
        return True
    if word in FALSY:
        return False
    raise ValueError(f"not a valid boolean value: {value!r}")


def auto_restart(value: str) -> str | bool:
    """``True`` (restart always), ``"unexpected"`` or ``False``, as ``datatypes.auto_restart``."""
    word = value.lower()
    if word in TRUTHY:
        return True
    if word in FALSY:
        return False
    if word == "unexpected":
        return "unexpected"
    raise ValueError(f"invalid 'autorestart' value {value!r}")


def integer(value: str) -> int:
    return int(value)


def byte_size(value: str) -> int:
    word = value.lower()
    for suffix, unit in (("kb", 1024), ("mb", 1024**2), ("gb", 1024**3)):
        if word[-2:] == suffix:
            return int(word[:-2]) * unit
    return int(word)


#: supervisor's defaults for the judged settings (``ServerOptions.processes_from_section``).
DEFAULTS = {
    "autorestart": "unexpected",
    "startsecs": "1",
    "startretries": "3",
    "stopwaitsecs": "10",
    "redirect_stderr": "false",
    "stdout_logfile_maxbytes": "50MB",
    "stdout_logfile_backups": "10",
    "stderr_logfile_maxbytes": "50MB",
    "stderr_logfile_backups": "10",
}

CONVERTERS = {
    "autorestart": auto_restart,
    "startsecs": integer,
    "startretries": integer,
    "stopwaitsecs": integer,
    "redirect_stderr": boolean,
    "stdout_logfile_maxbytes": byte_size,
    "stdout_logfile_backups": integer,
    "stderr_logfile_maxbytes": byte_size,
    "stderr_logfile_backups": integer,
}
