"""The process side of the restart policy, for daemons: standard library only.

The policy asks a daemon to handle the exceptions it knows, and to *log, then re-raise* any
other, so that the process dies and the platform (supervisor, ECS) restarts it with fresh
connections and configuration. ``run`` does exactly that, writes the crash as one JSON line
(a raw multi-line traceback is what log pipelines fail to parse), and turns the stop signal
into a graceful stop: the current item finishes and the process exits 0.

Exit codes, and what the platforms built by this library do with them:

=====  ===================================================  =====================================
code   when                                                 supervisor (``autorestart``) and ECS
=====  ===================================================  =====================================
0      ``main`` returned, a ``handled`` exception ended it,  restarted with ``restart="always"``
       or a stop signal was honoured                         (the default); an expected exit with
                                                             ``restart="on-failure"`` (in
                                                             ``exit_codes``, ECS ignored codes)
1      an exception not in ``handled`` (logged, re-raised)   restarted
128+N  a second stop signal N stopped the process at once    restarted unless it was stopping
       (130 for SIGINT, 143 for SIGTERM)
=====  ===================================================  =====================================

Use::

    from restart_policy import runtime

    def main(life: runtime.Lifecycle) -> None:
        for message in life.items(consume()):           # stops between items on SIGINT/SIGTERM
            with runtime.item(message, handled={ValidationError: "ERROR"}):
                process(message)                          # a bad message is logged and skipped

    if __name__ == "__main__":
        runtime.run(main, handled={ConcurrencyException: "WARNING"})
"""

from __future__ import annotations

import datetime as _dt
import inspect
import json
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

__all__ = [
    "EXIT_CRASH",
    "EXIT_OK",
    "JsonFormatter",
    "Lifecycle",
    "item",
    "run",
]

EXIT_OK = 0
EXIT_CRASH = 1
_LOGGER_NAME = "restart_policy.runtime"
_T = TypeVar("_T")
Handled = Mapping[type[BaseException], "int | str"]


def process_name() -> str:
    """supervisor's process name when run by supervisor, else the program's file name."""
    return os.environ.get("SUPERVISOR_PROCESS_NAME") or os.path.basename(sys.argv[0] or "python")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, process, pid, logger, message, and for an exception
    its type, message and traceback (as one string, so the line stays one line)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _dt.datetime.fromtimestamp(record.created, _dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "process": process_name(),
            "pid": record.process,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            exc_type, exc, tb = record.exc_info
            assert exc_type is not None
            entry["exception"] = {
                "type": f"{exc_type.__module__}.{exc_type.__qualname__}",
                "message": str(exc),
                "traceback": "".join(traceback.format_exception(exc_type, exc, tb)),
            }
        for key in ("item", "event", "signal"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        return json.dumps(entry, ensure_ascii=False, default=repr)


def _logger() -> logging.Logger:
    logger = logging.getLogger(_LOGGER_NAME)
    if not any(getattr(h, "_restart_policy", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._restart_policy = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
    return logger


def _level(value: object) -> int:
    if isinstance(value, bool):
        raise TypeError(f"a log level must be a level name or number, not {value!r}")
    if isinstance(value, int):
        if logging.getLevelName(value).startswith("Level "):
            raise ValueError(f"unknown log level {value!r}: give e.g. logging.WARNING or 'WARNING'")
        return value
    if isinstance(value, str):
        number = logging.getLevelName(value.upper())
        if not isinstance(number, int):
            raise ValueError(
                f"unknown log level {value!r}: give DEBUG, INFO, WARNING, ERROR or CRITICAL"
            )
        return number
    raise TypeError(f"a log level must be a level name or number, not {type(value).__name__}")


def _check_handled(handled: object) -> dict[type[BaseException], int]:
    if handled is None:
        return {}
    if not isinstance(handled, Mapping):
        raise TypeError(
            "handled must map exception classes to log levels, e.g. {TimeoutError: 'WARNING'}, "
            f"not {type(handled).__name__}"
        )
    checked: dict[type[BaseException], int] = {}
    for cls, level in handled.items():
        if not (isinstance(cls, type) and issubclass(cls, Exception)):
            raise TypeError(
                f"handled keys must be exception classes (subclasses of Exception), not {cls!r}"
            )
        checked[cls] = _level(level)
    return checked


def _match(handled: dict[type[BaseException], int], exc: BaseException) -> int | None:
    for cls in type(exc).__mro__:  # the most specific listed class wins
        if cls in handled:
            return handled[cls]
    return None


class Lifecycle:
    """What a daemon's ``main`` needs to stop gracefully.

    The first stop signal sets ``stopping``; the loop should finish its current item and return.
    A second stop signal ends the process at once (exit code 128 + signal number).
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self.stop_signal: int | None = None

    @property
    def stopping(self) -> bool:
        """True once a stop was asked."""
        return self._stop.is_set()

    def request_stop(self, signal_number: int | None = None) -> None:
        """Ask for a stop, as the stop signal does (useful in tests and from other threads)."""
        if self.stop_signal is None:
            self.stop_signal = signal_number
        self._stop.set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking at once on a stop; True if a stop was asked."""
        return self._stop.wait(seconds)

    def items(self, iterable: Iterable[_T]) -> Iterator[_T]:
        """The items of ``iterable`` until a stop is asked: the current item always finishes."""
        for value in iterable:
            if self.stopping:
                return
            yield value
            if self.stopping:
                return


@contextmanager
def item(value: object, *, handled: Handled | None = None) -> Iterator[None]:
    """Runs one item of work: an exception listed in ``handled`` is logged at its level with the
    item and the loop goes on; any other exception goes up (``run`` logs it and the process
    dies), noted with the item it happened on."""
    checked = _check_handled(handled)
    try:
        yield
    except Exception as exc:
        level = _match(checked, exc)
        if level is None:
            exc.add_note(f"while handling item {value!r}")
            setattr(exc, "_restart_policy_item", repr(value))  # noqa: B010
            raise
        _logger().log(
            level,
            "handled exception on an item; going on with the next",
            exc_info=(type(exc), exc, exc.__traceback__),
            extra={"item": repr(value), "event": "item-handled"},
        )


def run(
    main: Callable[..., object],
    *,
    handled: Handled | None = None,
    stop_signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM),
) -> None:
    """Run a daemon's entry point by the restart policy.

    :param main: The entry point, called as ``main(lifecycle)`` if it takes a parameter, else
        ``main()``.
    :param handled: Exception class -> log level (``"WARNING"`` or ``logging.WARNING``). Such an
        exception is logged at that level and the process ends cleanly (exit 0). Default: none.
    :param stop_signals: Signals that ask for a graceful stop. Default: SIGINT (the policy's
        ``stopsignal=INT``) and SIGTERM (what ECS sends).
    :raises TypeError, ValueError: ``handled`` is malformed, before ``main`` starts.
    """
    checked = _check_handled(handled)
    if not callable(main):
        raise TypeError(f"main must be callable, not {type(main).__name__}")
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(
            "run() installs signal handlers, so it must be called from the main thread"
        )
    signals = [signal.Signals(number) for number in stop_signals]
    logger = _logger()
    life = Lifecycle()
    takes_lifecycle = _takes_argument(main)

    def on_signal(number: int, frame: FrameType | None) -> None:
        name = signal.Signals(number).name
        if life.stopping:
            logger.warning(
                "second stop signal: exiting now", extra={"signal": name, "event": "stop-forced"}
            )
            os._exit(128 + number)
        logger.info(
            "stop signal: finishing the current item",
            extra={"signal": name, "event": "stop-requested"},
        )
        life.request_stop(number)

    previous = {number: signal.signal(number, on_signal) for number in signals}
    try:
        if takes_lifecycle:
            main(life)
        else:
            main()
    except Exception as exc:
        level = _match(checked, exc)
        if level is None:
            logger.error(
                "unhandled exception: the process exits so that the platform restarts it",
                exc_info=(type(exc), exc, exc.__traceback__),
                extra=_item_extra(exc, "crash"),
            )
            raise
        logger.log(
            level,
            "handled exception: the process ends cleanly",
            exc_info=(type(exc), exc, exc.__traceback__),
            extra={"event": "handled-exit"},
        )
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if life.stopping:
        logger.info("stopped gracefully", extra={"event": "stopped"})


def _item_extra(exc: BaseException, event: str) -> dict[str, Any]:
    extra: dict[str, Any] = {"event": event}
    described = getattr(exc, "_restart_policy_item", None)
    if described is not None:
        extra["item"] = described
    return extra


def _takes_argument(function: Callable[..., object]) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters
    )
