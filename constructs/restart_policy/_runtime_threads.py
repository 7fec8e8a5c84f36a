"""Threads: an exception that ends a thread, or a task of ``runtime.executor``, ends the process
like one in ``main``. Standard library only."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from restart_policy import _runtime_exit

_P = ParamSpec("_P")
_R = TypeVar("_R")


def excepthook(args: threading.ExceptHookArgs) -> None:
    """``threading.excepthook`` while ``run`` runs."""
    exc = args.exc_value
    if exc is None:
        return
    name = args.thread.name if args.thread is not None else threading.current_thread().name
    if _runtime_exit.CURRENT:
        _runtime_exit.CURRENT[-1].thread_crashed(exc, f"thread {name}")
    else:
        threading.__excepthook__(args)


class CrashingExecutor(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose tasks crash the process on an unknown exception (one JSON
    line, exit 1), instead of leaving it in a ``Future`` nobody reads."""

    def submit(  # type: ignore[override]
        self, fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> Future[_R]:
        if inspect.iscoroutinefunction(fn):
            raise TypeError(
                f"{getattr(fn, '__qualname__', fn)!r} is a coroutine function: a thread would only "
                "create the coroutine, never run it; await it in async code instead"
            )

        def task() -> _R:
            try:
                return fn(*args, **kwargs)
            except BaseException as exc:
                _runtime_exit.crash_in_thread(exc)
                raise

        return super().submit(task)


def executor(max_workers: int | None = None, *, thread_name_prefix: str = "") -> Any:
    return CrashingExecutor(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
