"""Restarts with crash-loop back-off for supervisor: an event listener and a command line,
standard library only.

supervisor gives up for ever after ``startretries`` failed starts (FATAL), and restarts a process
that crashes after its start window every second without limit. So the programs this agent
manages are configured ``autorestart=false`` and ``startretries=0``: supervisor starts them once
(``autostart``) and reports; the agent does every restart, in the manner of Kubernetes'
CrashLoopBackOff, with one daemon start per round (supervisor 4.3 respawns an exit in the pass
that first tells the listener of it, and retries a failed start a second later, before any
listener could stop it):

- A failed start (an exit inside ``start_window``; supervisor marks it FATAL at once): in the
  first round the agent starts it again after 1, 2, 3... s (jittered), ``start_retries`` times,
  as supervisor's own ``startretries`` would; then it backs off.
- An exit after the start window: a crash (an exit code not in ``exit_codes``) is restarted at
  once until ``start_retries`` crashes in a row before ``healthy_reset`` (one, after a probe),
  then the agent backs off; an exit code in ``exit_codes`` is restarted at once when
  ``restart_always`` (else left EXITED, as ``autorestart=unexpected`` would); a run that lasted
  ``healthy_reset`` is restarted at once and resets the back-off.
- Back-off: a cool-down (``initial``, doubling each round up to ``maximum``, jittered by
  ``jitter`` so that programs that failed together do not come back in the same second, never
  above ``maximum``), then a single *probe* start. A probe that fails starts the next, longer
  cool-down. A dependency that comes back is picked up within ``maximum`` plus the start window.
  ``max_rearms`` rounds (if set) leave the program stopped for a person to look at.

The agent stops nothing but its own start that got in before it read a person's stop. A start
it did not ask for is a person's (or supervisord's autostart when supervisord itself starts)
and ends a cool-down. While the agent is not running,
nothing restarts these programs: supervisor restarts the agent itself.

How it decides (a level-triggered reconciler, as Kubernetes controllers are): supervisor's own
state (``getProcessInfo``: state, pid, start and stop stamps, exit status) and the agent's persisted
intent are the only inputs; supervisor's events only say *when* to look, and which process. The
agent knows its own starts by what it issued (the run's start stamp, recorded before the call),
so a late or repeated event can never be mistaken for a person's action. Run
time is supervisor's stop stamp minus its start stamp. ``Reconciler`` holds every decision and
does no I/O; ``Listener`` talks to supervisor; ``StateFile``/``PersonFile`` keep the state.

A person's intent is explicit, through the same file (the host's ``supervisorctl`` wrapper calls
these; NAME is a program name or ``group:process``; ``all`` means every managed program)::

    python3 backoff_agent.py --config CONFIG --state STATE hold NAME...     # agent leaves it
        # alone: neither restarts nor backs it off; a person starts and stops it
    python3 backoff_agent.py --config CONFIG --state STATE release NAME...  # agent takes it back
    python3 backoff_agent.py --config CONFIG --state STATE stop NAME...     # a person's stop:
        # cancels a cool-down; the program stays stopped until a person starts it. Call it
        # with `supervisorctl stop NAME...` (the wrapper does): supervisor cannot report a stop
        # of a program that is already STOPPED or FATAL, as it is during a cool-down. NAME as
        # supervisorctl reads it: group:* or group:process (a bare name is the process
        # name:name, which does not exist, and is left alone).
    python3 backoff_agent.py --config CONFIG --state STATE status          # JSON, one line each

with CONFIG and STATE exactly as in the listener's command line. A NAME that is not a managed
program, or (for hold and release) a process the agent has not seen in a program it has, exits
with status 2 and a message on stderr. The person's intent goes to ``STATE.person.json``
(written only by these commands); the running agent picks it up within ``PERSON_SECONDS`` and
before any start it is due to make, and honours it across its own restarts. A
``supervisorctl start`` is seen directly (a run the agent did not start) and cancels a cool-down
or a person's stop.

Every decision is one JSON line on stderr (``"decision"``: ``restart``, ``retry``, ``exited``,
``backoff``, ``rearm``, ``recovered``, ``reset``, ``manual-start``, ``manual-stop``, ``hold``,
``release``, ``give-up``, ``state-write-failed``, ``state-unreadable``, ``settings-reloaded``,
``forgotten``...; a refused start is a ``retry`` or ``backoff`` with reason ``start-refused`` or
``rearm-refused``). The state survives a restart of supervisord or of the agent, which then
resumes a round mid-probe or takes a lost decision again from what supervisor shows.

Run by supervisor as ``[eventlistener:...]`` with ``events=PROCESS_STATE`` (``TICK_5`` optional)::

    python3 backoff_agent.py --config backoff.json --state /var/lib/restart-policy/backoff.json

``backoff.json`` lists groups of programs (by supervisor group name) with their settings:
``initial``, ``maximum``, ``healthy_reset``, ``start_window`` (seconds), ``start_retries``,
``max_rearms`` (or null), ``restart_always``, and optionally ``exit_codes`` (default ``[0]``) and
``jitter`` (default 0.2). The agent reads it again on SIGHUP and whenever its mtime changes:
programs removed are forgotten, programs added adopted, without restarting supervisord.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import http.client
import json
import math
import os
import random
import select
import signal
import socket
import stat
import sys
import time
import xmlrpc.client
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import IO, Any

STATE_VERSION = 3
# A full getAllProcessInfo this often: the safety net for lost events (supervisor drops them when
# the listener's buffer overflows). With 150 processes one costs supervisord 40 ms and the agent
# 22 ms: every 5 s that was 1.2 % of a core all the time.
SCAN_SECONDS = 15.0
PERSON_SECONDS = 5.0  # the person's file (a stat) this often, events or not
FUTURE_STOP_SECONDS = 60.0  # a person's stop stamped later than now + this is ignored
MAX_DOUBLINGS = 64  # 2**64 times any initial is past any maximum; more overflows a float
SAVE_SECONDS = 1.0  # state writes that no start or stop waits for are gathered this long
PROBE_LOST_SECONDS = 10.0  # a probe recorded but never seen (agent died before the call)
TRANSPORT_RETRY_SECONDS = 1.0
WRITE_FAILURE_REPEAT = 60.0  # one state-write-failed line a minute while writes keep failing
ACTIVE = frozenset({"STARTING", "RUNNING", "BACKOFF", "STOPPING"})
AGENT = "restart-policy-backoff"
DURABLE = frozenset({"backoff", "give-up", "reset", "manual-stop"})

# supervisor.xmlrpc.Faults
BAD_NAME, SHUTDOWN_STATE, ALREADY_STARTED, NOT_RUNNING = 10, 6, 60, 70


# --- settings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    initial: float
    maximum: float
    healthy_reset: float
    start_retries: int
    max_rearms: int | None = None
    restart_always: bool = True
    start_window: float = 0.0
    exit_codes: tuple[int, ...] = (0,)
    jitter: float = 0.2

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> Settings:
        """Fields this agent does not know are ignored and new ones default, so that settings
        files of older and newer library versions both load."""
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in values.items() if k in known}
        if "exit_codes" in data:
            data["exit_codes"] = tuple(int(code) for code in data["exit_codes"])
        return cls(**data)

    def cooldown(self, round_number: int, rng: random.Random) -> tuple[float, float]:
        """(base, jittered): the base doubles up to ``maximum``; the jitter spreads programs
        that failed together but never goes past ``maximum``, which bounds recovery."""
        doublings = min(max(round_number - 1, 0), MAX_DOUBLINGS)
        base = float(min(self.initial * 2**doublings, self.maximum))
        low = base * (1 - self.jitter)
        high = min(base * (1 + self.jitter), self.maximum)
        return base, round(rng.uniform(low, high), 3)


SETTINGS_ERRORS = (OSError, ValueError, TypeError, KeyError, AttributeError)


def load_settings(path: str) -> dict[str, Settings]:
    """``[{"settings": {...}, "programs": [name, ...]}, ...]`` -> settings by program name."""
    groups = read_json(path)
    return {
        name: Settings.from_json(group["settings"])
        for group in groups
        for name in group["programs"]
    }


# --- the pure decision core ------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """One process as supervisor reports it (``getProcessInfo``; stamps are whole seconds)."""

    name: str  # group:process
    state: str
    pid: int = 0
    start: float = 0.0
    stop: float = 0.0
    now: float = 0.0
    exitstatus: int = 0
    spawnerr: str = ""

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> Observation:
        return cls(
            name=f"{info['group']}:{info['name']}",
            state=str(info["statename"]),
            pid=int(info.get("pid") or 0),
            start=float(info.get("start") or 0),
            stop=float(info.get("stop") or 0),
            now=float(info.get("now") or 0),
            exitstatus=int(info.get("exitstatus") or 0),
            spawnerr=str(info.get("spawnerr") or ""),
        )


@dataclass(frozen=True)
class Action:
    kind: str  # "start" | "stop" (only a run the agent started, after a person's stop) | "log"
    name: str
    decision: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Record:
    """What the agent knows and intends for one process; all of it persisted."""

    rounds: int = 0
    quick_exits: int = 0  # crashes past the start window in a row (before healthy_reset)
    failed_starts: int = 0  # starts that died inside the start window, in a row
    phase: str = "watch"  # watch | cooling | probing | person-stopped | given-up
    due: float | None = None  # cooling: when the agent's next start is due
    probe: bool = False  # that start is a back-off round's probe (not a plain restart)
    probe_at: float | None = None  # when the agent asked for its start
    probe_start: float | None = None  # the start stamp of the run it got, once known
    own_start: float | None = None  # start stamp of the last run the agent itself started
    run_start: float | None = None  # start stamp of the last run seen
    run_pid: int = 0
    run_running: bool = False  # that run was seen RUNNING (past its start window)
    judged: float | None = None  # start stamp of the last run whose end was judged
    held: bool = False
    person_stop: float = 0.0  # the last person's stop (PersonFile stamp) already applied
    retry_transport: bool = False


RECORD_FIELDS = {f.name: f.type for f in fields(Record)}
RECORD_DEFAULTS = vars(Record())
PHASES = ("watch", "cooling", "probing", "person-stopped", "given-up")


def _is_number(value: Any) -> bool:
    # JSON lets NaN and Infinity through; a time or a count of either would never come due
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def record_from_json(values: Any) -> Record:
    """A record, or ValueError: every field of its type, and a phase the agent can act on (a
    record it could never act on would leave the process alone for good, with no line)."""
    if not isinstance(values, dict):
        raise ValueError("a process record is not an object")
    record = Record(**{k: v for k, v in values.items() if k in RECORD_FIELDS})
    if record.phase not in PHASES:
        raise ValueError(f"unknown phase {record.phase!r}")
    for name in ("rounds", "quick_exits", "failed_starts", "run_pid"):
        value = getattr(record, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} is not a whole number of 0 or more")
    for name in ("due", "probe_at", "probe_start", "own_start", "run_start", "judged"):
        value = getattr(record, name)
        if value is not None and not _is_number(value):
            raise ValueError(f"{name} is not a number")
    if not _is_number(record.person_stop):
        raise ValueError("person_stop is not a number")
    for name in ("probe", "run_running", "held", "retry_transport"):
        if not isinstance(getattr(record, name), bool):
            raise ValueError(f"{name} is not true or false")
    problem = phase_problem(record)
    if problem is not None:
        raise ValueError(problem)
    return record


def phase_problem(record: Record) -> str | None:
    """What leaves this record's process with nothing ever due, if anything."""
    if record.phase == "cooling" and record.due is None and not record.held:
        return "cooling without a due time"
    if record.phase == "probing" and record.probe_at is None and record.probe_start is None:
        return "probing without a start"
    return None


def _from_version_1(values: Any) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise ValueError("a process record is not an object")
    due = values.get("due")
    phase = "given-up" if values.get("given_up") else "cooling" if due is not None else "watch"
    return {"rounds": values.get("rounds", 0), "due": due, "phase": phase, "probe": True}


def _from_version_2(values: Any) -> dict[str, Any]:
    """Version 2 stopped supervisor's respawns; its records carry over, its stop marks do not."""
    if not isinstance(values, dict):
        raise ValueError("a process record is not an object")
    rounds = values.get("rounds", 0)
    return {**values, "probe": bool(rounds) and values.get("phase") in ("cooling", "probing")}


class _Decisions:
    """How one process's run ended, a failed start, the back-off and its reset, judged into
    decisions: the half of the core that turns facts into actions (``Reconciler`` takes the
    inputs and keeps the records; split by concern, in one file, as the agent ships as one)."""

    settings: dict[str, Settings]
    records: dict[str, Record]
    rng: random.Random
    last: dict[str, Observation]
    expected: dict[tuple[str, int], bool]
    person_held: set[str]
    dirty: bool

    def group_settings(self, name: str) -> Settings | None:
        return self.settings.get(name.split(":", 1)[0])

    def _new_record(self, name: str) -> Record:
        return Record(held=name in self.person_held or name.split(":", 1)[0] in self.person_held)

    def _group_stopping(self, name: str) -> bool:
        group = name.split(":", 1)[0] + ":"
        return any(
            other.startswith(group) and obs.state == "STOPPING" for other, obs in self.last.items()
        )

    def _started_since(self, name: str, r: Record, stamp: float) -> bool:
        """Someone else started a run after the person's stop at ``stamp`` (the person's file is
        read after supervisor's state, and outlives the agent's own record of what it applied).
        The agent's own start does not end a person's stop."""
        obs = self.last.get(name)
        if obs is None or obs.start == r.own_start:
            return False
        # start stamps are whole seconds: in the stop's own second, only a run still up is sure
        # to have begun after it (during a cool-down nothing runs unless someone started it)
        return obs.start > int(stamp) or (obs.start == int(stamp) and obs.state in ACTIVE)

    @staticmethod
    def _ours(r: Record, start: float) -> bool:
        """The run that began at ``start`` is the one the agent asked for."""
        if r.phase != "probing":
            return False
        if r.probe_start is not None:
            return r.probe_start == start
        return r.probe_at is not None and start >= r.probe_at - 1  # stamps are whole seconds

    def _someone_started(self, name: str, r: Record, acts: list[Action]) -> None:
        """A run the agent did not ask for: a person's start (or supervisord's autostart when it
        starts itself). It ends a cool-down, a person's stop or a give-up."""
        if r.phase not in ("cooling", "person-stopped", "given-up", "probing"):
            return
        if r.phase == "given-up":
            r.rounds = 0
        detail = (
            "started by a person" if r.phase != "cooling" else "started by someone; cool-down off"
        )
        r.phase, r.due, r.probe_at, r.probe_start, r.probe = "watch", None, None, None, False
        acts.append(self._log(name, r, "manual-start", detail=detail))

    def _judge_end(
        self,
        obs: Observation,
        r: Record,
        s: Settings,
        replaced: bool,
        now: float,
        acts: list[Action],
    ) -> None:
        """The run ``r.run_start`` is over: say what its end means, once. ``replaced``: a newer
        run is already up, so ``obs`` describes that one."""
        run = r.run_start
        assert run is not None
        r.judged = run
        if replaced:
            stop = obs.stop if run <= obs.stop <= obs.start else None
        else:
            stop = obs.stop if obs.stop >= run else None
        ran = None if stop is None else stop - run
        if r.held:
            return
        name = obs.name
        ours = self._ours(r, run)
        if not replaced and obs.state == "STOPPED":
            # the agent never stops a program: a person did (seen running or not)
            if r.phase in ("cooling", "probing") or r.rounds:
                r.phase, r.due, r.probe_at, r.probe = "person-stopped", None, None, False
                acts.append(
                    self._log(name, r, "manual-stop", detail="a person stopped it; no restart")
                )
            return
        # supervisor's own verdict first: FATAL/BACKOFF is an exit inside startsecs by its
        # precise clock; the stamps are whole seconds (a 1.2 s run can show 2 s)
        failed_by_supervisor = not replaced and obs.state in ("FATAL", "BACKOFF")
        reached = (
            r.run_running
            or (not replaced and obs.state == "EXITED")
            or (not failed_by_supervisor and ran is not None and ran >= s.start_window)
        )
        was_probe = ours and r.probe
        if ours:
            r.own_start = run
            r.phase, r.probe_at, r.probe_start, r.probe = "watch", None, None, False
            if reached and was_probe:
                r.quick_exits = 0
                acts.append(self._log(name, r, "recovered", detail="the probe reached RUNNING"))
        if replaced or r.phase != "watch":
            return  # someone else's run is up (or a cool-down runs): that start decides
        if not reached:
            reason = "probe-failed" if was_probe else "start-failed"
            self._failed_start(name, r, s, now, acts, reason)
            return
        r.failed_starts = 0
        expected = obs.exitstatus in s.exit_codes if obs.state == "EXITED" else None
        if expected is None:
            expected = self.expected.pop((name, r.run_pid), False)
        extra = {} if ran is None else {"ran": round(ran, 3)}
        if expected:
            if s.restart_always:
                self._restart(name, r, now, acts, "exit-code", code=obs.exitstatus, **extra)
            else:
                acts.append(
                    self._log(
                        name, r, "exited", code=obs.exitstatus,
                        detail="an exit code in exit_codes; restart='on-failure' leaves it",
                    )
                )  # fmt: skip
            return
        if ran is not None and ran >= s.healthy_reset:
            self._reset(name, r, ran, acts)
            self._restart(name, r, now, acts, "exit-after-healthy-run", **extra)
            return
        r.quick_exits += 1
        limit = s.start_retries if r.rounds == 0 else 1
        if r.quick_exits < limit:
            self._restart(name, r, now, acts, "crash", crashes=r.quick_exits, **extra)
        else:
            self._backoff(name, r, s, now, acts, "crash-loop", **extra)

    def _failed_start(
        self,
        name: str,
        r: Record,
        s: Settings,
        now: float,
        acts: list[Action],
        reason: str,
        **extra: Any,
    ) -> None:
        """A start that died inside the start window (or was refused). In the first round the
        agent retries it after 1, 2, 3... s, ``start_retries`` times, as supervisor's own
        ``startretries`` would; then, and after any failed probe, the back-off."""
        if r.rounds == 0 and r.failed_starts < s.start_retries:
            r.failed_starts += 1
            # supervisor's own delays (1, 2, 3... s), jittered as the cool-downs are: programs
            # whose start failed together do not all start again in the same second
            spread = s.jitter * r.failed_starts
            delay = round(self.rng.uniform(r.failed_starts - spread, r.failed_starts + spread), 3)
            r.phase, r.due, r.probe = "cooling", now + delay, False
            acts.append(
                self._log(
                    name, r, "retry", reason=reason, attempt=r.failed_starts, delay=delay,
                    **extra,
                )
            )  # fmt: skip
            return
        self._backoff(name, r, s, now, acts, reason, **extra)

    def _restart(
        self, name: str, r: Record, now: float, acts: list[Action], reason: str, **extra: Any
    ) -> None:
        """Start it again at once (what supervisor's autorestart did), as a due start: it
        survives an agent restart like any other."""
        r.phase, r.due, r.probe = "cooling", now, False
        acts.append(self._log(name, r, "restart", reason=reason, **extra))

    def _current(
        self, obs: Observation, r: Record, s: Settings, now: float, acts: list[Action]
    ) -> None:
        """What the current state asks for, given the phase: level-triggered, so that a decision
        lost (an agent restart, a hold released) is taken again from what supervisor shows."""
        name = obs.name
        if r.held:
            return
        if r.phase == "cooling" and obs.state in ACTIVE and obs.start == r.run_start:
            if obs.start != r.judged:
                self._someone_started(name, r, acts)
        elif r.phase == "probing":
            if (
                r.probe_start is None
                and obs.state in ACTIVE
                and r.probe_at is not None
                and obs.start >= r.probe_at - 1
            ):
                r.probe_start = r.own_start = obs.start
            if obs.state == "RUNNING" and obs.start == r.probe_start:
                was_probe = r.probe
                r.phase, r.probe_at, r.probe = "watch", None, False
                r.failed_starts = 0
                if was_probe:
                    r.quick_exits = 0
                    acts.append(self._log(name, r, "recovered", detail="the probe reached RUNNING"))
        if r.phase != "watch" or r.run_start is None:
            return
        if obs.state == "RUNNING":
            r.failed_starts = 0
            if (r.rounds or r.quick_exits) and obs.now - obs.start >= s.healthy_reset:
                self._reset(name, r, obs.now - obs.start, acts)
        elif r.judged == r.run_start and obs.start == r.run_start:
            # an end judged, yet nothing scheduled: a hold released, or a record of an older agent
            if obs.state == "FATAL":
                self._failed_start(name, r, s, now, acts, "fatal")
            elif obs.state == "EXITED" and (s.restart_always or obs.exitstatus not in s.exit_codes):
                self._restart(name, r, now, acts, "exited-unattended", code=obs.exitstatus)

    def _backoff(
        self,
        name: str,
        r: Record,
        s: Settings,
        now: float,
        acts: list[Action],
        reason: str,
        **extra: Any,
    ) -> None:
        r.quick_exits = r.failed_starts = 0
        r.probe_at = r.probe_start = None
        if s.max_rearms is not None and r.rounds >= s.max_rearms:
            r.phase, r.due, r.probe = "given-up", None, False
            acts.append(
                self._log(
                    name,
                    r,
                    "give-up",
                    reason=reason,
                    detail=f"{r.rounds} rounds of back-off (max_rearms); left stopped for a person",
                    **extra,
                )
            )
        else:
            r.rounds += 1
            base, cooldown = s.cooldown(r.rounds, self.rng)
            r.phase, r.due, r.probe = "cooling", now + cooldown, True
            acts.append(
                self._log(name, r, "backoff", reason=reason, cooldown=cooldown, base=base, **extra)
            )

    def _reset(self, name: str, r: Record, ran: float, acts: list[Action]) -> None:
        had = r.rounds or r.quick_exits
        r.rounds = r.quick_exits = r.failed_starts = 0
        r.phase, r.due, r.probe = "watch", None, False
        if had:
            acts.append(
                self._log(name, r, "reset", ran=round(ran, 3), detail="ran cleanly; back-off reset")
            )

    def _log(self, name: str, r: Record, decision: str, **extra: Any) -> Action:
        return Action("log", name, decision, {"round": r.rounds, **extra})


class Reconciler(_Decisions):
    """Every restart and back-off decision, from observations and a clock; no I/O.

    Feed it ``observe`` (supervisor's view of one process), ``exit_fact`` (supervisor's verdict
    on one run's exit code, from an EXITED event), ``started``/``start_refused`` (the outcome of
    a start it asked for), ``person`` (holds and stops) and ``tick`` (time passing). Each returns
    the actions to carry out in order: log a decision, start, stop. The caller persists
    ``to_json()`` before it carries out a start. Supervisor restarts nothing by itself
    (``autorestart=false``, ``startretries=0``), so every start is the agent's or a person's; the
    agent stops only its own start that got in before it read a person's stop.
    """

    def __init__(
        self,
        settings: dict[str, Settings],
        records: dict[str, Record] | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.records: dict[str, Record] = dict(records or {})
        self.rng = rng if rng is not None else random.Random()
        self.last: dict[str, Observation] = {}
        self.expected: dict[tuple[str, int], bool] = {}  # (name, pid) -> exit was expected
        self.person_held: set[str] = set()
        self.dirty = False

    # --- inputs --------------------------------------------------------------------------

    def exit_fact(self, name: str, pid: int, expected: bool, now: float) -> list[Action]:
        """supervisor's verdict on the exit of run ``pid`` (its EXITED event); used when the
        process has already moved on by the time the agent looks."""
        if len(self.expected) > 4096:
            self.expected.clear()
        self.expected[name, pid] = expected
        return []

    def observe(self, obs: Observation, now: float) -> list[Action]:
        s = self.group_settings(obs.name)
        if s is None:
            return []
        acts: list[Action] = []
        r = self.records.get(obs.name)
        if r is None:
            r = self.records[obs.name] = self._new_record(obs.name)
            self.dirty = True
        before = dict(vars(r))
        self.last[obs.name] = obs
        new_run = obs.start > 0 and (
            obs.start != r.run_start or (obs.state in ACTIVE and 0 != obs.pid != r.run_pid != 0)
        )
        if new_run and r.run_start is not None and r.judged != r.run_start:
            self._judge_end(obs, r, s, True, now, acts)  # the last run ended; the next is here
        if new_run:
            r.run_start, r.run_running = obs.start, False
            r.run_pid = obs.pid if obs.state in ACTIVE else 0
            if not r.held and not self._ours(r, obs.start):
                self._someone_started(obs.name, r, acts)
        if obs.state in ACTIVE and obs.pid:
            r.run_pid = obs.pid
        if obs.state == "RUNNING":
            r.run_running = True
        if (
            r.run_start is not None
            and r.judged != r.run_start
            and obs.state not in ("STARTING", "RUNNING", "STOPPING")
        ):
            self._judge_end(obs, r, s, False, now, acts)
        self._current(obs, r, s, now, acts)
        if vars(r) != before:
            self.dirty = True
        return acts

    def started(self, obs: Observation, now: float) -> list[Action]:
        """The agent's start was spawned: ``obs`` is its run (read right after ``startProcess``)."""
        r = self.records.get(obs.name)
        if r is not None and r.phase == "probing" and obs.start > 0:
            r.probe_start = r.own_start = obs.start
            self.dirty = True
        return self.observe(obs, now)

    def start_refused(self, name: str, code: int, message: str, now: float) -> list[Action]:
        r = self.records.get(name)
        s = self.group_settings(name)
        if r is None or s is None or r.phase != "probing":
            return []
        acts: list[Action] = []
        self.dirty = True
        if code == BAD_NAME:  # removed from supervisor (an update) since the agent looked
            return self._forget(name, "supervisor no longer has it")
        if code == ALREADY_STARTED:
            r.phase, r.due, r.probe_at, r.probe = "watch", None, None, False
            acts.append(self._log(name, r, "manual-start", detail="already started by someone"))
        elif code in (SHUTDOWN_STATE, -1):  # supervisord stopping, or unreachable: try again
            r.phase, r.due = "cooling", now + TRANSPORT_RETRY_SECONDS
            r.retry_transport = True
        else:  # a missing command, a spawn error...: a failed start, retried with the back-off
            r.phase, r.probe_at = "watch", None
            reason = "rearm-refused" if r.probe else "start-refused"
            self._failed_start(name, r, s, now, acts, reason, detail=message)
        return acts

    def person(self, held: set[str], stops: dict[str, float], now: float) -> list[Action]:
        """The person's file: names held now, and the stamp of each name's latest stop."""
        acts: list[Action] = []
        self.person_held = set(held)
        for name in list(self.records) + [n for n in self.last if n not in self.records]:
            if self.group_settings(name) is None:
                continue
            r = self.records.setdefault(name, self._new_record(name))
            group = name.split(":", 1)[0]
            want = name in held or group in held
            if want != r.held:
                r.held = want
                self.dirty = True
                acts.append(self._log(name, r, "hold" if want else "release"))
                if not want and r.phase in ("cooling", "probing"):
                    # what happened to the round while held is unknown: go on with it now
                    r.phase, r.probe_at, r.probe_start = "cooling", None, None
                    r.due = now if r.due is None else min(r.due, now)
                if not want and name in self.last:
                    acts += self.observe(self.last[name], now)
            # A stamp in the future was not written by this host's clock as it is now (a hand
            # edit in milliseconds, a clock since stepped back); applied, it would hide every
            # later stop. One an older agent applied: every stop so far counts as applied.
            latest = now + FUTURE_STOP_SECONDS
            if r.person_stop > latest:
                r.person_stop = now
                self.dirty = True
            candidates = (stops.get(name, 0.0), stops.get(group, 0.0))
            stamp = max((v for v in candidates if v <= latest), default=0.0)
            if stamp > r.person_stop:
                r.person_stop = stamp
                self.dirty = True
                if self._started_since(name, r, stamp):
                    continue  # stopped, then started again: that stop is over
                if r.phase in ("cooling", "probing", "given-up") or r.rounds:
                    r.phase, r.due, r.probe_at, r.probe = "person-stopped", None, None, False
                    acts.append(
                        self._log(
                            name,
                            r,
                            "manual-stop",
                            detail="a person stopped it; cool-down cancelled until a start",
                        )
                    )
                    obs = self.last.get(name)
                    if obs is not None and obs.state in ACTIVE and obs.start == r.own_start:
                        # the agent's own start got in before it read the stop: undo it
                        acts.append(Action("stop", name))
        return acts

    def tick(self, now: float) -> list[Action]:
        acts: list[Action] = []
        for name, r in sorted(self.records.items()):
            s = self.group_settings(name)
            if s is None or r.held:
                continue
            problem = phase_problem(r)
            if problem is not None:
                # a defect of the agent's own, never a reason to leave the process alone: resume
                # the round, and say so where the backoff alarm counts it
                r.phase, r.due, r.probe_at, r.probe_start = "cooling", now, None, None
                self.dirty = True
                acts.append(self._log(name, r, "agent-error", detail=f"{problem}; round resumed"))
            obs = self.last.get(name)
            longest = max(s.maximum, s.start_retries) + 1.0
            if r.phase == "cooling" and r.due is not None and r.due > now + longest:
                # the clock was stepped back (NTP at boot): a cool-down never lasts longer
                r.due = now + longest
                self.dirty = True
            if r.probe_at is not None and r.probe_at > now + 1:
                r.probe_at = now
                self.dirty = True
            if r.phase == "cooling" and r.due is not None and r.due <= now:
                if (obs is not None and obs.state in ACTIVE) or self._group_stopping(name):
                    # a start the next look judges; or a person (supervisorctl update, a stop
                    # of the group) is stopping the group, and a start would undo it
                    r.due = now + 1.0
                    self.dirty = True
                    continue
                last_start = r.run_start or 0.0
                if last_start - 1 <= now < last_start + 1:
                    # supervisor's start stamps are whole seconds: a start in the same second
                    # as the last run could not be told from it
                    r.due = last_start + 1
                    self.dirty = True
                    continue
                transport = r.retry_transport
                r.phase, r.due, r.probe_at, r.probe_start = "probing", None, now, None
                r.retry_transport = False
                self.dirty = True
                if r.probe and not transport:
                    acts.append(self._log(name, r, "rearm", detail="cool-down over; one probe"))
                acts.append(Action("start", name))
            elif (
                r.phase == "probing"
                and r.probe_start is None
                and r.probe_at is not None
                and now - r.probe_at > PROBE_LOST_SECONDS
                and (obs is None or obs.state not in ACTIVE)
            ):
                r.probe_at = now  # the agent stopped between recording its start and asking
                self.dirty = True
                acts.append(Action("start", name))
        return acts

    def present(self, names: set[str]) -> list[Action]:
        """Every process supervisor has now (a full ``getAllProcessInfo``): records of managed
        processes it no longer has (an update removed them) are forgotten."""
        acts: list[Action] = []
        for name in sorted(self.records):
            if name not in names and self.group_settings(name) is not None:
                acts += self._forget(name, "supervisor no longer has it")
        return acts

    def _forget(self, name: str, detail: str | None = None) -> list[Action]:
        record = self.records.pop(name, None)
        self.last.pop(name, None)
        self.dirty = True
        if record is None:
            return []
        extra = {} if detail is None else {"detail": detail}
        return [self._log(name, record, "forgotten", **extra)]

    def reload(self, settings: dict[str, Settings]) -> list[Action]:
        acts: list[Action] = []
        self.settings = settings
        for name in sorted(self.records):
            if self.group_settings(name) is None:
                acts += self._forget(name)
        return acts

    def next_wakeup(self) -> float | None:
        times: list[float] = []
        for name, r in self.records.items():
            s = self.group_settings(name)
            if s is None or r.held:
                continue
            if r.phase == "cooling" and r.due is not None:
                times.append(r.due)
            elif r.phase == "probing" and r.probe_start is None and r.probe_at is not None:
                times.append(r.probe_at + PROBE_LOST_SECONDS)
        return min(times) if times else None

    # --- persistence ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            # only what differs from a fresh record: the file is written before every start,
            # and 150 programs make that a cost
            "processes": {
                name: {k: v for k, v in vars(r).items() if v != RECORD_DEFAULTS[k]}
                for name, r in sorted(self.records.items())
            },
        }

    @staticmethod
    def records_from_json(data: Any) -> dict[str, Record]:
        """Records from a state document; ValueError for any shape but the right one. Earlier
        agents' (versions 1 and 2) round counts and due times carry over."""
        version = data.get("version") if isinstance(data, dict) else None
        if version not in (1, 2, STATE_VERSION):
            raise ValueError(f"not a version-{STATE_VERSION} state document")
        processes = data.get("processes")
        if not isinstance(processes, dict):
            raise ValueError("processes is not an object")
        try:
            if version == 1:
                processes = {k: _from_version_1(v) for k, v in processes.items()}
            elif version == 2:
                processes = {k: _from_version_2(v) for k, v in processes.items()}
            return {str(k): record_from_json(v) for k, v in processes.items()}
        except TypeError as error:
            raise ValueError(str(error)) from error

    def check(self) -> list[str]:
        """Invariants (used by the model test): what is wrong with the records, if anything."""
        problems = ((name, phase_problem(r)) for name, r in self.records.items())
        return [f"{name}: {problem}" for name, problem in problems if problem is not None]


# --- files: the agent's state and the person's intent ----------------------------------------


def read_json(path: str) -> Any:
    """A regular file's JSON. Anything else is an OSError: a FIFO would block the agent in
    ``open`` for ever. JSON nested too deeply for the parser is a ValueError, not the
    RecursionError that would crash-loop the agent without a line."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(f"{path} is a directory")
        if not stat.S_ISREG(mode):
            raise OSError(f"{path} is not a regular file")
        with open(fd, encoding="utf-8", closefd=False) as file:
            return json.load(file)
    except RecursionError as error:
        raise ValueError(f"{path}: nested too deeply") from error
    finally:
        os.close(fd)


def open_new(path: str, mode: int) -> IO[str]:
    """``path`` created afresh for writing (``mode``, less the umask). Whatever was there is
    removed first: opening a FIFO left at a temporary file's path would block for ever."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "w", encoding="utf-8")


class StateFile:
    """The agent's state; any failure to write keeps the agent going, with a decision line."""

    def __init__(self, path: str | None, emit: Callable[[dict[str, Any]], None]) -> None:
        self.path = path
        self.emit = emit
        self.failing_since: float | None = None
        self.last_report = 0.0

    def load(self) -> dict[str, Record]:
        if self.path is None or not os.path.lexists(self.path):
            return {}
        try:
            return Reconciler.records_from_json(read_json(self.path))
        except (OSError, ValueError) as error:
            self.emit(
                {
                    "decision": "state-unreadable",
                    "detail": f"{self.path}: {error}; starting afresh, it will be replaced",
                }
            )
            return {}

    def save(self, document: dict[str, Any], now: float) -> bool:
        if self.path is None:
            return True
        temporary = f"{self.path}.tmp"
        try:
            folder = os.path.dirname(self.path) or "."
            os.makedirs(folder, exist_ok=True)
            if os.path.isdir(self.path) and not os.path.islink(self.path):
                raise IsADirectoryError(f"{self.path} is a directory")
            # dumps, not dump: json.dump encodes in pure Python (the C encoder is for one-shot
            # dumps only), which made this write most of the agent's CPU with 150 programs
            text = json.dumps(document, sort_keys=True, separators=(",", ":"))
            with open_new(temporary, 0o640) as file:
                file.write(text)
            os.replace(temporary, self.path)
        except OSError as error:
            if self.failing_since is None or now - self.last_report >= WRITE_FAILURE_REPEAT:
                self.emit(
                    {
                        "decision": "state-write-failed",
                        "detail": f"{error}; going on from memory",
                    }
                )
                self.last_report = now
            if self.failing_since is None:
                self.failing_since = now
            return False
        if self.failing_since is not None:
            self.emit({"decision": "state-write-recovered"})
            self.failing_since = None
        return True


UNSEEN = (-1.0, -1)  # a (mtime, size) no file has: the next look reads


class PersonFile:
    """``STATE.person.json``: holds and stops, written only by the command line."""

    def __init__(self, state_path: str) -> None:
        self.path = f"{state_path}.person.json"
        # Not None (a missing file): the first look always reads, so that holds recorded in the
        # agent's state are cleared when the person's file is gone.
        self.seen: tuple[float, int] | None = UNSEEN

    def read(self) -> tuple[set[str], dict[str, float]]:
        """(held, stops); nothing for a file that is missing or cannot be read."""
        result = self.read_or_error()
        return (set(), {}) if isinstance(result, str) else result

    def read_or_error(self) -> tuple[set[str], dict[str, float]] | str:
        """(held, stops), none for a missing file; why not, for a file that cannot be read."""
        try:
            data = read_json(self.path)
        except FileNotFoundError:
            return set(), {}
        except (OSError, ValueError) as error:
            return str(error) if self.path in str(error) else f"{self.path}: {error}"
        try:
            listed = data.get("held", [])
            if not isinstance(listed, list):
                raise TypeError(f"held is {type(listed).__name__}, not a list")
            held = {str(n) for n in listed}
            stops = {str(k): float(v) for k, v in data.get("stops", {}).items()}
        except (ValueError, TypeError, AttributeError) as error:
            return f"{self.path}: {error}"
        # NaN and Infinity are valid JSON; a stop stamped with either is none
        return held, {k: v for k, v in stops.items() if math.isfinite(v)}

    def changed(self) -> bool:
        try:
            st = os.stat(self.path)
            key: tuple[float, int] | None = (st.st_mtime, st.st_size)
        except OSError:
            key = None
        if key == self.seen:
            return False
        self.seen = key
        return True

    def update(self, change: Callable[[set[str], dict[str, float]], None]) -> None:
        folder = os.path.dirname(self.path) or "."
        os.makedirs(folder, exist_ok=True)
        # O_NONBLOCK: a FIFO at the lock's path fails at once (no reader) instead of blocking
        lock = os.open(f"{self.path}.lock", os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK, 0o600)
        try:
            if not stat.S_ISREG(os.fstat(lock).st_mode):
                raise OSError(f"{self.path}.lock is not a regular file")
            fcntl.flock(lock, fcntl.LOCK_EX)
            read = self.read_or_error()
            if isinstance(read, str):
                # written over, every other hold and stop in it would be lost without a word
                raise OSError(f"{read} (fix the file, or remove it to drop every hold)")
            held, stops = read
            change(held, stops)
            temporary = f"{self.path}.tmp"
            # 0644: `backoff-status` may run as another user; holds and stops are no secret
            with open_new(temporary, 0o644) as file:
                json.dump({"held": sorted(held), "stops": stops}, file, sort_keys=True)
            os.replace(temporary, self.path)
        finally:
            os.close(lock)


# --- supervisor: XML-RPC over its unix socket and the event listener protocol -----------------


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(self.socket_path)
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.socket_path = path

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        # one kept-alive connection, as xmlrpc.client's own transport does: a new one per call
        # costs supervisord an accept and a channel for each of the agent's many small calls
        cached = self._connection
        if cached[1] is not None and cached[0] == host:
            return cached[1]
        connection = _UnixConnection(self.socket_path)
        self._connection = host, connection
        return connection


def supervisor_rpc(url: str) -> Any:
    """An XML-RPC proxy to supervisord at ``url`` (``unix:///path`` or ``http://host:port``)."""
    if url.startswith("unix://"):
        return xmlrpc.client.ServerProxy("http://localhost", transport=_UnixTransport(url[7:]))
    return xmlrpc.client.ServerProxy(url.rstrip("/") + "/RPC2")


def parse_tokens(line: str) -> dict[str, str]:
    return dict(token.split(":", 1) for token in line.split() if ":" in token)


class Listener:
    """Carries out the reconciler's actions against supervisord and feeds back what it sees."""

    def __init__(
        self,
        config_path: str,
        state_path: str | None,
        rpc: Any,
        *,
        clock: Callable[[], float] = time.time,
        log: IO[str] = sys.stderr,
        rng: random.Random | None = None,
    ) -> None:
        self.config_path = config_path
        self.rpc = rpc
        self.clock = clock
        self.log_stream = log
        self.state = StateFile(state_path, self._emit_plain)
        self.person = PersonFile(state_path) if state_path else None
        self.person_failed: tuple[float, int] | None = None
        self.config_seen = self._config_key()
        try:
            settings = load_settings(config_path)
        except SETTINGS_ERRORS as error:
            # managing nothing until the file is fixed beats a crash loop to FATAL: the scan
            # reloads it once it changes
            self._emit_plain({"decision": "settings-unreadable", "detail": repr(error)})
            settings = {}
        self.core = Reconciler(settings, self.state.load(), rng=rng)
        self.reload_requested = False
        self.last_scan = 0.0
        self.last_save = 0.0
        self.last_person = 0.0

    # --- plumbing ------------------------------------------------------------------------

    def _emit_plain(self, entry: dict[str, Any]) -> None:
        now = self.clock()
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "at": round(now, 3),
            "agent": AGENT,
            **entry,
        }
        self.log_stream.write(json.dumps(line, sort_keys=True) + "\n")
        self.log_stream.flush()

    def _config_key(self) -> tuple[float, int] | None:
        try:
            st = os.stat(self.config_path)
            return (st.st_mtime, st.st_size)
        except OSError:
            return None

    def _save(self, *, now: bool = True) -> None:
        """Before a start, at once (a restart then knows the call was the agent's);
        otherwise at most once a second, which is what 150 programs' events cost in writes."""
        clock = self.clock()
        if self.core.dirty and (now or clock - self.last_save >= SAVE_SECONDS):
            self.core.dirty = False
            self.last_save = clock
            self.state.save(self.core.to_json(), clock)

    def carry_out(self, actions: Iterable[Action]) -> None:
        pending = list(actions)
        # a start, or a new round, is on disk before anyone can see it: an agent killed right
        # after it then resumes that round instead of deciding it a second time
        acting = any(action.kind != "log" or action.decision in DURABLE for action in pending)
        self._save(now=acting)
        while pending:
            action = pending.pop(0)
            if action.kind == "log":
                self._emit_plain(
                    {"process": action.name, "decision": action.decision, **action.extra}
                )
                continue
            self._save()
            if action.kind == "start":
                pending += self._start(action.name)
            elif action.kind == "stop":
                self._stop(action.name)
        self._save(now=False)

    def _start(self, name: str) -> list[Action]:
        now = self.clock()
        try:
            self.rpc.supervisor.startProcess(name, False)
        except xmlrpc.client.Fault as fault:
            return self.core.start_refused(name, fault.faultCode, fault.faultString, now)
        except (OSError, xmlrpc.client.Error) as error:
            return self.core.start_refused(name, -1, repr(error), now)
        try:
            info = self.rpc.supervisor.getProcessInfo(name)
        except (OSError, xmlrpc.client.Error):
            return []
        return self.core.started(Observation.from_info(info), now)

    def _stop(self, name: str) -> None:
        try:
            self.rpc.supervisor.stopProcess(name, False)
        except (OSError, xmlrpc.client.Error) as error:  # ended by itself meanwhile
            self._emit_plain({"process": name, "decision": "stop-refused", "detail": repr(error)})

    # --- wake-ups ------------------------------------------------------------------------

    def look(self, name: str) -> None:
        try:
            info = self.rpc.supervisor.getProcessInfo(name)
        except (OSError, xmlrpc.client.Error):
            return
        self.carry_out(self.core.observe(Observation.from_info(info), self.clock()))

    def scan(self) -> None:
        """Everything at once: settings, the person's file, and every process's state."""
        self.last_scan = self.clock()
        key = self._config_key()
        if self.reload_requested or key != self.config_seen:
            self.reload_requested = False
            self.config_seen = key
            try:
                settings = load_settings(self.config_path)
            except SETTINGS_ERRORS as error:
                self._emit_plain({"decision": "settings-unreadable", "detail": repr(error)})
            else:
                self._emit_plain({"decision": "settings-reloaded", "programs": len(settings)})
                self.carry_out(self.core.reload(settings))
        try:
            infos = self.rpc.supervisor.getAllProcessInfo()
        except (OSError, xmlrpc.client.Error):
            infos = None
        now = self.clock()
        actions: list[Action] = []
        for info in infos or []:
            actions += self.core.observe(Observation.from_info(info), now)
        if infos is not None:
            actions += self.core.present({f"{i['group']}:{i['name']}" for i in infos})
        self.carry_out(actions)
        self.check_person()

    def check_person(self) -> None:
        self.last_person = self.clock()
        if self.person is not None and self.person.changed():
            read = self.person.read_or_error()
            if isinstance(read, str):
                # Holds and stops stay as they were: reading an unreadable file as empty would
                # release every hold and start what a person wanted down. Looked at again at
                # the next look (the error may pass: EMFILE, EIO), said once per version.
                if self.person.seen != self.person_failed:
                    self.person_failed = self.person.seen
                    self._emit_plain(
                        {
                            "decision": "state-unreadable",
                            "detail": f"{read}; holds and stops kept as they were until it "
                            "is fixed",
                        }
                    )
                self.person.seen = UNSEEN
                return
            self.person_failed = None
            held, stops = read
            self.carry_out(self.core.person(held, stops, self.clock()))

    def on_event(self, event_name: str, payload: dict[str, str]) -> None:
        if event_name.startswith("TICK_"):
            if self.clock() - self.last_scan >= SCAN_SECONDS - 0.5:
                self.scan()
            return
        group = payload.get("groupname", "")
        if group not in self.core.settings:
            return
        name = f"{group}:{payload.get('processname', '')}"
        if event_name == "PROCESS_STATE_EXITED" and payload.get("pid", "").isdigit():
            expected = payload.get("expected") == "1"
            now = self.clock()
            self.carry_out(self.core.exit_fact(name, int(payload["pid"]), expected, now))
        last = self.core.last.get(name)
        if last is not None and last.state == event_name.removeprefix("PROCESS_STATE_"):
            return  # already seen (the agent reads the state after its own calls): no news
        if event_name == "PROCESS_STATE_BACKOFF":
            return  # a failed start: the FATAL (or supervisor's retry) that follows is looked at
        self.look(name)

    def on_timer(self) -> None:
        self._save(now=False)
        now = self.clock()
        if self.reload_requested or now - self.last_scan >= SCAN_SECONDS:
            self.scan()
        self.tick()

    def tick(self) -> None:
        """Time passing. When a start is due, the person's file is looked at first (a stat): a
        stop written in the last PERSON_SECONDS must cancel the start, not follow it."""
        now = self.clock()
        due = self.core.next_wakeup()
        if (due is not None and due <= now) or now - self.last_person >= PERSON_SECONDS:
            self.check_person()
        # `now`, not a fresh clock: a start due between two readings would skip that look
        self.carry_out(self.core.tick(now))

    def timeout(self) -> float:
        now = self.clock()
        wakeups = [self.last_scan + SCAN_SECONDS, self.last_person + PERSON_SECONDS]
        due = self.core.next_wakeup()
        if due is not None:
            wakeups.append(due)
        if self.core.dirty:
            wakeups.append(self.last_save + SAVE_SECONDS)
        return max(0.0, min(wakeups) - now)

    def serve(self, stdin: IO[bytes], stdout: IO[bytes]) -> None:
        """supervisor's listener protocol: READY, one event, RESULT; timers run between events."""
        self.scan()
        while True:
            stdout.write(b"READY\n")
            stdout.flush()
            while True:
                if self.reload_requested:
                    self.on_timer()
                readable, _, _ = select.select([stdin], [], [], self.timeout())
                if readable:
                    break
                self.on_timer()
            header_line = stdin.readline()
            if not header_line:
                return  # supervisord went away
            headers = parse_tokens(header_line.decode("utf-8"))
            body = stdin.read(int(headers.get("len", "0"))).decode("utf-8")
            try:
                self.on_event(headers.get("eventname", ""), parse_tokens(body.split("\n", 1)[0]))
                if self.clock() - self.last_scan >= SCAN_SECONDS:
                    self.on_timer()  # a storm of events must not starve the scans
                else:
                    self.tick()
            except Exception as exc:  # one bad event must not kill the agent
                self._emit_plain({"decision": "agent-error", "detail": repr(exc)})
            stdout.write(b"RESULT 2\nOK")
            stdout.flush()


# --- command line ----------------------------------------------------------------------------


def _resolve(
    names: list[str], settings: dict[str, Settings], *, skip_unmanaged: bool = False
) -> list[str]:
    """Managed names; ``group:*`` and ``group:`` (supervisorctl's group syntax) are the group.
    With ``skip_unmanaged`` (a stop, as supervisorctl reads it; the wrapper passes it on, and it
    may name programs outside the agent) those are left out with a note instead of refusing the
    lot, and so is a bare program name: supervisorctl reads NAME as the process NAME:NAME, which
    the library never renders (its processes are NAME-0, NAME-1...), and refuses it; taking it
    for the whole program here would stop what supervisorctl said it could not."""
    if "all" in names:
        return sorted(settings)
    if skip_unmanaged:
        bare = [n for n in names if ":" not in n and n in settings]
        if bare:
            sys.stderr.write(
                "backoff_agent: supervisorctl reads "
                + ", ".join(f"{n!r} as the process {n}:{n}" for n in bare)
                + ", which does not exist: left alone (every process of the program: "
                + ", ".join(f"{n}:*" for n in bare)
                + ")\n"
            )
            names = [n for n in names if n not in bare]
    names = [
        name.removesuffix("*").removesuffix(":") if name.endswith((":*", ":")) else name
        for name in names
    ]
    unknown = [n for n in names if n.split(":", 1)[0] not in settings]
    if unknown and skip_unmanaged:
        sys.stderr.write(
            "backoff_agent: not under the back-off agent, left to supervisor: "
            f"{', '.join(unknown)}\n"
        )
        return [n for n in names if n not in unknown]
    if unknown:
        known = ", ".join(sorted(settings)) or "none"
        raise SystemExit(
            f"backoff_agent: not a program under the back-off agent: {', '.join(unknown)} "
            f"(managed programs: {known})"
        )
    return names


def _known_records(state_path: str) -> dict[str, Record]:
    """The processes the agent has seen, from its state; none when that cannot be read."""
    try:
        return Reconciler.records_from_json(read_json(state_path))
    except (OSError, ValueError):
        return {}


def _unknown_processes(names: list[str], records: dict[str, Record], held: set[str]) -> list[str]:
    """Process names (GROUP:PROCESS) that name no process the agent knows. A group the agent has
    not seen yet cannot be checked: its names pass, and apply once it appears. A name already
    held passes, so that a mistaken hold can always be released."""
    unknown = []
    for name in names:
        if ":" not in name or name in held:
            continue
        group, process = name.split(":", 1)
        if ":" in process:
            unknown.append(name)
            continue
        seen = [known for known in records if known.split(":", 1)[0] == group]
        if seen and name not in records:
            unknown.append(name)
    return unknown


def person_command(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except (OSError, ValueError, TypeError, KeyError) as error:
        sys.stderr.write(f"backoff_agent: cannot read {args.config}: {error}\n")
        return 2
    person = PersonFile(args.state)
    if args.command == "status":
        read = person.read_or_error()
        if isinstance(read, str):
            sys.stderr.write(f"backoff_agent: holds unknown: {read}\n")
        held = set() if isinstance(read, str) else read[0]
        records = _known_records(args.state)
        for name in sorted(set(records) | set(settings)):
            r = records.get(name)
            group = name.split(":", 1)[0]
            line: dict[str, Any] = {"process": name, "held": name in held or group in held}
            if isinstance(read, str):
                line["held"] = None
            if r is not None:
                line.update(phase=r.phase, round=r.rounds, due=r.due)
            sys.stdout.write(json.dumps(line, sort_keys=True) + "\n")
        return 2 if isinstance(read, str) else 0
    try:
        names = _resolve(args.names, settings, skip_unmanaged=args.command == "stop")
    except SystemExit as error:
        sys.stderr.write(f"{error}\n")
        return 2
    if not names:
        if args.command == "stop" and any(":" in n or n not in settings for n in args.names):
            return 0  # only programs outside the agent: supervisorctl's stop was all of it
        sys.stderr.write("backoff_agent: no program named\n")
        return 2
    if args.command in ("hold", "release"):
        records = _known_records(args.state)
        unknown = _unknown_processes(
            names, records, person.read()[0] if args.command == "release" else set()
        )
        if unknown:
            groups = sorted({n.split(":", 1)[0] for n in unknown})
            known = [n for n in sorted(records) if n.split(":", 1)[0] in groups]
            sys.stderr.write(
                f"backoff_agent: no such process: {', '.join(unknown)} (the agent knows "
                f"{', '.join(known) or 'none of that program'}; a process added a moment ago is "
                f"known at its first start or within {SCAN_SECONDS:.0f} s; GROUP or GROUP:* is "
                "every process of the program)\n"
            )
            return 2
    if args.command == "release":
        held = person.read()[0]
        through_group = [n for n in names if ":" in n and n.split(":", 1)[0] in held]
        if through_group:
            groups = sorted({n.split(":", 1)[0] for n in through_group})
            sys.stderr.write(
                f"backoff_agent: {', '.join(through_group)} held through its group "
                f"({', '.join(groups)}): release the group, then hold the processes to keep "
                "held one by one\n"
            )
            return 2
    stamp = time.time()

    def change(held: set[str], stops: dict[str, float]) -> None:
        for name in names:
            if args.command == "hold":
                held.add(name)
            elif args.command == "release":
                held.discard(name)
                for other in [h for h in held if h.split(":", 1)[0] == name]:
                    held.discard(other)
            else:
                stops[name] = stamp

    try:
        person.update(change)
    except OSError as error:
        sys.stderr.write(
            f"backoff_agent: cannot record the {args.command} in {person.path}: {error}; the "
            "agent did not get it (a read-only or full /var/lib?)\n"
        )
        return 2
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--config", required=True, help="backoff.json: settings per program")
    parser.add_argument("--state", required=True, help="where the agent keeps its state")
    parser.add_argument("command", nargs="?", choices=["hold", "release", "stop", "status"])
    parser.add_argument("names", nargs="*", metavar="NAME")
    args = parser.parse_args(argv)
    if args.command is not None:
        raise SystemExit(person_command(args))
    url = os.environ.get("SUPERVISOR_SERVER_URL", "")
    if not url:
        raise SystemExit("SUPERVISOR_SERVER_URL is not set: run me as a supervisor eventlistener")
    listener = Listener(args.config, args.state, supervisor_rpc(url))

    def hangup(signum: int, frame: object) -> None:
        listener.reload_requested = True

    signal.signal(signal.SIGHUP, hangup)
    listener.serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
