"""The stop watcher's signal count, driven in-process in a fixed order.

A real process shows the race only about once in 200 stops on a loaded machine (the handler runs,
the watcher's poll times out and reads the handler's count, then reads the signal's wakeup byte).
Here the same order is forced: no signal is sent, the watcher thread runs against its pipe, and
``_force_exit`` is replaced so that a forced exit is recorded instead of ending pytest.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from restart_policy._runtime_stop import StopState, _pipe

DEADLINE_SECONDS = 30.0  # a loaded machine may take long; a pass never waits for it


class Watched:
    def __init__(self) -> None:
        self.state = StopState([signal.SIGINT, signal.SIGTERM])
        self.state._wake_r, self.state._wake_w = _pipe()
        self.forced: list[int] = []
        self.sets = 0
        original_set = self.state._set

        def counting_set() -> None:
            self.sets += 1
            original_set()

        def force_exit(number: int) -> None:
            self.forced.append(number)
            self.state._closed.set()  # as os._exit would, the watcher ends here

        # Instance attributes shadow the methods: the watcher's own calls come here.
        self.state._force_exit = force_exit  # type: ignore[method-assign]
        self.state._set = counting_set  # type: ignore[method-assign]

    def until(self, condition: Callable[[], object]) -> None:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("the watcher did not get there in time")
            time.sleep(0.005)

    def passes_after_byte(self) -> None:
        """Wait until the watcher has read the byte and then finished one more pass (each pass
        calls ``_set`` once a stop is seen, after the check that forces the exit)."""
        self.until(lambda: self.state.signal_number is not None)
        after = self.sets
        self.until(lambda: self.sets >= after + 2 or self.forced)


@contextmanager
def watching() -> Iterator[Watched]:
    watched = Watched()
    thread = threading.Thread(target=watched.state._watch, daemon=True)
    thread.start()
    try:
        yield watched
    finally:
        watched.state._closed.set()
        os.write(watched.state._wake_w, b"\0")
        thread.join(DEADLINE_SECONDS)
        for fd in (watched.state._wake_r, watched.state._wake_w):
            os.close(fd)


def test_one_signal_whose_byte_is_read_after_its_handler_ran_is_not_a_second_signal() -> None:
    with watching() as watched:
        watched.state.handler_count = 1  # the handler ran; the wakeup byte is not read yet
        watched.until(watched.state.event.is_set)  # a poll timed out and saw the handler's count
        os.write(watched.state._wake_w, bytes([signal.SIGTERM]))  # now the same signal's byte
        watched.passes_after_byte()
        assert watched.forced == []


def test_a_second_signal_seen_by_its_handler_and_byte_forces_the_exit() -> None:
    with watching() as watched:
        watched.state.handler_count = 1
        watched.until(watched.state.event.is_set)
        os.write(watched.state._wake_w, bytes([signal.SIGTERM]))
        watched.passes_after_byte()
        watched.state.handler_count = 2
        os.write(watched.state._wake_w, bytes([signal.SIGTERM]))
        watched.until(lambda: watched.forced)
        assert watched.forced == [signal.SIGTERM]


def test_two_signal_bytes_force_the_exit_when_the_handler_never_ran() -> None:
    # The main thread is stuck in C code: only the wakeup bytes tell.
    with watching() as watched:
        os.write(watched.state._wake_w, bytes([signal.SIGTERM, signal.SIGTERM]))
        watched.until(lambda: watched.forced)
        assert watched.forced == [signal.SIGTERM]


def test_one_signal_byte_alone_is_a_graceful_stop() -> None:
    with watching() as watched:
        os.write(watched.state._wake_w, bytes([signal.SIGINT]))
        watched.passes_after_byte()
        assert watched.forced == []
        assert watched.state.requested
