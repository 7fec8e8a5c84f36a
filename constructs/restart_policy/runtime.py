"""The process side of the restart policy, for daemons: standard library only.

The policy asks a daemon to handle the exceptions it knows, and to *log, then re-raise* any
other, so that the process dies and the platform (supervisor, ECS) restarts it with fresh
connections and configuration. ``run`` does exactly that: it writes the crash as one JSON line on
stderr (a raw multi-line traceback is what log pipelines fail to parse) and exits 1; it turns the
stop signal into a graceful stop (the current item finishes, exit 0).

Exit codes, and what the platforms built by this library do with them:

=====  ===================================================  =====================================
code   when                                                 supervisor (``autorestart``) and ECS
=====  ===================================================  =====================================
0      ``main`` returned, a ``handled`` exception ended it,  restarted with ``restart="always"``
       or a stop was honoured (non-daemon threads still      (the default); an expected exit with
       running are not waited for: a line names them)        ``restart="on-failure"``
1      an exception not in ``handled``, in ``main`` or in    restarted
       any thread; ``sys.exit("message")``; an
       ``ExceptionGroup`` with any such leaf
N      ``sys.exit(N)``                                       restarted
128+N  a second stop signal N stopped the process at once    restarted unless it was stopping
       (130 for SIGINT, 143 for SIGTERM); 130 for a
       ``KeyboardInterrupt`` raised by the app
max    an ``ExceptionGroup`` of known leaves: the highest    as its code says
       of their codes (``Stopped``/handled 0, ``SystemExit``
       N, ``KeyboardInterrupt`` 130)
=====  ===================================================  =====================================

The pieces live in private modules (``_runtime_stop``: the signal handler and its watcher thread;
``_runtime_life``: ``Lifecycle``; ``_runtime_lines``: the JSON lines; ``_runtime_exit``: outcomes
and exits; ``_runtime_threads``: threads and the executor); this module is the public face.
"""

from __future__ import annotations

import inspect
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from restart_policy import _runtime_exit, _runtime_lines
from restart_policy._runtime_exit import EXIT_CRASH, EXIT_OK, RunContext
from restart_policy._runtime_life import AsyncLifecycle, Lifecycle
from restart_policy._runtime_lines import MAX_ITEM_CHARS, MAX_LINE_BYTES, JsonFormatter
from restart_policy._runtime_stop import AsyncStopping, Stopped, Stopping, StopState

__all__ = [
    "EXIT_CRASH",
    "EXIT_OK",
    "MAX_ITEM_CHARS",
    "MAX_LINE_BYTES",
    "AsyncLifecycle",
    "AsyncStopping",
    "JsonFormatter",
    "Lifecycle",
    "Stopped",
    "Stopping",
    "executor",
    "item",
    "run",
]

Handled = Mapping[type[BaseException], "int | str"]
Describe = Callable[[Any], object]

_UNSTOPPABLE = {signal.SIGKILL, signal.SIGSTOP}
# Signals whose default is to be ignored: the kernel sends them for events, not to stop.
_NOT_STOPS = {
    signal.Signals[name]
    for name in ("SIGCHLD", "SIGCONT", "SIGWINCH", "SIGURG")
    if hasattr(signal, name)
}


def _is_async(function: object) -> bool:
    if inspect.iscoroutinefunction(function):
        return True
    call = type(function).__dict__.get("__call__") or getattr(type(function), "__call__", None)  # noqa: B004
    return (
        call is not None and not inspect.isfunction(function) and inspect.iscoroutinefunction(call)
    )


def _check_describe(describe: object) -> Describe | None:
    if describe is None:
        return None
    if not callable(describe):
        raise TypeError(
            f"describe must be a function of the item returning a short text, not {describe!r}"
        )
    if _is_async(describe):
        raise TypeError(
            "describe must be a plain function: a coroutine function would return a coroutine, "
            "not a text"
        )
    return describe


def _check_main(main: object) -> tuple[bool, bool]:
    """(is async, takes the lifecycle); TypeError for anything ``run`` cannot run."""
    if inspect.iscoroutine(main) or inspect.isawaitable(main):
        close = getattr(main, "close", None)
        if callable(close):
            close()  # else Python prints a raw "coroutine was never awaited" warning at exit
        raise TypeError(
            "main is a coroutine object: pass the function itself, run(main), not run(main())"
        )
    if not callable(main):
        raise TypeError(f"main must be a function, not {type(main).__name__}")
    if inspect.isgeneratorfunction(main) or inspect.isasyncgenfunction(main):
        raise TypeError(
            "main is a generator function: calling it would only create the generator; "
            "loop inside main instead of yielding"
        )
    try:
        parameters = inspect.signature(main)
    except (TypeError, ValueError):
        return _is_async(main), False
    try:
        parameters.bind(None)
        takes_life = any(
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
            for p in parameters.parameters.values()
        )
    except TypeError:
        takes_life = False
    if not takes_life:
        try:
            parameters.bind()
        except TypeError as error:
            raise TypeError(
                f"run() calls main(life) or main(); main{parameters} cannot be called either "
                f"way ({error})"
            ) from None
    return _is_async(main), takes_life


def _check_signals(stop_signals: Iterable[int]) -> list[signal.Signals]:
    signals = [signal.Signals(number) for number in stop_signals]
    if not signals:
        raise ValueError("stop_signals is empty: give at least one, e.g. (signal.SIGTERM,)")
    for number in signals:
        if number in _UNSTOPPABLE:
            raise ValueError(f"{number.name} cannot be caught: it cannot ask for a graceful stop")
        if number in _NOT_STOPS:
            raise ValueError(
                f"{number.name} is sent by the system for other reasons (a child ended, a window "
                "resized, ...): it cannot mean a stop; use SIGTERM, SIGINT, SIGQUIT or SIGUSR1"
            )
    duplicates = sorted({s.name for s in signals if signals.count(s) > 1})
    if duplicates:
        raise ValueError(
            f"stop_signals lists {', '.join(duplicates)} more than once: give each signal once"
        )
    return signals


class _Run:
    """State that ``item`` reads while a ``run`` is in progress."""

    describe: Describe | None = None
    state: StopState | None = None


@contextmanager
def item(
    value: object, *, handled: Handled | None = None, describe: Describe | None = None
) -> Iterator[None]:
    """Runs one item of work: an exception listed in ``handled`` (every leaf of an
    ``ExceptionGroup``) is logged at its level with the item and the loop goes on; any other
    exception goes up (``run`` logs it and the process dies), noted with the item it happened on.

    :param describe: How the item appears in the lines, e.g. ``lambda m: m.id``. Default: a
        ``repr`` bounded to ``MAX_ITEM_CHARS`` characters. A hook that raises gives the type name
        and says so; it never hides the crash.
    """
    checked = _runtime_exit.check_handled(handled)
    hook = _check_describe(describe)
    try:
        yield
    except Exception as exc:
        level = _runtime_exit.match(checked, exc)
        described = _runtime_lines.describe_item(value, hook or _Run.describe)
        if level is None:
            exc.add_note(f"while handling item {described}")
            setattr(exc, "_restart_policy_item", described)  # noqa: B010
            raise
        state = _Run.state
        emit = _runtime_lines.emit
        arguments: dict[str, Any] = {"event": "item-handled", "exc": exc, "item": described}
        message = "handled exception on an item; going on with the next"
        if state is None:
            emit(level, message, **arguments)
        else:
            with state.quiet():
                emit(level, message, **arguments)


def executor(max_workers: int | None = None, *, thread_name_prefix: str = "") -> Any:
    """A ``concurrent.futures.ThreadPoolExecutor`` whose tasks end the process like ``main`` on an
    exception not in ``run``'s ``handled`` (one JSON line, exit 1): a failed task is never left
    unseen in a ``Future``. An exception in ``handled`` is logged at its level and stays in the
    ``Future`` for the app; the process goes on. Submitting a coroutine function is a
    ``TypeError``."""
    from restart_policy import _runtime_threads

    return _runtime_threads.executor(max_workers, thread_name_prefix=thread_name_prefix)


def run(
    main: Callable[..., object],
    *,
    handled: Handled | None = None,
    stop_signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM),
    describe: Describe | None = None,
) -> None:
    """Run a daemon's entry point by the restart policy.

    :param main: ``main(life)`` or ``main()``, plain or ``async def``. With no parameter, the first
        stop signal raises ``Stopped`` inside ``main`` at once (there is no item boundary to wait
        for); an async one is cancelled. ``Stopped`` is raised once: a bare ``except:`` that goes
        on looping swallows it. When ``main`` ends, the process ends (after flushing), without
        waiting for non-daemon threads: join them in ``main``.
    :param handled: Exception class -> log level (``"WARNING"`` or ``logging.WARNING``). Such an
        exception (every leaf of an ``ExceptionGroup``) ending ``main`` is logged at that level and
        the process ends cleanly (exit 0); in a thread, a task or an executor task it is logged
        and the process goes on. Default: none.
    :param stop_signals: Signals that ask for a graceful stop. Default: SIGINT (the policy's
        ``stopsignal=INT``) and SIGTERM (what ECS sends).
    :param describe: How ``runtime.item`` shows items that do not give their own. Default: a
        bounded ``repr``.
    :raises TypeError, ValueError: before ``main`` starts, for anything it cannot run or use.
    """
    checked = _runtime_exit.check_handled(handled)
    hook = _check_describe(describe)
    is_async, takes_life = _check_main(main)
    signals = _check_signals(stop_signals)
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(
            "run() installs signal handlers, so it must be called from the main thread"
        )
    from restart_policy import _runtime_threads

    state = StopState(signals)
    context = RunContext(state, checked)
    previous_hook = threading.excepthook
    previous_run = (_Run.describe, _Run.state)
    state.install()
    threading.excepthook = _runtime_threads.excepthook
    _runtime_exit.CURRENT.append(context)
    _Run.describe, _Run.state = hook, state
    code = EXIT_OK
    try:
        try:
            if is_async:
                _run_async(main, state, takes_life)
            else:
                _run_sync(main, state, takes_life)
        except BaseException as exc:  # every ending is reported, then decided below
            code = context.finish(exc, cancel_is_stop=is_async and not takes_life)
            if code == EXIT_OK and state.requested:
                _stopped(state)
        else:
            context.hold_if_ending()
            if state.requested:
                _stopped(state)
        if code != EXIT_OK:
            _runtime_exit.end(code, hard=False)
        _end_despite_threads(state)
    finally:
        _runtime_exit.CURRENT.remove(context)
        _Run.describe, _Run.state = previous_run
        threading.excepthook = previous_hook
        state.uninstall()


def _end_despite_threads(state: StopState) -> None:
    """``main`` ended cleanly: the process ends now, even while non-daemon threads run.

    The interpreter would wait for them for ever (a queue consumer never returns), after ``run``
    had given the stop signals back to their defaults: a second signal would then kill without a
    line. The bound of a stop is the platform's stop timeout (supervisor's ``stopwaitsecs``, ECS's
    ``stopTimeout``), so ``main`` is where workers are joined; those still alive are named, then
    stdout and stderr are flushed and the process exits 0."""
    names = sorted(
        t.name
        for t in threading.enumerate()
        if t.is_alive() and not t.daemon and t is not threading.main_thread()
    )
    if not names:
        return
    with state.quiet():
        _runtime_lines.emit(
            30,
            "main ended while non-daemon threads still run; exiting without waiting for them",
            event="threads-abandoned",
            threads=", ".join(names),
            exit_code=EXIT_OK,
        )
    _runtime_exit.end(EXIT_OK, hard=True)


def _stopped(state: StopState) -> None:
    state.announce()
    with state.quiet():
        _runtime_lines.emit(20, "stopped gracefully", event="stopped", exit_code=EXIT_OK)


def _run_sync(main: Callable[..., object], state: StopState, takes_life: bool) -> None:
    if takes_life:
        result = main(Lifecycle(state))
    else:
        state.raise_in_main += 1
        try:
            if state.requested:  # a stop that came before main started
                state.raised = True
                raise Stopped("stop requested")
            result = main()
        finally:
            state.raise_in_main -= 1
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if callable(close):
            close()
        raise TypeError(
            "main returned an awaitable, so it never ran: declare main with `async def` "
            "and run() runs it with asyncio"
        )
    state.announce()


def _run_async(main: Callable[..., object], state: StopState, takes_life: bool) -> None:
    import asyncio

    async def runner() -> object:
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        life = AsyncLifecycle(state, event)
        coroutine = main(life) if takes_life else main()
        if not inspect.isawaitable(coroutine):
            raise TypeError("an async main must return an awaitable")
        task = asyncio.ensure_future(coroutine)

        def on_stop() -> None:
            event.set()
            state.announce()
            if not takes_life and not task.done():
                task.cancel("stop requested")

        def on_stop_threadsafe() -> None:
            loop.call_soon_threadsafe(on_stop)

        state.add_listener(on_stop_threadsafe)
        return await task

    asyncio.run(runner())
    if sys.modules.get("asyncio") is not None:
        state.announce()
