"""The stop: a signal handler that takes no lock and does no I/O, and a watcher thread.

Standard library only. Why it is built this way: a Python signal handler runs in the main thread
between two bytecodes, possibly while that thread holds a lock (a ``threading.Event``'s, while in
``Event.wait``) or is inside a buffered write to stderr. A handler that sets an Event can then
deadlock, and one that logs can fail with "reentrant call". So the handler only records the stop in
plain attributes (and, where the app asked for it, raises ``Stopped``). Waking waiters is the job of
``signal.set_wakeup_fd``: CPython's C-level handler writes the signal number to a pipe at once,
and a watcher thread reading that pipe sets the Event, wakes asyncio and the ``fileno()`` pipe,
and ends the process on a second signal after flushing stdout and stderr.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from restart_policy import _runtime_lines as lines

if TYPE_CHECKING:
    import asyncio  # imported by the runtime only for an async main: it costs start-up time

# The watcher also looks at the handler's record this often, in case the app replaced the wakeup
# fd (asyncio's add_signal_handler does): a stop is then seen within this delay instead of never.
_POLL_SECONDS = 0.25

# A flush can block for ever on a full pipe whose reader is gone; the second signal must still
# end the process.
_FORCED_FLUSH_SECONDS = 2.0


# The state whose handlers are installed now (run() is not re-entrant across threads; a nested
# run() stacks), for a forked child to undo them.
_INSTALLED: list[StopState] = []


def _after_fork_in_child() -> None:
    """A forked child (a multiprocessing or pool worker) is a plain process again. Left as it
    was, it would write its signals into the parent's wakeup pipe (one ``killpg`` read as two:
    the parent forced out with 128+N) and keep a handler whose watcher thread did not survive
    the fork (SIGTERM ignored in the child)."""
    if not _INSTALLED:
        return
    state = _INSTALLED[0]  # the outermost run's handlers are what the process had before
    _INSTALLED.clear()
    # One at a time: a failure to restore one (a stale previous fd) must not leave the others.
    for previous in (state._previous_wakeup, -1):
        try:
            signal.set_wakeup_fd(previous)
            break
        except (ValueError, OSError):
            continue
    for number, handler in state._previous_handlers.items():
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(number, handler)


os.register_at_fork(after_in_child=_after_fork_in_child)


class Stopped(BaseException):
    """A graceful stop, raised inside the app's code: ``run`` ends the process with exit 0.

    A ``BaseException`` (like ``KeyboardInterrupt``), so that ``except Exception`` in a retry
    loop does not swallow it.
    """


class StopState:
    """Everything about the stop of one ``run``; the handler touches plain attributes only."""

    def __init__(self, stop_signals: list[signal.Signals]) -> None:
        self.stop_signals = stop_signals
        self.requested = False  # written by the handler, the watcher and request_stop
        self.signal_number: int | None = None
        self.handler_count = 0  # stop signals the Python-level handler saw
        self.raise_in_main = (
            0  # > 0: the handler raises Stopped (zero-argument main, interruptible)
        )
        self.masked = False  # the runtime is writing a line: a raise waits until it is done
        self.pending_raise = False
        self.raised = False
        self.announced = False
        self.crashing = False  # a thread crashed: no new items, waits wake
        self.event = (
            threading.Event()
        )  # the stop; set by the watcher or request_stop, never the handler
        self.wake = threading.Event()  # the stop or a crash in a thread: items end, waits return
        self._announce_lock = threading.Lock()
        # Pipes are made by install() (or fileno()): a Lifecycle made in the app's own tests
        # holds no file descriptors.
        self._wake_r = self._wake_w = -1
        self._stop_r = self._stop_w = -1  # readable once stopping; never drained
        self._pipe_lock = threading.Lock()
        self._closed = threading.Event()
        self._listeners: list[Callable[[], None]] = []
        self._previous_handlers: dict[int, Any] = {}
        self._previous_wakeup = -1
        self._watcher: threading.Thread | None = None

    # --- the signal handler: plain attributes only -------------------------------------------

    def on_signal(self, number: int, frame: FrameType | None) -> None:
        self.handler_count += 1
        # Counted, not read from `requested`: the watcher often sees the wakeup byte and sets
        # `requested` before this handler runs, and the first signal must still raise.
        if self.handler_count > 1:
            return  # the watcher ends the process on the second signal
        if self.signal_number is None:
            self.signal_number = number
        self.requested = True
        if self.raise_in_main > 0 and not self.raised:
            if self.masked:
                self.pending_raise = True
                return
            self.raised = True
            raise Stopped(signal.Signals(number).name)

    # --- installation ---------------------------------------------------------------------------

    def install(self) -> None:
        self._wake_r, self._wake_w = _pipe()
        self.stop_fd()
        for number in self.stop_signals:
            self._previous_handlers[number] = signal.signal(number, self.on_signal)
        self._previous_wakeup = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        _INSTALLED.append(self)
        self._watcher = threading.Thread(
            target=self._watch, name="restart-policy-stop-watcher", daemon=True
        )
        self._watcher.start()

    def uninstall(self) -> None:
        signal.set_wakeup_fd(self._previous_wakeup)
        for number, handler in self._previous_handlers.items():
            signal.signal(number, handler)
        # only now: a fork before this line must still undo the handlers in its child
        with contextlib.suppress(ValueError):
            _INSTALLED.remove(self)
        self._closed.set()
        with contextlib.suppress(OSError):  # wake the watcher so that it sees _closed
            os.write(self._wake_w, b"\0")
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        for fd in (self._wake_r, self._wake_w, self._stop_r, self._stop_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    # --- the watcher thread ---------------------------------------------------------------------

    def _watch(self) -> None:
        numbers = {int(number) for number in self.stop_signals}
        # Two views of the same signals: wakeup bytes (seen even when the main thread is stuck in
        # C code) and the handler's count (seen when the app replaced the wakeup fd). Each counts
        # a signal at most once, so their maximum is the number of signals. Folding the handler's
        # count into the byte count instead counted one signal twice when the handler ran before
        # its byte was read: a graceful stop became a forced exit 143.
        bytes_seen = 0
        last: int | None = None
        while not self._closed.is_set():
            try:
                readable, _, _ = select.select([self._wake_r], [], [], _POLL_SECONDS)
            except (OSError, ValueError):
                return
            if readable:
                try:
                    data = os.read(self._wake_r, 4096)
                except BlockingIOError:
                    data = b""
                except OSError:
                    return
                for byte in data:
                    if byte in numbers:
                        bytes_seen += 1
                        last = byte
                        if self.signal_number is None:
                            self.signal_number = byte
            if self._closed.is_set():
                return
            seen = max(bytes_seen, self.handler_count)
            if seen >= 1 or self.requested:
                self.requested = True
                self._set()
            if seen >= 2:
                self._force_exit(int(last or self.signal_number or signal.SIGTERM))

    def _set(self) -> None:
        if self.event.is_set():
            return
        self.event.set()
        self.wake.set()
        with self._pipe_lock, contextlib.suppress(OSError):
            if self._stop_w >= 0:
                os.write(self._stop_w, b"s")
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):
                listener()

    def _force_exit(self, number: int) -> None:
        code = 128 + number
        entries = []
        if not self.announced and self._announce_lock.acquire(False):
            # The main thread was busy (a long item) and never logged the stop: say it now.
            self.announced = True
            entries.append(
                lines.build_entry(
                    20,
                    "stop requested: finishing the current item",
                    event="stop-requested",
                    signal=self.signal_name(),
                )
            )
        entries.append(
            lines.build_entry(
                30,
                "second stop signal: exiting now",
                event="stop-forced",
                signal=signal.Signals(number).name,
                exit_code=code,
            )
        )
        data = "".join(lines.encode(entry) + "\n" for entry in entries).encode(
            "utf-8", "backslashreplace"
        )

        def report() -> None:
            # stderr first, straight to the descriptor: a stdout blocked on a full pipe (or a
            # stderr buffer held by the main thread) must not cost the line.
            lines.write_fd(2, data)
            lines.flush_std()

        flusher = threading.Thread(target=report, daemon=True)
        flusher.start()
        flusher.join(_FORCED_FLUSH_SECONDS)
        os._exit(code)

    # --- used by the runtime's own code (never from the handler) -------------------------------

    def request_stop(self, number: int | None = None) -> None:
        if not self.requested and number is not None:
            self.signal_number = number
        self.requested = True
        self._set()

    def stop_fd(self) -> int:
        """The read end of a pipe that becomes readable once a stop is asked."""
        with self._pipe_lock:
            if self._stop_r < 0:
                self._stop_r, self._stop_w = _pipe()
                if self.event.is_set():
                    os.write(self._stop_w, b"s")
            return self._stop_r

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)
        if self.event.is_set():
            listener()

    def wait(self, seconds: float | None) -> bool:
        """Sleep up to ``seconds`` (None: for ever); True at once if a stop is asked or a thread
        crashed (the app's loop should end)."""
        if not (self.requested or self.crashing):
            self.wake.wait(seconds)
        return self.requested or self.crashing

    def wait_for_stop(self, seconds: float | None) -> bool:
        """Sleep up to ``seconds``; True at once if a stop is asked (a crash does not count)."""
        if not self.requested:
            self.event.wait(seconds)
        return self.requested

    def announce(self) -> None:
        """Log the stop once, from the runtime's own code in an ordinary context."""
        if not self.requested or self.announced or not self._announce_lock.acquire(False):
            return
        try:
            if self.announced:
                return
            self.announced = True
            name = self.signal_name()
            with self.quiet():
                lines.emit(
                    20,
                    "stop requested: finishing the current item",
                    event="stop-requested",
                    signal=name,
                )
        finally:
            self._announce_lock.release()

    def signal_name(self) -> str | None:
        """The name of the signal that asked for the stop, if one was asked by a signal."""
        if not self.requested or self.signal_number is None:
            return None
        return signal.Signals(self.signal_number).name

    def quiet(self) -> _Masked:
        return _Masked(self)

    def crash_stop(self) -> None:
        """A thread crashed: make items stop and waits return, without calling it a stop."""
        self.crashing = True
        self.wake.set()


def _pipe() -> tuple[int, int]:
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)  # set_wakeup_fd needs it; a full pipe must not block anyone
    return read, write


class _Masked:
    """While the runtime writes a line, a graceful-stop raise waits until the line is whole."""

    def __init__(self, state: StopState) -> None:
        self._state = state
        self._outer = False

    def __enter__(self) -> None:
        # The handler raises in the main thread only: another thread's line needs no mask, and
        # must never receive the main thread's pending Stopped.
        if threading.current_thread() is not threading.main_thread():
            return
        self._outer = not self._state.masked
        self._state.masked = True

    def __exit__(self, *exc: object) -> None:
        if not self._outer:
            return
        self._state.masked = False
        state = self._state
        if state.pending_raise and state.raise_in_main > 0 and not state.raised:
            state.pending_raise = False
            state.raised = True
            raise Stopped("stop")


class Stopping:
    """A read-only view of the stop, shaped like ``threading.Event``: ``is_set()``, ``wait()``;
    true in a boolean context once a stop was asked."""

    def __init__(self, state: StopState) -> None:
        self._state = state

    def is_set(self) -> bool:
        """True once a stop was asked."""
        if self._state.requested and threading.current_thread() is threading.main_thread():
            self._state.announce()
        return self._state.requested

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a stop is asked or ``timeout`` passes; True if it was asked."""
        self._state.wait_for_stop(timeout)
        return self.is_set()

    def fileno(self) -> int:
        """A pipe that becomes readable once a stop is asked (for ``select``/``selectors``)."""
        return self._state.stop_fd()

    def __bool__(self) -> bool:
        return self.is_set()

    def __repr__(self) -> str:
        return f"<Stopping {'set' if self._state.requested else 'unset'}>"


class AsyncStopping:
    """``life.stopping`` for ``async def main``: shaped like ``asyncio.Event`` (``is_set()``,
    ``await wait()``), read-only."""

    def __init__(self, state: StopState, event: asyncio.Event) -> None:
        self._state = state
        self._event = event

    def is_set(self) -> bool:
        """True once a stop was asked."""
        if self._state.requested:
            self._state.announce()
        return self._state.requested

    async def wait(self) -> bool:
        """Wait until a stop is asked; True (as ``asyncio.Event.wait``)."""
        await self._event.wait()
        return self.is_set()

    def fileno(self) -> int:
        """A pipe that becomes readable once a stop is asked (for ``loop.add_reader``)."""
        return self._state.stop_fd()

    def __bool__(self) -> bool:
        return self.is_set()
