"""Text that a shell script writes into files: here-documents, ``echo``, ``printf``, ``tee``.

Enough of the shell to find supervisor configs in user data, not a shell: what it cannot follow
is left to the caller's "section seen but not read" warning.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass


def shell_texts(script: str) -> Iterator[tuple[str, bool, range]]:
    """Text a shell script writes with here-documents (``cat``, ``tee``, any command):
    (text, expanded by the shell, the script's lines it came from)."""
    lines = script.split("\n")
    index = 0
    while index < len(lines):
        match = _HEREDOC.search(lines[index])
        if match is None:
            index += 1
            continue
        strip_tabs = match.group(1) == "-"
        quoted = match.group(3) is not None or match.group(4) is not None
        delimiter = match.group(3) or match.group(4) or match.group(5) or ""
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            line = lines[end].lstrip("\t") if strip_tabs else lines[end]
            if line == delimiter:
                break
            body.append(line)
            end += 1
        yield "\n".join(body) + "\n", not quoted, range(index, end + 1)
        index = end + 1


_HEREDOC = re.compile(r"<<(-?)\s*((?:'([^']+)')|(?:\"([^\"]+)\")|\\?([A-Za-z_][A-Za-z0-9_.-]*))")


def command_writes(script: str, skip: set[int]) -> Iterator[tuple[str, bool, range]]:
    """Files built by ``echo``/``printf`` commands (``>``, ``>>``, ``| tee [-a]``), one text per
    file in the order the script writes them; lines in ``skip`` (here-document bodies) are not
    commands."""
    files: dict[str, _Written] = {}
    lines = script.split("\n")
    index = 0
    while index < len(lines):
        if index in skip or not _ECHO.search(lines[index]):
            index += 1
            continue
        start = index
        command = lines[index]
        words = _split(command)
        # A quoted argument may run over several lines.
        while words is None and index + 1 < len(lines) and index - start < 200:
            index += 1
            command += "\n" + lines[index]
            words = _split(command)
        index += 1
        if words is None:
            continue
        for target, text, append in _writes(words):
            expanded = "$" in command or "`" in command
            entry = files.get(target)
            if entry is None or not append:
                files[target] = _Written(text, expanded, start, index)
            else:
                entry.text += text
                entry.expanded = entry.expanded or expanded
                entry.end = index
    for written in files.values():
        yield written.text, written.expanded, range(written.start, written.end)


@dataclass
class _Written:
    text: str
    expanded: bool
    start: int
    end: int


_ECHO = re.compile(r"(^|[\s;&|(])(echo|printf)\s")


def _split(command: str) -> list[str] | None:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:
        return None


def _writes(words: list[str]) -> Iterator[tuple[str, str, bool]]:
    """(file, text, appended) for each echo/printf in a command list."""
    segments: list[list[str]] = [[]]
    for word in words:
        if word in (";", "&&", "||", "&", "\n"):
            segments.append([])
        else:
            segments[-1].append(word)
    for segment in segments:
        pipeline = _pipeline(segment)
        if pipeline is not None:
            yield pipeline


def _pipeline(words: list[str]) -> tuple[str, str, bool] | None:
    while words and words[0] in ("sudo", "command", "builtin"):
        words = words[1:]
    if not words or words[0] not in ("echo", "printf"):
        return None
    args: list[str] = []
    rest = words[1:]
    while rest and rest[0] not in (">", ">>", "|", ">|", "1>", "1>>"):
        args.append(rest[0])
        rest = rest[1:]
    if len(rest) < 2:
        return None
    text = _echo(args) if words[0] == "echo" else _printf(args)
    if text is None:
        return None
    operator, after = rest[0], rest[1:]
    if operator == "|":
        while after and after[0] == "sudo":
            after = after[1:]
        if not after or after[0] != "tee":
            return None
        options = [word for word in after[1:] if word.startswith("-")]
        targets = [word for word in after[1:] if not word.startswith("-") and word != ">"]
        if not targets:
            return None
        return targets[0], text, any("a" in option for option in options)
    return after[0], text, operator.endswith(">>")


def _echo(args: list[str]) -> str | None:
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        flags = args[0][1:]
        newline = newline and "n" not in flags
        escapes = "e" in flags or (escapes and "E" not in flags)
        args = args[1:]
    text = " ".join(args)
    if escapes:
        text = _unescape(text)
    return text + ("\n" if newline else "")


def _printf(args: list[str]) -> str | None:
    if not args:
        return None
    template, values = _unescape(args[0]), args[1:]
    consumed = len([spec for spec in _SPEC.findall(template) if spec != "%%"])
    out: list[str] = []
    while True:
        taken, values = (values[:consumed], values[consumed:]) if consumed else ([], [])
        out.append(_SPEC.sub(_Substitute(taken), template))
        if not consumed or not values:
            return "".join(out)


_SPEC = re.compile(r"%[-+ #0]*\d*(?:\.\d+)?[sbdi%]")


class _Substitute:
    def __init__(self, values: list[str]) -> None:
        self._values = iter(values)

    def __call__(self, match: re.Match[str]) -> str:
        spec = match.group(0)
        if spec == "%%":
            return "%"
        value = next(self._values, "")
        return _unescape(value) if spec.endswith("b") else value


def _unescape(text: str) -> str:
    table = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"', "r": "\r", "a": "\a"}
    return re.sub(r"\\(.)", lambda m: table.get(m.group(1), "\\" + m.group(1)), text)
