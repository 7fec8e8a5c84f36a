"""The runtime's JSON lines: built, bounded, written to stderr and handed to the app's logging.

Standard library only. A line is written straight to the process's stderr (not through a logging
handler), so that no logging set-up of the app (none, ``basicConfig``, a ``dictConfig`` that
disables existing loggers, ``propagate=False``, a root at WARNING) can lose or double it; the same
event is then handed to the app's own handlers as an ordinary ``logging`` record.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import reprlib
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

LOGGER_NAME = "restart_policy.runtime"

# CloudWatch Logs takes events up to 256 KiB, counting 26 bytes of overhead per event
# (PutLogEvents quotas); a longer line is split or dropped by the log agent.
MAX_LINE_BYTES = 256 * 1024 - 26
TRUNCATION_MARKER = "...[truncated {} chars]"

# A described item longer than this is cut: an item is for finding the message again, not for
# carrying its payload into the logs.
MAX_ITEM_CHARS = 200

_repr = reprlib.Repr()
_repr.maxstring = MAX_ITEM_CHARS
_repr.maxother = MAX_ITEM_CHARS
_repr.maxlevel = 3

Describe = Callable[[Any], object]


def process_name() -> str:
    """supervisor's process name when run by supervisor, else the program's file name."""
    return os.environ.get("SUPERVISOR_PROCESS_NAME") or os.path.basename(sys.argv[0] or "python")


def default_describe(value: object) -> str:
    """A bounded ``repr``: long strings and containers are elided, the result is cut."""
    return _cut(_repr.repr(value), MAX_ITEM_CHARS)


def describe_item(value: object, describe: Describe | None) -> str:
    """The item as the lines show it; a hook that raises gives the type name and says so."""
    if describe is None:
        return default_describe(value)
    try:
        described = describe(value)
    except Exception as error:  # the hook runs while a crash is reported: it must not hide it
        kind = type(value)
        return (
            f"<{kind.__module__}.{kind.__qualname__}> "
            f"(describe= raised {type(error).__name__}: {_cut(str(error), 100)})"
        )
    return _cut(described if isinstance(described, str) else str(described), MAX_ITEM_CHARS)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + TRUNCATION_MARKER.format(len(text) - limit)


# One piece of a formatted stack trace (a frame, an exception's "Type: message" line) is cut to
# this: a payload pasted into a message must not push the frames out of the line.
MAX_CHUNK_CHARS = 4096

# The runtime's own frames (run calling main) open every stack trace and say nothing.
_OWN_FILES = {
    os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
    for name in ("runtime.py", "_runtime_threads.py")
}


def exception_fields(exc: BaseException) -> dict[str, str]:
    """OpenTelemetry's exception attributes, nested so that ``$.exception.type`` names them."""
    kind = type(exc)
    tb = exc.__traceback__
    while (
        tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename in _OWN_FILES
    ):
        tb = tb.tb_next
    return {
        "type": f"{kind.__module__}.{kind.__qualname__}",
        "message": _safe_str(exc),
        "stacktrace": "".join(
            _cut(chunk, MAX_CHUNK_CHARS) for chunk in traceback.format_exception(kind, exc, tb)
        ),
    }


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<str() of {type(exc).__name__} failed>"


def build_entry(
    level: int,
    message: str,
    *,
    event: str,
    exc: BaseException | None = None,
    **fields: object,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"),
        "level": logging.getLevelName(level),
        "process": process_name(),
        "pid": os.getpid(),
        "thread": threading.current_thread().name,
        "logger": LOGGER_NAME,
        "message": message,
        "event": event,
    }
    entry.update({key: value for key, value in fields.items() if value is not None})
    if exc is not None:
        entry["exception"] = exception_fields(exc)
    return entry


def _escaped_size(text: str) -> int:
    """Bytes ``text`` takes inside a line: JSON-escaped, then UTF-8 with lone surrogates
    backslash-replaced (as ``write_line`` writes it)."""
    return line_size(json.dumps(text, ensure_ascii=False)) - 2


def line_size(line: str) -> int:
    """The bytes ``write_line`` writes for ``line`` (without the newline)."""
    return len(line.encode("utf-8", "backslashreplace"))


def _prefix_within(text: str, budget: int) -> int:
    """How many leading characters of ``text`` fit in ``budget`` escaped bytes (a binary search:
    every probe is measured by the C encoder)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if _escaped_size(text[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def _cut_to_bytes(text: str, budget: int, *, keep_tail: bool) -> str:
    """``text`` cut on a character boundary to at most ``budget`` escaped bytes, marker included:
    the head, or the head and the tail (a stack trace's last frames and its exception line)."""
    marker_room = len(TRUNCATION_MARKER.format(len(text)))
    room = max(0, budget - marker_room)
    if not keep_tail:
        keep = _prefix_within(text, room)
        return text[:keep] + TRUNCATION_MARKER.format(len(text) - keep)
    head = _prefix_within(text, room // 2)
    tail = _prefix_within(text[::-1], room - room // 2)
    tail_text = text[len(text) - tail :] if tail else ""
    dropped = len(text) - head - tail
    return text[:head] + TRUNCATION_MARKER.format(dropped) + tail_text


# Cut first: the messages (a payload pasted into an exception), then the item, then whatever else
# is long; the stack trace last, keeping its head and its tail, because its frames are what a
# crash line is for.
_CUT_ORDER: tuple[tuple[str, ...], ...] = (
    ("exception", "message"),
    ("message",),
    ("item",),
)
_STACKTRACE = ("exception", "stacktrace")
_FLOOR_BYTES = 2048
_ESSENTIAL = ("time", "level", "event", "exit_code", "signal", "process", "pid")


def _strings(entry: dict[str, Any]) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for key, value in entry.items():
        if isinstance(value, dict):
            paths.extend((key, inner) for inner, text in value.items() if isinstance(text, str))
        elif isinstance(value, str):
            paths.append((key,))
    return paths


def _get(entry: dict[str, Any], path: tuple[str, ...]) -> str:
    value = entry[path[0]] if len(path) == 1 else entry[path[0]][path[1]]
    return value if isinstance(value, str) else ""


def _plain(value: object) -> object:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(key): _plain(inner) for key, inner in value.items()}
    return default_describe(value)


def encode(entry: dict[str, Any], limit: int = MAX_LINE_BYTES) -> str:
    """One JSON line of at most ``limit`` bytes as written (UTF-8, lone surrogates escaped).

    Too long: the messages are cut first, then other long strings, then the stack trace (head
    and tail kept), each on a character boundary and measured in escaped bytes; ``"truncated":
    true`` says so."""
    entry = {key: _plain(value) for key, value in entry.items()}
    line = json.dumps(entry, ensure_ascii=False)
    size = line_size(line)
    if size <= limit:
        return line
    entry["truncated"] = True
    size = line_size(json.dumps(entry, ensure_ascii=False))
    others = [p for p in _strings(entry) if p not in _CUT_ORDER and p != _STACKTRACE]
    others.sort(key=lambda p: -len(_get(entry, p)))
    order = [p for p in _CUT_ORDER if p in _strings(entry)] + others
    if _STACKTRACE in _strings(entry):
        order.append(_STACKTRACE)
    # First pass: every string down to a floor, so that a short message survives a long item;
    # second pass: whatever is still needed, down to the marker alone.
    for floor in (_FLOOR_BYTES, 0):
        for path in order:
            if size <= limit:
                break
            if path[0] in _ESSENTIAL:
                continue
            text = _get(entry, path)
            cost = _escaped_size(text)
            budget = max(floor, cost - (size - limit))
            if budget >= cost:
                continue
            _set(entry, path, _cut_to_bytes(text, budget, keep_tail=path == _STACKTRACE))
            size = line_size(json.dumps(entry, ensure_ascii=False))
    if size <= limit:
        return json.dumps(entry, ensure_ascii=False)
    return json.dumps(
        {key: entry[key] for key in _ESSENTIAL if key in entry}
        | {"message": "line too large to log", "truncated": True}
    )


def _set(entry: dict[str, Any], path: tuple[str, ...], text: str) -> None:
    if len(path) == 1:
        entry[path[0]] = text
    else:
        entry[path[0]][path[1]] = text


def write_line(line: str) -> None:
    """Write one line to the process's stderr, after anything already buffered there."""
    data = (line + "\n").encode("utf-8", "backslashreplace")
    stream = sys.__stderr__
    try:
        if stream is None:
            raise OSError("no stderr")
        stream.flush()
        buffer = getattr(stream, "buffer", None)
        if buffer is not None:
            buffer.write(data)
            buffer.flush()
        else:
            stream.write(line + "\n")
            stream.flush()
    except (OSError, ValueError):
        write_fd(2, data)


def write_fd(fd: int, data: bytes) -> None:
    try:
        while data:
            written = os.write(fd, data)
            data = data[written:]
    except OSError:
        pass


def flush_std() -> bool:
    """Flush stdout and stderr (the app's replacements and the originals); never raises. False
    when a flush failed (a broken or full stream still holds data the interpreter's own final
    flush would fail on, turning the exit code into 120)."""
    flushed = True
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError, RuntimeError):
            flushed = False
    return flushed


def to_app_handlers(
    level: int, message: str, exc: BaseException | None, extra: dict[str, Any], *, force: bool
) -> None:
    """Hand the event to the app's own handlers as a normal record of ``restart_policy.runtime``.

    Only handlers the app configured receive it: with none anywhere, logging's last-resort
    handler would print a second, raw copy. ``force`` (crashes) ignores the ``disabled`` flag that
    ``dictConfig(disable_existing_loggers=True)`` puts on loggers made before it; levels the app
    set are respected either way. The record carries ``restart_policy_event`` (``crash``, ...),
    ``restart_policy_exit_code``, ``restart_policy_item`` and ``restart_policy_signal``.
    """
    logger = logging.getLogger(LOGGER_NAME)
    if logging.root.manager.disable >= level or level < logger.getEffectiveLevel():
        return
    if logger.disabled and not force:
        return
    record = logger.makeRecord(
        logger.name,
        level,
        "(restart_policy)",
        0,
        message,
        (),
        (type(exc), exc, exc.__traceback__) if exc is not None else None,
        extra=extra,
    )
    if not logger.filter(record):
        return
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if isinstance(handler.formatter, JsonFormatter):
                continue  # it would write a second copy of the line the runtime writes
            if record.levelno >= handler.level:
                # the app's handler must not turn a report into a new crash
                with contextlib.suppress(Exception):
                    handler.handle(record)
        if not current.propagate:
            break
        current = current.parent


def emit(
    level: int,
    message: str,
    *,
    event: str,
    exc: BaseException | None = None,
    force: bool = False,
    **fields: object,
) -> None:
    """The app's handlers first, then the JSON line: the JSON line is the last thing written."""
    # Prefixed: an app whose own JSON formatter writes extras to stderr must not print a second
    # `"event": "crash"` line for metric filters to count.
    extra = {f"restart_policy_{key}": value for key, value in fields.items() if value is not None}
    extra["restart_policy_event"] = event
    to_app_handlers(level, message, exc, extra, force=force)
    write_line(encode(build_entry(level, message, event=event, exc=exc, **fields)))


# The events the runtime writes itself: an app record claiming one (``extra={"event": "crash"}``)
# must not be counted by a metric filter as the runtime's.
RUNTIME_EVENTS = frozenset(
    {
        "crash",
        "crash-after-stop",
        "handled-exit",
        "handled-in-thread",
        "item-handled",
        "stop-requested",
        "stopped",
        "stop-forced",
        "threads-abandoned",
    }
)


class JsonFormatter(logging.Formatter):
    """A ``logging`` formatter for the app's own records, in the runtime's line format.

    A handler using it does not receive the runtime's own events (the runtime writes those lines
    itself, in this format: a second copy would be counted twice). The ``item``, ``signal`` and
    ``exit_code`` extras are written (``item`` as a bounded ``repr`` unless it is a string, then
    cut); an ``event`` extra naming one of the runtime's events is written as ``app_event``."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one bounded JSON line."""
        event = getattr(record, "event", None)
        entry = build_entry(record.levelno, record.getMessage(), event="log")
        if isinstance(event, str) and event not in RUNTIME_EVENTS:
            entry["event"] = event
        elif event is not None:
            entry["app_event"] = default_describe(event) if not isinstance(event, str) else event
        entry["time"] = _dt.datetime.fromtimestamp(record.created, _dt.UTC).isoformat(
            timespec="milliseconds"
        )
        entry["logger"] = record.name
        entry["thread"] = record.threadName
        if record.exc_info and record.exc_info[1] is not None:
            entry["exception"] = exception_fields(record.exc_info[1])
        if hasattr(record, "item"):
            value = record.item
            entry["item"] = (
                _cut(value, MAX_ITEM_CHARS) if isinstance(value, str) else (default_describe(value))
            )
        for key in ("signal", "exit_code"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        return encode(entry)
