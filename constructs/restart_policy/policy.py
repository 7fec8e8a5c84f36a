"""The restart policy: how a long-running process is restarted, stopped and bounded.

Pure Python: importing it never loads ``aws_cdk`` (daemons read it on hosts without CDK).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from ._errors import Problems
from ._frozen import Frozen
from ._units import DurationLike, UnitError, describe_seconds, is_unresolved, to_seconds

#: Signals supervisor accepts for ``stopsignal`` (its documented set).
STOP_SIGNALS = ("TERM", "HUP", "INT", "QUIT", "KILL", "USR1", "USR2")
RESTART_MODES = ("always", "on-failure")

RestartMode = Literal["always", "on-failure"]

_DEFAULTS: dict[str, Any] = {
    "start_window": 120,
    "start_retries": 5,
    "stop_signal": "INT",
    "stop_timeout": 120,
    "restart": "always",
    "exit_codes": (0,),
    "kill_as_group": True,
    "stop_as_group": False,
    "backoff": True,
    "backoff_initial": 10,
    "backoff_max": 300,
    "healthy_reset": 600,
    "max_rearms": None,
}


class RestartPolicy(Frozen):
    """How a daemon is restarted after it crashes, and how it is stopped.

    One object serves ECS (``WorkerService``) and supervisor (``render_program``,
    ``SupervisorPrograms``). Limits that belong to one platform (ECS's restart attempt period
    of 60..1800 s, Fargate's 120 s stop timeout) are checked where that platform is built.
    Instances are immutable; ``replace`` makes a changed copy.

    :param start_window: How long a process must stay up to count as started. supervisor's
        ``startsecs``; ECS's container ``restartAttemptPeriod``. Default: 120 seconds, the
        policy document's ``startsecs=120``.
    :param start_retries: How many failed starts in a row are retried before the platform gives
        up. On supervisor without the back-off agent, supervisor's ``startretries`` (then FATAL
        for good); under the agent (``backoff`` on), the section has ``startretries=0`` and the
        agent retries a failed start, or a crash before ``healthy_reset``, this many times
        before it backs off. The circuit breaker's failure count on ECS.
        Default: 5, the policy document's ``startretries=5``.
    :param stop_signal: The signal that asks the process to stop (``INT``, ``TERM``, ``HUP``,
        ``QUIT``, ``KILL``, ``USR1``, ``USR2``; a ``SIG`` prefix is accepted).
        Default: ``INT``, the policy document's ``stopsignal=INT``.
    :param stop_timeout: How long a stopping process may take before it is killed.
        supervisor's ``stopwaitsecs``; the container's ``stopTimeout``.
        Default: 120 seconds, the policy document's ``stopwaitsecs=120``.
    :param restart: ``"always"`` restarts after any exit; ``"on-failure"`` only after an exit
        code not in ``exit_codes``. On supervisor without the back-off agent, ``autorestart=true``
        or ``unexpected``; under the agent, the section has ``autorestart=false`` and the agent
        restarts by this mode. Default: ``"always"``, the policy document's
        ``autorestart=true``.
    :param exit_codes: Exit codes that count as an expected exit. Default: ``(0,)``,
        supervisor's default ``exitcodes``.
    :param kill_as_group: Send the final SIGKILL to the whole process group, so that no child
        outlives its daemon. Default: true, the policy document's ``killasgroup=true``.
    :param stop_as_group: Send the stop signal to the whole process group too.
        Default: false, as in the policy document (only the daemon gets the stop signal).
    :param backoff: ``True`` lets the library's back-off agent bound crash loops under
        supervisor (it then does every restart: the program's section has ``autorestart=false``
        and ``startretries=0``, so a program is not restarted while the agent is down), and
        ``WorkerService`` turn on the crash hold on ECS (``RESTART_POLICY_HOLD``);
        ``None`` (or ``False``) gives plain supervisor behaviour, exactly as the policy document
        describes (FATAL for ever after ``start_retries``), and no hold. Default: true.
    :param backoff_initial: Cool-down before the first restart after supervisor gave up or a
        crash loop was stopped; it doubles each round. Default: 10 seconds (Kubernetes'
        CrashLoopBackOff).
    :param backoff_max: Longest cool-down, and so the longest a recovered dependency waits for
        its daemon. Default: 300 seconds (Kubernetes' cap).
    :param healthy_reset: Clean running after which the back-off starts again from
        ``backoff_initial``; a run shorter than this that ends in an exit counts as a crash.
        Default: 600 seconds (Kubernetes' reset).
    :param max_rearms: Rounds of back-off after which the program is left stopped for a person
        to look at. Default: none, never give up: the program recovers by itself once the cause
        is gone.
    """

    __slots__ = (
        "_given",
        "backoff",
        "backoff_initial_seconds",
        "backoff_max_seconds",
        "exit_codes",
        "healthy_reset_seconds",
        "kill_as_group",
        "max_rearms",
        "restart",
        "start_retries",
        "start_window_seconds",
        "stop_as_group",
        "stop_signal",
        "stop_timeout_seconds",
    )

    _given: dict[str, Any]
    start_window_seconds: float
    start_retries: int
    stop_signal: str
    stop_timeout_seconds: float
    restart: RestartMode
    exit_codes: tuple[int, ...]
    kill_as_group: bool
    stop_as_group: bool
    backoff: bool
    backoff_initial_seconds: float
    backoff_max_seconds: float
    healthy_reset_seconds: float
    max_rearms: int | None

    def __init__(
        self,
        *,
        start_window: DurationLike | None = None,
        start_retries: int | None = None,
        stop_signal: str | None = None,
        stop_timeout: DurationLike | None = None,
        restart: RestartMode | None = None,
        exit_codes: Iterable[int] | None = None,
        kill_as_group: bool | None = None,
        stop_as_group: bool | None = None,
        backoff: bool | None = True,
        backoff_initial: DurationLike | None = None,
        backoff_max: DurationLike | None = None,
        healthy_reset: DurationLike | None = None,
        max_rearms: int | None = None,
    ) -> None:
        given = {
            "start_window": start_window,
            "start_retries": start_retries,
            "stop_signal": stop_signal,
            "stop_timeout": stop_timeout,
            "restart": restart,
            "exit_codes": exit_codes,
            "kill_as_group": kill_as_group,
            "stop_as_group": stop_as_group,
            "backoff_initial": backoff_initial,
            "backoff_max": backoff_max,
            "healthy_reset": healthy_reset,
            "max_rearms": max_rearms,
        }
        given = {name: value for name, value in given.items() if value is not None}
        # None is meaningful here: it switches the back-off agent off.
        given["backoff"] = backoff
        values = {**_DEFAULTS, **given}
        problems = Problems("RestartPolicy")

        window = _duration(problems, "start_window", values["start_window"])
        timeout = _duration(problems, "stop_timeout", values["stop_timeout"])
        retries = values["start_retries"]
        if not _is_int(retries) and not is_unresolved(retries):
            problems.add("start_retries", retries, "is not a whole number", "give e.g. 5")
        elif not is_unresolved(retries) and retries < 1:
            problems.add(
                "start_retries",
                retries,
                "is below 1: the platform would never retry a failed start",
                "give at least 1 (the policy document uses 5)",
            )
        signal_name = _signal(problems, values["stop_signal"])
        mode = values["restart"]
        if mode not in RESTART_MODES:
            problems.add(
                "restart", mode, "is not a restart mode", f"give one of {', '.join(RESTART_MODES)}"
            )
        codes = _exit_codes(problems, values["exit_codes"])
        kill_group = values["kill_as_group"]
        stop_group = values["stop_as_group"]
        for name, flag in (("kill_as_group", kill_group), ("stop_as_group", stop_group)):
            if not isinstance(flag, bool):
                problems.add(name, flag, "is not a boolean", "give True or False")
        if stop_group is True and kill_group is False:
            problems.add(
                "kill_as_group",
                kill_group,
                "is false while stop_as_group is true, which supervisor refuses to load",
                "set kill_as_group=True or stop_as_group=False",
            )
        backoff_on = values["backoff"]
        if backoff_on not in (True, False, None):
            problems.add(
                "backoff", backoff_on, "is not a switch", "give True, or None to turn it off"
            )
        initial = _duration(problems, "backoff_initial", values["backoff_initial"], whole=False)
        longest = _duration(problems, "backoff_max", values["backoff_max"], whole=False)
        reset = _duration(problems, "healthy_reset", values["healthy_reset"], whole=False)
        if initial > 0 and longest > 0 and initial > longest:
            problems.add(
                "backoff_initial",
                describe_seconds(initial),
                f"is above backoff_max ({describe_seconds(longest)})",
                "give a backoff_initial at most backoff_max",
            )
        rearms = values["max_rearms"]
        if rearms is not None and (not _is_int(rearms) or rearms < 0):
            problems.add(
                "max_rearms",
                rearms,
                "is not a whole number of at least 0",
                "give e.g. 10, or None to never give up",
            )
        problems.raise_if_any()

        self._freeze(
            given,
            start_window_seconds=window,
            start_retries=retries,
            stop_signal=signal_name,
            stop_timeout_seconds=timeout,
            restart=mode,
            exit_codes=codes,
            kill_as_group=kill_group,
            stop_as_group=stop_group,
            backoff=bool(backoff_on),
            backoff_initial_seconds=initial,
            backoff_max_seconds=longest,
            healthy_reset_seconds=reset,
            max_rearms=rearms,
        )

    def replace(self, **changes: Any) -> RestartPolicy:
        """A copy with some fields changed, e.g. ``policy.replace(start_retries=3)``, validated
        like a new ``RestartPolicy``: the keyword arguments are those of the constructor."""
        return super().replace(**changes)

    def __repr__(self) -> str:
        return (
            f"RestartPolicy(start_window={describe_seconds(self.start_window_seconds)}, "
            f"start_retries={self.start_retries}, stop_signal={self.stop_signal!r}, "
            f"stop_timeout={describe_seconds(self.stop_timeout_seconds)}, "
            f"restart={self.restart!r}, exit_codes={self.exit_codes!r}, "
            f"kill_as_group={self.kill_as_group}, stop_as_group={self.stop_as_group}, "
            f"backoff={self.backoff}, "
            f"backoff_initial={describe_seconds(self.backoff_initial_seconds)}, "
            f"backoff_max={describe_seconds(self.backoff_max_seconds)}, "
            f"healthy_reset={describe_seconds(self.healthy_reset_seconds)}, "
            f"max_rearms={self.max_rearms})"
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _duration(problems: Problems, name: str, value: object, *, whole: bool = True) -> float:
    try:
        seconds = to_seconds(value)
    except UnitError as exc:
        problems.add(name, value, exc.reason, exc.fix)
        return 0.0
    if is_unresolved(seconds):
        return seconds
    if seconds <= 0:
        problems.add(
            name,
            describe_seconds(seconds),
            "is not positive",
            "give a positive duration, e.g. Duration.seconds(120)",
        )
    elif whole and seconds != int(seconds):
        problems.add(
            name,
            describe_seconds(seconds),
            "is not a whole number of seconds, which supervisor and ECS require",
            "round it to whole seconds",
        )
    return seconds


def _signal(problems: Problems, value: object) -> str:
    name = getattr(value, "name", value)  # accepts signal.Signals members too
    if isinstance(name, str):
        bare = name.upper().removeprefix("SIG")
        if bare in STOP_SIGNALS:
            return bare
    problems.add(
        "stop_signal", value, "is not a stop signal", f"give one of {', '.join(STOP_SIGNALS)}"
    )
    return ""


def _exit_codes(problems: Problems, value: object) -> tuple[int, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        problems.add("exit_codes", value, "is not a list of exit codes", "give e.g. [0]")
        return ()
    codes = tuple(value)
    bad = [code for code in codes if not _is_int(code) or not 0 <= code <= 255]
    if bad:
        problems.add(
            "exit_codes",
            codes,
            f"holds {bad!r}, not exit codes 0..255",
            "give whole numbers 0..255",
        )
    elif not codes:
        problems.add(
            "exit_codes", codes, "is empty", "give at least one expected exit code, e.g. [0]"
        )
    return tuple(sorted(set(codes))) if not bad else codes
