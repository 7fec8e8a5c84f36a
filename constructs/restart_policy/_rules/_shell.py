"""Text that a shell script writes into files: here-documents, here-strings, ``echo``,
``printf``, ``tee`` and ``{ ...; } > file`` groups, every write to one path combined in order.

Enough of the shell to find supervisor configs in user data, not a shell: what it cannot follow
is left to the caller's "section seen but not read" warning, and an in-place edit (``sed -i``)
of a file it read is reported.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from ._supervisor_reader import HEADER


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
    for target, text, append, expanded, start, end in _command_writes(script, skip):
        entry = files.get(target or "")
        if entry is None or not append:
            files[target or ""] = _Written(text, expanded, start, end)
        else:
            entry.text += text
            entry.expanded = entry.expanded or expanded
            entry.end = end
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


def _writes(words: list[str], *, loose: bool = False) -> Iterator[tuple[str, str, bool]]:
    """(file, text, appended) for each echo/printf in a command list; with ``loose``, also
    those that write to standard output (file ``""``), as inside a ``{ ...; } > file`` group;
    a one-line group ``{ echo a; echo b; } > file`` is one write."""
    if words and words[0] == "{" and "}" in words:
        close = len(words) - 1 - words[::-1].index("}")
        after = words[close + 1 :]
        if len(after) >= 2 and after[0] in (">", ">>", ">|"):
            inner = [text for to, text, _ in _writes(words[1:close], loose=True) if to == ""]
            yield after[1], "".join(inner), after[0] == ">>"
            yield from _writes(after[2:], loose=loose)
            return
    segments: list[list[str]] = [[]]
    for word in words:
        if word in (";", "&&", "||", "&", "\n"):
            segments.append([])
        else:
            segments[-1].append(word)
    for segment in segments:
        pipeline = _pipeline(segment, loose)
        if pipeline is not None:
            yield pipeline


def _pipeline(words: list[str], loose: bool = False) -> tuple[str, str, bool] | None:
    while words and words[0] in ("sudo", "command", "builtin"):
        words = words[1:]
    if not words or words[0] not in ("echo", "printf"):
        return None
    args: list[str] = []
    rest = words[1:]
    while rest and rest[0] not in (">", ">>", "|", ">|", "1>", "1>>"):
        args.append(rest[0])
        rest = rest[1:]
    text = _echo(args) if words[0] == "echo" else _printf(args)
    if text is None:
        return None
    if not rest and loose:
        return "", text, True
    if len(rest) < 2:
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


@dataclass
class FileText:
    """What a script leaves in one file (or a here-document with no file it names)."""

    target: str | None
    text: str
    expanded: bool
    lines: set[int]


@dataclass
class _Write:
    line: int
    target: str | None
    text: str
    expanded: bool
    append: bool
    lines: range


def file_texts(script: str) -> tuple[list[FileText], set[int], list[str]]:
    """Every file the script writes, all writes to one path combined in the script's order
    (``>`` and ``tee`` replace, ``>>`` and ``tee -a`` append), from here-documents, here-strings,
    ``echo``/``printf`` (alone or grouped in ``{ ...; } > file``); the lines read; and what the
    checks cannot follow (``sed -i`` on a written file)."""
    writes: list[_Write] = []
    for text, expanded, lines in shell_texts(script):
        target, append = _target(script.split("\n")[lines.start])
        writes.append(_Write(lines.start, target, text, expanded, append, lines))
    skip = {number for write in writes for number in write.lines}
    writes += _here_strings(script, skip)
    groups = list(_groups(script, skip))
    for write in groups:
        skip.update(write.lines)
    writes += groups
    for target, text, append, expanded, start, end in _command_writes(script, skip):
        writes.append(_Write(start, target, text, expanded, append, range(start, end)))
    files: dict[str, FileText] = {}
    loose: list[FileText] = []
    read: set[int] = set()
    for write in sorted(writes, key=lambda w: w.line):
        read.update(write.lines)
        if write.target is None:
            loose.append(FileText(None, write.text, write.expanded, set(write.lines)))
            continue
        entry = files.get(write.target)
        if entry is None or not write.append:
            files[write.target] = FileText(
                write.target, write.text, write.expanded, set(write.lines)
            )
        else:
            entry.text += write.text
            entry.expanded = entry.expanded or write.expanded
            entry.lines.update(write.lines)
    problems: list[str] = []
    for number, line in enumerate(script.split("\n")):
        edit = _IN_PLACE.search(line)
        if edit is None:
            continue
        for path, entry in files.items():
            if path in line.split() and HEADER.search(entry.text):
                problems.append(
                    f"the in-place edit of {path} ({edit.group(1).strip()!r}, script line "
                    f"{number + 1}): the checks cannot follow it and judge the file as written "
                    "before it"
                )
    return [*loose, *files.values()], read, problems


_IN_PLACE = re.compile(r"(?:^|[\s;&|(])((?:sed|perl)\s+(?:\S+\s+)*?-[a-zA-Z]*i)")
_TEE = re.compile(r"\btee((?:\s+-[a-zA-Z]+|\s+--append)*)\s+([^\s;|&<>]+)")
_REDIRECT = re.compile(r"(?<![<0-9&])(>>|>\|?)\s*([^\s;|&<>]+)")


def _target(line: str) -> tuple[str | None, bool]:
    """The file a command line writes its input to, and whether it appends."""
    line = re.sub(r"<<<?-?\s*(?:'[^']*'|\"[^\"]*\"|\S+)", " ", line)
    tee = _TEE.search(line)
    if tee is not None:
        flags = tee.group(1)
        return tee.group(2), "--append" in flags or bool(re.search(r"-[a-zA-Z]*a", flags))
    redirect = _REDIRECT.search(line)
    if redirect is not None and redirect.group(2) != "/dev/null":
        return redirect.group(2), redirect.group(1) == ">>"
    return None, False


_HERE_STRING = re.compile(r"<<<\s*(\$'(?:[^'\\]|\\.)*'|'[^']*'|\"(?:[^\"\\]|\\.)*\"|[^\s;|&]+)")


def _here_strings(script: str, skip: set[int]) -> Iterator[_Write]:
    for number, line in enumerate(script.split("\n")):
        match = None if number in skip else _HERE_STRING.search(line)
        if match is None:
            continue
        word = match.group(1)
        expanded = False
        if word.startswith("$'"):
            text = _unescape(word[2:-1])
        elif word.startswith("'"):
            text = word[1:-1]
        else:
            text = word[1:-1] if word.startswith('"') else word
            expanded = "$" in text or "`" in text
        target, append = _target(line)
        yield _Write(number, target, text + "\n", expanded, append, range(number, number + 1))


_GROUP_END = re.compile(r"^\s*\}\s*(.*)$")


def _groups(script: str, skip: set[int]) -> Iterator[_Write]:
    """``{`` on its own line, echo/printf lines, then ``} > file`` (or ``} | tee file``)."""
    lines = script.split("\n")
    index = 0
    while index < len(lines):
        if index in skip or lines[index].strip() != "{":
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not _GROUP_END.match(lines[end]):
            end += 1
        if end == len(lines):
            return
        target, append = _target(lines[end])
        body = "\n".join(lines[index + 1 : end])
        words = _split(body.replace("\n", " ; "))
        writes = [] if words is None else list(_writes(words, loose=True))
        texts = [text for written_to, text, _ in writes if written_to == ""]
        expanded = "$" in body or "`" in body
        yield _Write(index, target, "".join(texts), expanded, append, range(index, end + 1))
        index = end + 1


def _command_writes(
    script: str, skip: set[int]
) -> Iterator[tuple[str | None, str, bool, bool, int, int]]:
    lines = script.split("\n")
    index = 0
    while index < len(lines):
        if index in skip or not _ECHO.search(lines[index]):
            index += 1
            continue
        start = index
        command = lines[index]
        words = _split(command)
        while words is None and index + 1 < len(lines) and index - start < 200:
            index += 1
            command += "\n" + lines[index]
            words = _split(command)
        index += 1
        if words is None:
            continue
        expanded = "$" in command or "`" in command
        for target, text, append in _writes(words):
            yield target, text, append, expanded, start, index
