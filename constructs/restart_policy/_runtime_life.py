"""``Lifecycle`` and ``AsyncLifecycle``: what a daemon's ``main`` sees of the stop. Standard
library only."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterable, AsyncIterator, Coroutine, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar

from restart_policy import _heartbeat
from restart_policy._runtime_stop import AsyncStopping, Stopped, Stopping, StopState

if TYPE_CHECKING:
    import asyncio

_T = TypeVar("_T")


class Lifecycle:
    """What a daemon's ``main(life)`` needs to stop gracefully.

    The first stop signal sets ``life.stopping``; the loop should finish its current item and
    return (``life.items`` does it for you). A second stop signal ends the process at once, with
    exit code 128 + the signal's number, after flushing stdout and stderr.
    """

    Stopped = Stopped
    """Raise it (or let ``life.sleep``/``life.check``/``life.interruptible`` raise it) to stop
    gracefully from deep inside the code: ``run`` ends the process with exit 0."""

    def __init__(self, state: StopState | None = None) -> None:
        if state is None:  # a Lifecycle of its own, for tests of the app's code
            import signal

            state = StopState([signal.SIGTERM])
        self._state = state
        self._stopping = Stopping(state)

    @property
    def stopping(self) -> Stopping:
        """A read-only, ``threading.Event``-like view of the stop: ``is_set()``, ``wait(timeout)``,
        ``fileno()``; true in a boolean context once a stop was asked."""
        return self._stopping

    @property
    def stop_signal(self) -> int | None:
        """The number of the signal that asked for the stop, if a signal did."""
        return self._state.signal_number

    def request_stop(self, signal_number: int | None = None) -> None:
        """Ask for a graceful stop, as the first stop signal does (from any thread)."""
        self._state.request_stop(signal_number)

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking at once on a stop; True if a stop was asked."""
        stopped = self._state.wait(seconds)
        _heartbeat.beat()
        self._notice()
        return stopped

    def sleep(self, seconds: float) -> None:
        """``time.sleep`` that raises ``Stopped`` on a stop: a drop-in for retry loops
        (``tenacity.Retrying(sleep=life.sleep)``)."""
        if self.wait(seconds):
            raise Stopped("stop requested")

    def check(self) -> None:
        """Raise ``Stopped`` if a stop was asked; a cheap call for long computations."""
        if self._state.requested:
            self._notice()
            raise Stopped("stop requested")

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """A block in which the first stop signal raises ``Stopped`` at once, in the main thread:
        a blocking read, ``recv`` or lock wait inside it ends with the stop (the signal interrupts
        the system call and the exception unwinds it). Main thread only."""
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("life.interruptible() works in the main thread only")
        self.check()
        state = self._state
        state.raise_in_main += 1
        try:
            yield
        finally:
            state.raise_in_main -= 1

    def items(self, iterable: Iterable[_T]) -> Iterator[_T]:
        """The items of ``iterable`` until a stop is asked: the current item always finishes.

        The stop is checked before the next item is taken, never after: an item the source has
        handed over (a message received, perhaps acknowledged) is always yielded."""
        yield from _until_stopped(self._state, iterable)
        self._notice()

    def _notice(self) -> None:
        if self._state.requested and threading.current_thread() is threading.main_thread():
            self._state.announce()


class AsyncLifecycle:
    """What ``async def main(life)`` gets: the same stop, with awaitable waits."""

    Stopped = Stopped

    def __init__(self, state: StopState, event: asyncio.Event) -> None:
        self._state = state
        self._event = event
        self._stopping = AsyncStopping(state, event)

    @property
    def stopping(self) -> AsyncStopping:
        """A read-only, ``asyncio.Event``-like view of the stop: ``is_set()``, ``await wait()``."""
        return self._stopping

    @property
    def stop_signal(self) -> int | None:
        """The number of the signal that asked for the stop, if a signal did."""
        return self._state.signal_number

    def request_stop(self) -> None:
        """Ask for a graceful stop, as the first stop signal does (from any thread)."""
        self._state.request_stop()

    async def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking at once on a stop; True if a stop was asked."""
        import asyncio

        if not (self._state.requested or self._state.crashing):
            with suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), seconds)
        _heartbeat.beat()
        if self._state.requested:
            self._state.announce()
        return self._state.requested or self._state.crashing

    def create_task(
        self, coroutine: Coroutine[Any, Any, _T], *, name: str | None = None
    ) -> asyncio.Task[_T]:
        """``asyncio.create_task`` whose failure ends the process like one in ``main`` (one JSON
        line, exit 1), instead of a dead task nobody awaits."""
        import asyncio

        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        task.add_done_callback(_crash_on_failure)
        return task

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep`` that raises ``Stopped`` on a stop."""
        if await self.wait(seconds):
            raise Stopped("stop requested")

    def check(self) -> None:
        """Raise ``Stopped`` if a stop was asked."""
        if self._state.requested:
            self._state.announce()
            raise Stopped("stop requested")

    def items(self, iterable: Iterable[_T]) -> Iterator[_T]:
        """As ``Lifecycle.items``."""
        yield from _until_stopped(self._state, iterable)

    async def aitems(self, iterable: AsyncIterable[_T]) -> AsyncIterator[_T]:
        """``life.items`` for an async iterable: ``async for message in life.aitems(queue)``.

        A stop wakes the wait for the next item: that wait is cancelled (the source sees
        ``CancelledError`` where it awaits) and the loop ends. An item the source handed over
        before the stop is always yielded."""
        import asyncio

        state = self._state
        iterator = aiter(iterable)
        stop = asyncio.ensure_future(self._event.wait())
        try:
            while not (state.requested or state.crashing):
                step = asyncio.ensure_future(anext(iterator))
                await asyncio.wait({step, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not step.done():
                    step.cancel()
                    with suppress(asyncio.CancelledError, StopAsyncIteration):
                        await step
                if step.cancelled():
                    break
                if step.exception() is not None:
                    if isinstance(step.exception(), StopAsyncIteration):
                        return
                    raise step.exception()  # type: ignore[misc]
                _heartbeat.beat()
                yield step.result()
        finally:
            stop.cancel()
        if state.requested:
            state.announce()


def _until_stopped(state: StopState, iterable: Iterable[_T]) -> Iterator[_T]:
    iterator = iter(iterable)
    while not (state.requested or state.crashing):
        try:
            value = next(iterator)
        except StopIteration:
            return
        _heartbeat.beat()
        yield value


def _crash_on_failure(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, Stopped):
        from restart_policy import _runtime_exit

        _runtime_exit.crash_in_thread(exc, where=f"task {task.get_name()}")
