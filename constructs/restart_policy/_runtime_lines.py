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


# The runtime's own frames (run calling main) open every stack trace and say nothing.
_OWN_FILES = {os.path.join(os.path.dirname(os.path.abspath(__file__)), "runtime.py")}


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
        "stacktrace": "".join(traceback.format_exception(kind, exc, tb)),
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


def encode(entry: dict[str, Any], limit: int = MAX_LINE_BYTES) -> str:
    """One JSON line of at most ``limit`` UTF-8 bytes: the longest strings are cut, with a
    marker, until it fits, and ``"truncated": true`` says so."""
    line = json.dumps(entry, ensure_ascii=False, default=repr)
    size = len(line.encode("utf-8", "surrogatepass"))
    while size > limit:
        entry["truncated"] = True
        path, text = _longest_string(entry)
        if path is None or len(text) < 64:
            return json.dumps(
                {key: entry[key] for key in ("time", "level", "event", "exit_code") if key in entry}
                | {"message": "line too large to log", "truncated": True}
            )
        # Characters can take up to 6 bytes once escaped; cutting by the byte excess (plus the
        # marker) converges in a few rounds.
        keep = max(0, len(text) - (size - limit) - 64)
        _set(entry, path, text[:keep] + TRUNCATION_MARKER.format(len(text) - keep))
        line = json.dumps(entry, ensure_ascii=False, default=repr)
        size = len(line.encode("utf-8", "surrogatepass"))
    return line


def _longest_string(entry: dict[str, Any]) -> tuple[tuple[str, ...] | None, str]:
    best: tuple[tuple[str, ...] | None, str] = (None, "")
    for key, value in entry.items():
        if isinstance(value, dict):
            for inner, text in value.items():
                if isinstance(text, str) and len(text) > len(best[1]):
                    best = ((key, inner), text)
        elif isinstance(value, str) and len(value) > len(best[1]):
            best = ((key,), value)
        elif not isinstance(value, (str, int, float, bool, type(None))):
            text = repr(value)
            if len(text) > len(best[1]):
                best = ((key,), text)
    return best


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
        _write_fd(2, data)


def _write_fd(fd: int, data: bytes) -> None:
    try:
        while data:
            written = os.write(fd, data)
            data = data[written:]
    except OSError:
        pass


def flush_std() -> None:
    """Flush stdout and stderr (the app's replacements and the originals); never raises."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is None:
            continue
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            stream.flush()


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


class JsonFormatter(logging.Formatter):
    """A ``logging`` formatter for the app's own records, in the runtime's line format."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one bounded JSON line."""
        entry = build_entry(
            record.levelno, record.getMessage(), event=getattr(record, "event", "log")
        )
        entry["time"] = _dt.datetime.fromtimestamp(record.created, _dt.UTC).isoformat(
            timespec="milliseconds"
        )
        entry["logger"] = record.name
        entry["thread"] = record.threadName
        if record.exc_info and record.exc_info[1] is not None:
            entry["exception"] = exception_fields(record.exc_info[1])
        for key in ("item", "signal", "exit_code"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        return encode(entry)
