"""How an exception ends a daemon: classified, logged as one line, then the exit. Standard library
only."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from restart_policy import _runtime_lines as lines
from restart_policy._runtime_stop import Stopped, StopState

EXIT_OK = 0
EXIT_CRASH = 1

HandledLevels = dict[type[BaseException], int]


@dataclass(frozen=True)
class Outcome:
    kind: str  # "stopped" | "handled" | "exit" | "crash"
    exit_code: int
    level: int = logging.ERROR


def level_of(value: object) -> int:
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


def check_handled(handled: object) -> HandledLevels:
    if handled is None:
        return {}
    if not isinstance(handled, Mapping):
        raise TypeError(
            "handled must map exception classes to log levels, e.g. {TimeoutError: 'WARNING'}, "
            f"not {type(handled).__name__}"
        )
    checked: HandledLevels = {}
    for cls, level in handled.items():
        if not (isinstance(cls, type) and issubclass(cls, Exception)):
            raise TypeError(
                f"handled keys must be exception classes (subclasses of Exception), not {cls!r}"
            )
        checked[cls] = level_of(level)
    return checked


def leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        found: list[BaseException] = []
        for inner in exc.exceptions:
            found.extend(leaves(inner))
        return found
    return [exc]


def _match_one(handled: HandledLevels, exc: BaseException) -> int | None:
    for cls in type(exc).__mro__:  # the most specific listed class wins
        if cls in handled:
            return handled[cls]
    return None


def match(handled: HandledLevels, exc: BaseException) -> int | None:
    """The level if every leaf (of an ExceptionGroup) is handled, else None. Leaves that are
    graceful stops count as handled at INFO."""
    levels = []
    for leaf in leaves(exc):
        if isinstance(leaf, Stopped):
            levels.append(logging.INFO)
            continue
        level = _match_one(handled, leaf)
        if level is None:
            return None
        levels.append(level)
    return max(levels)


def exit_code_of(code: object) -> int:
    """What the interpreter would exit with for ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, bool):
        return int(code)
    if isinstance(code, int):
        return code & 0xFF
    return 1  # a message: printed, exit 1


def _leaf_outcome(
    leaf: BaseException, handled: HandledLevels, stop_like: tuple[type[BaseException], ...]
) -> Outcome:
    if isinstance(leaf, stop_like):
        return Outcome("stopped", EXIT_OK, logging.INFO)
    if isinstance(leaf, SystemExit):
        code = exit_code_of(leaf.code)
        return Outcome("exit", code, logging.INFO) if code == 0 else Outcome("crash", code)
    if isinstance(leaf, KeyboardInterrupt):
        return Outcome("crash", 128 + signal.SIGINT)
    level = _match_one(handled, leaf) if isinstance(leaf, Exception) else None
    if level is not None:
        return Outcome("handled", EXIT_OK, level)
    return Outcome("unknown", EXIT_CRASH)


# For a group, the outcome of the leaf that says the most: an unknown leaf wins (a crash, exit 1),
# then the highest non-zero exit code (SystemExit(N), KeyboardInterrupt's 130), then a handled
# leaf (exit 0, at the highest level), then SystemExit(0), then a stop.
_RANK = {"unknown": 4, "crash": 3, "handled": 2, "exit": 1, "stopped": 0}


def classify(
    exc: BaseException, handled: HandledLevels, state: StopState, *, cancel_is_stop: bool = False
) -> Outcome:
    """How ``exc`` ends the process. An ``ExceptionGroup`` is decided leaf by leaf: any unknown
    leaf makes it a crash with exit 1; else the highest exit code of its leaves (``SystemExit(N)``
    gives N, ``KeyboardInterrupt`` 130, ``Stopped`` and handled leaves 0)."""
    stop_like: tuple[type[BaseException], ...] = (Stopped,)
    asyncio = sys.modules.get("asyncio")  # only loaded (and only relevant) for an async main
    if cancel_is_stop and state.requested and asyncio is not None:
        stop_like = (Stopped, asyncio.CancelledError)
    outcomes = [_leaf_outcome(leaf, handled, stop_like) for leaf in leaves(exc)]
    worst = max(outcomes, key=lambda o: (_RANK[o.kind], o.exit_code, o.level))
    if worst.kind == "unknown":
        return Outcome("crash", EXIT_CRASH)
    if worst.kind == "handled":
        levels = [o.level for o in outcomes if o.kind == "handled"]
        return Outcome("handled", EXIT_OK, max(levels))
    return worst


def item_of(exc: BaseException) -> str | None:
    for leaf in [exc, *leaves(exc)]:
        described = getattr(leaf, "_restart_policy_item", None)
        if isinstance(described, str):
            return described
    return None


def report(
    exc: BaseException,
    outcome: Outcome,
    *,
    thread: str | None = None,
    signal_name: str | None = None,
    stopping: bool = False,
) -> None:
    """The one line for ``outcome``; the app's handlers get the same event first. A crash while
    a stop was asked (``stopping``) is logged at ERROR as ``crash-after-stop``, not ``crash``: the
    platform is stopping the container, so the crash metric must not count it (the hold wrapper
    says ``stopped`` for the same case)."""
    if outcome.kind == "stopped":
        return
    if outcome.kind == "handled":
        lines.emit(
            outcome.level,
            "handled exception: the process ends cleanly",
            event="handled-exit",
            exc=exc,
            exit_code=outcome.exit_code,
            item=item_of(exc),
        )
        return
    if outcome.kind == "exit":
        return
    where = f" in {thread}" if thread else ""
    if isinstance(exc, SystemExit):
        message = f"SystemExit({exc.code!r}){where}: the process exits with {outcome.exit_code}"
    elif isinstance(exc, KeyboardInterrupt):
        message = f"KeyboardInterrupt{where}: the process exits with {outcome.exit_code}"
    elif isinstance(exc, BaseExceptionGroup) and outcome.exit_code != EXIT_CRASH:
        message = f"exception group{where}: the process exits with {outcome.exit_code}"
    else:
        message = f"unhandled exception{where}: the process exits so that the platform restarts it"
    lines.emit(
        logging.ERROR,
        message,
        event="crash-after-stop" if stopping else "crash",
        exc=exc,
        force=True,
        exit_code=outcome.exit_code,
        item=item_of(exc),
        signal=signal_name,
    )
    _tell_wrapper()


def _tell_wrapper() -> None:
    try:
        from restart_policy import _hold_core
    except ImportError:
        return
    _hold_core.tell_wrapper_exit_reported()


def hold(state: StopState, exit_code: int, started: float) -> None:
    """The ECS crash hold (a no-op unless ``RESTART_POLICY_HOLD`` is set); a stop ends it."""
    try:
        from restart_policy import _hold_core
    except ImportError:
        return
    # The wrapper's stop signals end this hold too, whatever ``run``'s own stop_signals are: a
    # SIGQUIT that the platform sends to stop the container must not kill a holding process by
    # its default action (a core dump, and not the crash's exit code).
    asked: list[int] = []
    previous: dict[int, Any] = {}
    for number in _hold_core.HOLD_STOP_SIGNALS:
        if number in state.stop_signals:
            continue
        with contextlib.suppress(ValueError, OSError):  # not the main thread: cannot install
            previous[number] = signal.signal(number, lambda n, f: asked.append(n))

    def wait(seconds: float) -> bool:
        if not previous:
            return state.wait_for_stop(seconds)
        end_at = time.monotonic() + seconds
        while True:  # a handler cannot wake the state's event safely: poll the flag briefly
            slice_ = min(_EXTRA_STOP_POLL_SECONDS, max(0.0, end_at - time.monotonic()))
            if state.wait_for_stop(slice_) or asked:
                return True
            if time.monotonic() >= end_at:
                return False

    try:
        with contextlib.suppress(Exception):
            _hold_core.hold_after_crash(
                exit_code=exit_code, uptime_seconds=time.monotonic() - started, wait=wait
            )
    finally:
        for installed, handler in previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(installed, handler)


_EXTRA_STOP_POLL_SECONDS = 0.1


def others_alive() -> bool:
    """Whether a non-daemon thread other than this one would keep the interpreter from exiting."""
    me = threading.current_thread()
    return any(
        t is not me and t.is_alive() and not t.daemon and t is not threading.main_thread()
        for t in threading.enumerate()
    )


def end(code: int, *, hard: bool) -> None:
    """Flush stdout and stderr, then exit with ``code``: through ``SystemExit`` when nothing keeps
    the interpreter alive, else at once (a non-daemon thread would otherwise hang the exit)."""
    flushed = lines.flush_std()
    if hard or not flushed or others_alive():
        os._exit(code)
    sys.exit(code)


CrashHook = Callable[[BaseException, str | None], None]


class RunContext:
    """One ``run``: how its crashes, wherever they happen, end the process."""

    def __init__(self, state: StopState, handled: HandledLevels) -> None:
        self.state = state
        self.handled = handled
        self.started = time.monotonic()
        self._ending = threading.Lock()

    def finish(
        self, exc: BaseException, *, thread: str | None = None, cancel_is_stop: bool = False
    ) -> int:
        """Report ``exc``; for a crash, flush and hold. Returns the exit code. A second crash
        while the first one is ending is reported, then waits for the end."""
        outcome = classify(exc, self.handled, self.state, cancel_is_stop=cancel_is_stop)
        # A crash after a stop (a long item that failed) still says that the stop was asked.
        self.state.announce()
        with self.state.quiet():
            report(
                exc,
                outcome,
                thread=thread,
                signal_name=self.state.signal_name(),
                stopping=self.state.requested,
            )
        if not self._ending.acquire(blocking=False):
            if thread is not None:
                threading.Event().wait()  # the first crash ends the process
            self._ending.acquire()
        if outcome.kind == "crash":
            self.state.crash_stop()
            lines.flush_std()
            if not self.state.requested:  # the platform is stopping it: no restart follows
                hold(self.state, outcome.exit_code, self.started)
        return outcome.exit_code

    def hold_if_ending(self) -> None:
        """``main`` returned while a thread's crash ends the process: wait for that end, so that
        the process never exits 0 after a crash."""
        if self.state.crashing:
            threading.Event().wait()  # the crashing thread ends the process

    def thread_crashed(self, exc: BaseException, thread: str) -> None:
        """An exception ended a thread (or an executor task, an asyncio task): an unknown one ends
        the process like one in ``main``; a handled one is logged at its level and the process
        goes on (the thread's work is over; a Future or task still holds the exception)."""
        if isinstance(exc, Stopped | SystemExit):
            return  # a graceful end of the thread, as the interpreter's own hook treats SystemExit
        outcome = classify(exc, self.handled, self.state)
        if outcome.kind in ("handled", "stopped", "exit"):
            if outcome.kind == "handled":
                with self.state.quiet():
                    lines.emit(
                        outcome.level,
                        f"handled exception in {thread}; the process goes on",
                        event="handled-in-thread",
                        exc=exc,
                        item=item_of(exc),
                    )
            return
        self.state.crash_stop()  # from here on, main returning must not end the process with 0
        code = self.finish(exc, thread=thread)
        lines.flush_std()
        os._exit(code)


CURRENT: list[RunContext] = []  # the run in progress, if any (run() nests only in tests)


def crash_in_thread(exc: BaseException, *, where: str | None = None) -> bool:
    """Route a worker's exception to the run in progress; False when there is none."""
    if not CURRENT:
        return False
    CURRENT[-1].thread_crashed(exc, where or f"thread {threading.current_thread().name}")
    return True
