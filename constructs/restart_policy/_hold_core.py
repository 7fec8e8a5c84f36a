"""The crash hold on ECS: after a crash, stay alive until a restart in place is both allowed and
backed off. Standard library only (ships in ``restart-policy-runtime``).

Why it exists: the ECS agent restarts a container in place only if it ran ``restartAttemptPeriod``
since its last start or restart (aws/amazon-ecs-agent,
``ecs-agent/api/container/restart/restart_tracker.go``, ``ShouldRestart``); a container that dies
sooner stops its task and the service starts a whole new task, at once and without limit. So a
crashed daemon waits, idle, until it has lived max(start window, back-off) and then exits with the
crash's code: the agent restarts it in place, at most once per back-off.

``n``, the number of this container's consecutive crashes before this one, comes from the task
metadata endpoint v4 (``${ECS_CONTAINER_METADATA_URI_V4}``, the v4 ``ContainerResponse``'s
``RestartCount``, ``ecs-agent/tmds/handlers/v4/state/response.go``) and/or a state file on a
task-scoped volume. ``RestartCount`` never resets within a task; the state file remembers the
count at the last crash, so that a healthy run (``healthy_reset`` of clean running) starts the
back-off again from ``initial``.

The decision (``consecutive_crashes``, ``backoff_seconds``, ``hold_target``) is pure; the I/O
around it never raises, because the hold runs while a crash is already being reported.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import glob
import json
import math
import os
import random
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from restart_policy import _heartbeat

HOLD_ENV_VAR = "RESTART_POLICY_HOLD"
# Set by the hold wrapper for its child: a pipe's write end on which a restart_policy.runtime child
# says "I wrote my own line about this exit", so that the wrapper does not write a second
# `"event": "crash"` line for the same crash (the metric would count it twice).
CRASH_REPORTED_FD_ENV_VAR = "RESTART_POLICY_CRASH_REPORTED_FD"
# The signals that end a hold, in the wrapper and in the runtime alike (SIGQUIT is a graceful stop
# for many daemons, e.g. nginx's STOPSIGNAL). SIGHUP is not: a child may reload on it.
HOLD_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
METADATA_ENV_VAR = "ECS_CONTAINER_METADATA_URI_V4"
STATE_FILE_PREFIX = "hold-state"
LOGGER_NAME = "restart_policy.hold"

# The agent measures restartAttemptPeriod from its own record of the start or restart, taken a
# little before this process's clock starts; a margin keeps a hold that just reaches the start
# window from ending a hair early and stopping the task after all.
WINDOW_MARGIN_FRACTION = 0.02
WINDOW_MARGIN_MAX_SECONDS = 2.0

# The heartbeat must stay fresh while holding; beat well inside any sane health-check limit.
BEAT_INTERVAL_SECONDS = 1.0

# The WHOLE fetch, not each socket read: an endpoint that trickles a byte a second must not hold
# a crashed process for ever. The agent answers in milliseconds.
METADATA_TIMEOUT_SECONDS = 2.0
# The v4 container response is a few KiB; anything far bigger is not the agent.
METADATA_MAX_BYTES = 256 * 1024
# Polling slice of the stop-aware wait while the fetch runs in its thread.
FETCH_POLL_SECONDS = 0.05

# Upper bounds, like the supervisor side's: ECS's restartAttemptPeriod is at most 1800 s, and a
# back-off beyond an hour or a healthy reset beyond a day is a typo (minutes for seconds), which
# would silently freeze a worker. Out of range: no hold, and a warning naming the field.
MAX_START_WINDOW = 1800.0
MAX_BACKOFF = 3600.0
MAX_HEALTHY_RESET = 86400.0

# Short enough that a stop seen on the next wait still ends the hold well inside a second.
SPIN_PAUSE_SECONDS = 0.05

# 2 ** n overflows a float for n past ~1000; the back-off reaches its cap long before.
_MAX_EXPONENT = 64


@dataclass(frozen=True)
class HoldSettings:
    """The ``RESTART_POLICY_HOLD`` contract, in seconds."""

    start_window: float
    initial: float
    maximum: float
    healthy_reset: float
    jitter: float
    state_dir: str | None = None


@dataclass(frozen=True)
class HoldState:
    """What the state file remembers about the last crash of this container in this task."""

    consecutive: int  # crashes in a row, the last one included
    restart_count: int | None  # the agent's RestartCount seen at that crash, when known


@dataclass(frozen=True)
class Decision:
    n: int
    source: str
    backoff: float
    target: float  # seconds of life to reach before exiting
    hold: float  # seconds still to wait


_FIELDS = ("start_window", "initial", "maximum", "healthy_reset", "jitter")
_KNOWN_KEYS = frozenset({*_FIELDS, "state_dir"})
# The only optional number: tasks that crashed together still spread out when it is left out.
DEFAULT_JITTER = 0.2


def parse_settings(text: str | None) -> HoldSettings | None:
    """``RESTART_POLICY_HOLD``'s value as settings; None when absent or empty (no hold).
    Raises ValueError naming the field, the value and the fix when malformed."""
    if text is None or not text.strip():
        return None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{HOLD_ENV_VAR} is not JSON ({error.msg}): set it to a JSON object"
        ) from None
    if not isinstance(raw, dict):
        raise ValueError(f"{HOLD_ENV_VAR} must be a JSON object, not {type(raw).__name__}")
    values: dict[str, float] = {}
    problems: list[str] = []
    for name in _FIELDS:
        value = raw.get(name, DEFAULT_JITTER if name == "jitter" else None)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            unit = "a fraction from 0 to 1" if name == "jitter" else "a finite number of seconds"
            problems.append(f"{name}={value!r} (give {unit})")
            continue
        values[name] = float(value)
    if not problems:
        if values["start_window"] < 0 or values["healthy_reset"] < 0:
            problems.append("start_window and healthy_reset must be >= 0")
        if values["initial"] <= 0 or values["maximum"] < values["initial"]:
            problems.append(
                f"initial={values['initial']:g}, maximum={values['maximum']:g} "
                "(need 0 < initial <= maximum)"
            )
        if not 0 <= values["jitter"] < 1:
            problems.append(f"jitter={values['jitter']:g} (need 0 <= jitter < 1)")
        for name, limit in (
            ("start_window", MAX_START_WINDOW),
            ("maximum", MAX_BACKOFF),
            ("healthy_reset", MAX_HEALTHY_RESET),
        ):
            if values[name] > limit:
                problems.append(f"{name}={values[name]:g} (need <= {limit:g} seconds)")
    state_dir = raw.get("state_dir")
    if state_dir is not None and not isinstance(state_dir, str):
        problems.append(f"state_dir={state_dir!r} (give a directory path or leave it out)")
    if problems:
        raise ValueError(f"{HOLD_ENV_VAR} is invalid: " + "; ".join(problems))
    return HoldSettings(state_dir=state_dir or None, **values)


def settings_notes(text: str | None) -> list[str]:
    """What in a usable ``RESTART_POLICY_HOLD`` is probably a mistake: set but blank (treated as
    absent), or keys this version does not know (a typo such as ``jiter`` would otherwise silently
    keep the default)."""
    if text is None:
        return []
    if not text.strip():
        return [f"{HOLD_ENV_VAR} is set but blank: no crash hold (unset it, or give a JSON object)"]
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        return []
    if not isinstance(raw, dict):
        return []
    unknown = sorted(str(k) for k in raw if k not in _KNOWN_KEYS)
    if not unknown:
        return []
    return [
        f"{HOLD_ENV_VAR} has unknown keys {', '.join(unknown)}, ignored "
        f"(known: {', '.join(sorted(_KNOWN_KEYS))})"
    ]


def worst_case_n(*, initial: float, maximum: float) -> int:
    """The first n whose back-off reaches ``maximum``: when the count cannot be known, assume the
    worst (a bounded cost: one maximum back-off) rather than n=0 for ever."""
    n = 0
    while n < _MAX_EXPONENT and initial * 2.0**n < maximum:
        n += 1
    return n


def consecutive_crashes(
    *,
    uptime: float,
    healthy_reset: float,
    restart_count: int | None,
    state: HoldState | None,
    state_known: bool,
) -> tuple[int, str] | None:
    """(n, source): the crashes in a row before this one, and where that came from; None when
    nothing tells (no endpoint answer, no usable state directory).

    ``state_known`` means the state directory is usable: then a missing ``state`` is knowledge
    (no crash recorded yet in this task), not ignorance.
    """
    if uptime >= healthy_reset:
        return 0, "healthy-reset"
    if state is not None:
        if restart_count is not None and state.restart_count is not None:
            # Each restart in place follows an exit; restarts beyond the one after the recorded
            # crash are crashes that died before they could record (killed, out of memory).
            unrecorded = max(0, restart_count - state.restart_count - 1)
            return state.consecutive + unrecorded, "metadata+state"
        return state.consecutive, "state"
    if restart_count is not None:
        if state_known:
            # A usable volume with no record yet: every restart so far was a crash without a hold
            # that could record it, or there was none.
            return restart_count, "metadata+state"
        # Without a record, every restart of this task counts; conservative, since the back-off
        # is capped and a long healthy run still resets it above.
        return restart_count, "metadata"
    if state_known:
        return 0, "state"
    return None


def backoff_seconds(n: int, *, initial: float, maximum: float) -> float:
    """min(initial x 2^n, maximum): the same ladder as the supervisor back-off agent."""
    return float(min(initial * 2.0 ** min(max(n, 0), _MAX_EXPONENT), maximum))


def window_floor(start_window: float) -> float:
    """The least life that lets the agent restart in place (see ``WINDOW_MARGIN_*``)."""
    return start_window + min(start_window * WINDOW_MARGIN_FRACTION, WINDOW_MARGIN_MAX_SECONDS)


def hold_target(base: float, *, start_window: float, jitter: float, uniform: float) -> float:
    """The life to reach: ``base`` jittered by +-``jitter`` (``uniform`` in [0, 1)), but never
    below the start window. Where the jitter band would reach below the window it is shifted up
    rather than clipped, so that tasks which crashed together still spread out."""
    floor = window_floor(start_window)
    width = 2.0 * jitter * base
    low = max(floor, base * (1.0 - jitter))
    return low + min(max(uniform, 0.0), 1.0) * width


def decide(
    settings: HoldSettings,
    *,
    uptime: float,
    restart_count: int | None,
    state: HoldState | None,
    state_known: bool,
    uniform: float,
    assume_worst: bool = False,
) -> Decision | None:
    """The whole hold decision, pure; None when nothing tells how many crashes came before,
    unless ``assume_worst`` (a state directory was configured but failed): then the maximum."""
    counted = consecutive_crashes(
        uptime=uptime,
        healthy_reset=settings.healthy_reset,
        restart_count=restart_count,
        state=state,
        state_known=state_known,
    )
    if counted is None:
        if not assume_worst:
            return None
        counted = (worst_case_n(initial=settings.initial, maximum=settings.maximum), "unknown")
    n, source = counted
    backoff = backoff_seconds(n, initial=settings.initial, maximum=settings.maximum)
    base = max(settings.start_window, backoff)
    target = hold_target(
        base, start_window=settings.start_window, jitter=settings.jitter, uniform=uniform
    )
    return Decision(
        n=n, source=source, backoff=backoff, target=target, hold=max(0.0, target - uptime)
    )


# ---- I/O: each step reports what went wrong instead of raising ----


def read_metadata(
    url: str, *, timeout: float = METADATA_TIMEOUT_SECONDS
) -> tuple[int | None, str | None, str | None]:
    """(RestartCount, container name, problem) from the task metadata endpoint v4."""
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            chunks: list[bytes] = []
            size = 0
            while True:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no whole answer within {timeout:g} s")
                chunk = response.read1(16384)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > METADATA_MAX_BYTES:
                    return None, None, f"the task metadata endpoint {url} answered too much"
            body = b"".join(chunks)
    except (OSError, ValueError) as error:  # URLError, timeouts, refused, a malformed URL
        return None, None, f"the task metadata endpoint {url} is unreachable ({error})"
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, None, f"the task metadata endpoint {url} answered something that is not JSON"
    if not isinstance(document, dict):
        return (
            None,
            None,
            f"the task metadata endpoint {url} answered a {type(document).__name__}, not an object",
        )
    name = document.get("Name")
    name = name if isinstance(name, str) and name else None
    count = document.get("RestartCount")
    if count is None:
        # The agent leaves RestartCount out when the container has no restart policy.
        return (
            None,
            name,
            (
                f"the task metadata endpoint {url} reports no RestartCount "
                "(is the container's restart policy enabled?)"
            ),
        )
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        return (
            None,
            name,
            f"the task metadata endpoint {url} reports RestartCount={count!r}, not a count",
        )
    return count, name, None


_Metadata = tuple[int | None, str | None, str | None]


def fetch_metadata(
    url: str, wait: Callable[[float], bool], *, timeout: float = METADATA_TIMEOUT_SECONDS
) -> _Metadata | None:
    """``read_metadata`` bounded as a whole by ``timeout`` and ended by a stop: it runs in a
    daemon thread (a blocked socket read cannot be interrupted otherwise) while this thread waits
    with the stop-aware ``wait``. None when a stop came first; an abandoned fetch dies with the
    process."""
    result: list[_Metadata] = []
    done = threading.Event()

    def fetch() -> None:
        try:
            result.append(read_metadata(url, timeout=timeout))
        except Exception as error:  # never let the thread's failure go unseen
            result.append((None, None, f"the task metadata endpoint {url} failed ({error})"))
        finally:
            done.set()

    threading.Thread(target=fetch, name="restart-policy-metadata", daemon=True).start()
    deadline = time.monotonic() + timeout
    # A zero wait only asks whether a stop came: the fetch's own event is what this thread sleeps
    # on, so a prompt answer costs no stop-aware sleep at all.
    while not done.wait(min(FETCH_POLL_SECONDS, max(0.0, deadline - time.monotonic()))):
        if wait(0.0):
            return None
        if time.monotonic() >= deadline:
            return (
                None,
                None,
                f"the task metadata endpoint {url} is unreachable "
                f"(no whole answer within {timeout:g} s)",
            )
    return result[0]


def state_path(state_dir: str) -> str:
    """The same name whether or not the endpoint answered: a name taken from the metadata would
    switch files on one failed call and reset the count. One state_dir per container."""
    return os.path.join(state_dir, f"{STATE_FILE_PREFIX}.json")


def remove_stale_temporaries(state_dir: str) -> None:
    """Temporaries left by a write that failed or was killed (a full disk leaves 0-byte files)."""
    for leftover in glob.glob(os.path.join(glob.escape(state_dir), f"{STATE_FILE_PREFIX}*.tmp")):
        with contextlib.suppress(OSError):
            os.unlink(leftover)


def load_state(path: str) -> tuple[HoldState | None, str | None]:
    """(state, problem); a missing file is no problem (no crash recorded yet)."""
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as error:
        return None, f"the hold state file {path} is unreadable ({error})"
    consecutive = raw.get("consecutive") if isinstance(raw, dict) else None
    count = raw.get("restart_count") if isinstance(raw, dict) else None
    if isinstance(consecutive, bool) or not isinstance(consecutive, int) or consecutive < 0:
        return None, f"the hold state file {path} is malformed"
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
        count = None
    return HoldState(consecutive=consecutive, restart_count=count), None


def save_state(path: str, state: HoldState) -> str | None:
    """Write atomically (a stop mid-write must not leave half a file); the problem, if any."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(
                {"consecutive": state.consecutive, "restart_count": state.restart_count}, handle
            )
        os.replace(temporary, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return f"the hold state file {path} cannot be written ({error})"
    return None


def _directory_usable(state_dir: str) -> str | None:
    if not os.path.isdir(state_dir):
        return f"the state directory {state_dir} does not exist (mount a task-scoped volume there)"
    if not os.access(state_dir, os.W_OK | os.X_OK):
        return f"the state directory {state_dir} is not writable"
    return None


def tell_wrapper_exit_reported(environ: Mapping[str, str] | None = None) -> None:
    """Under the hold wrapper, tell it that this process wrote its own line about its exit (see
    ``CRASH_REPORTED_FD_ENV_VAR``); nothing otherwise. Never raises."""
    env = os.environ if environ is None else environ
    value = env.get(CRASH_REPORTED_FD_ENV_VAR, "").strip()
    if not value.isdigit():
        return
    with contextlib.suppress(OSError):
        os.write(int(value), b"r")


def emit(level: str, message: str, *, newline: bool = False, **fields: Any) -> None:
    """One JSON line on stderr, shaped like the runtime's log lines. ``newline`` starts it on a
    line of its own, for when someone else (a child) may have left a partial line on stderr."""
    entry: dict[str, Any] = {
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "process": os.path.basename(sys.argv[0] or "python"),
        "pid": os.getpid(),
        "logger": LOGGER_NAME,
        "message": message,
        **fields,
    }
    line = json.dumps(entry, ensure_ascii=False, default=repr) + "\n"
    try:
        sys.stderr.write("\n" + line if newline else line)
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass  # a broken, full or closed (None) stderr must not turn the hold into a second crash


def hold_after_crash(
    *,
    exit_code: int,
    uptime_seconds: float,
    wait: Callable[[float], bool],
    environ: Mapping[str, str] | None = None,
    uniform: Callable[[], float] | None = None,
    clock: Callable[[], float] | None = None,
) -> None:
    """Stay alive after a crash until a restart in place is allowed and backed off.

    A no-op unless ``RESTART_POLICY_HOLD`` is set or when ``exit_code`` is 0. ``wait(seconds)``
    sleeps and returns True when a stop was asked for, which ends the hold (and a metadata fetch
    in progress) at once. Never raises.
    """
    env = os.environ if environ is None else environ
    if exit_code == 0:
        return
    text = env.get(HOLD_ENV_VAR)
    for note in settings_notes(text):
        emit("WARNING", note, event="hold_settings")
    try:
        settings = parse_settings(text)
    except ValueError as error:
        emit("WARNING", f"no crash hold: {error}", event="hold_skipped", exit_code=exit_code)
        return
    if settings is None:
        return
    try:
        _hold(
            settings,
            env,
            exit_code,
            uptime_seconds,
            wait,
            uniform or random.random,
            clock or time.monotonic,
        )
    except Exception as error:  # the crash is already reported: exit as planned
        emit(
            "WARNING",
            f"no crash hold: it failed ({type(error).__name__}: {error})",
            event="hold_skipped",
            exit_code=exit_code,
        )


def _stopped(exit_code: int) -> None:
    emit("INFO", "crash hold ended by a stop signal", event="hold_stopped", exit_code=exit_code)


def _hold(
    settings: HoldSettings,
    env: Mapping[str, str],
    exit_code: int,
    uptime: float,
    wait: Callable[[float], bool],
    uniform: Callable[[], float],
    clock: Callable[[], float],
) -> None:
    started = clock()
    # Problems that make the count less certain (said in a warning when holding anyway), and the
    # absence of a source (said only when it leaves the count unknown: the metadata alone, with
    # no state_dir, is WorkerService's normal configuration, not worth a warning per crash).
    problems: list[str] = []
    missing: list[str] = []
    url = env.get(METADATA_ENV_VAR, "").strip()
    restart_count: int | None = None
    if url:
        fetched = fetch_metadata(url, wait)
        if fetched is None:
            _stopped(exit_code)
            return
        restart_count, _, problem = fetched
        if problem:
            problems.append(problem)
    else:
        missing.append(
            f"{METADATA_ENV_VAR} is not set (not on ECS, or an EC2 agent before 1.39.0 "
            "or a Fargate platform before 1.4.0)"
        )
    state: HoldState | None = None
    path: str | None = None
    state_failed = False
    if settings.state_dir is None:
        missing.append("no state_dir is configured")
    else:
        problem = _directory_usable(settings.state_dir)
        if problem is None:
            remove_stale_temporaries(settings.state_dir)
            path = state_path(settings.state_dir)
            state, problem = load_state(path)
            if problem:
                path = None  # a file that cannot be read (a directory in the way) counts nothing
        if problem:
            problems.append(problem)
            state_failed = True

    def decide_now() -> Decision | None:
        return decide(
            settings,
            uptime=uptime + (clock() - started),
            restart_count=restart_count,
            state=state,
            state_known=path is not None,
            uniform=draw,
            assume_worst=state_failed,
        )

    draw = uniform()
    decision = decide_now()
    if decision is not None and path is not None:
        problem = save_state(
            path, HoldState(consecutive=decision.n + 1, restart_count=restart_count)
        )
        if problem:
            # A count that cannot be recorded is not known: the next crash would read no record
            # and count from 0 for ever. Decide again as if the state had failed.
            problems.append(f"{problem}; the count cannot be kept")
            path, state, state_failed = None, None, True
            decision = decide_now()
    if decision is None:
        emit(
            "WARNING",
            "no crash hold, exiting now: the count of earlier crashes is unknown because "
            + "; ".join(missing + problems),
            event="hold_skipped",
            exit_code=exit_code,
        )
        return
    if problems:
        emit(
            "WARNING",
            "crash hold with partial information: "
            + "; ".join(problems)
            + (
                "; assuming the worst (the maximum back-off)"
                if decision.source == "unknown"
                else ""
            ),
            event="hold_degraded",
        )
    emit(
        "INFO",
        f"crash hold: staying idle {decision.hold:.1f} s so that the restart in place comes "
        f"{decision.target:.1f} s after start (crash {decision.n + 1} in a row)",
        event="hold",
        seconds=round(decision.hold, 3),
        n=decision.n,
        source=decision.source,
        backoff=round(decision.backoff, 3),
        exit_code=exit_code,
    )
    end = clock() + decision.hold
    while True:
        _heartbeat.beat()
        remaining = end - clock()
        if remaining <= 0:
            return
        chunk = min(remaining, BEAT_INTERVAL_SECONDS)
        before = clock()
        if wait(chunk):
            _stopped(exit_code)
            return
        if clock() - before < chunk / 2:
            # The wait came back early without a stop (an event already set for another reason):
            # pause briefly rather than spin a core for the whole hold.
            time.sleep(SPIN_PAUSE_SECONDS)
