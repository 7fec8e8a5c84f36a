"""Crash-loop back-off for supervisor: an event listener, standard library only.

supervisor gives up for ever after ``startretries`` failed starts (FATAL), and restarts a process
that crashes after its start window every second without limit. This listener adds what the
restart policy asks for, in the manner of Kubernetes' CrashLoopBackOff:

- FATAL: after a cool-down (``initial``, doubling each round up to ``maximum``) the program is
  started again, as a single *probe*: if the probe fails to start, it is stopped at once and the
  next, longer cool-down begins. A dependency that comes back is therefore picked up within
  ``maximum`` seconds, and a permanent crash costs one start per cool-down.
- A crash loop past the start window (a process that reached RUNNING and exits again before
  ``healthy_reset``): after ``start_retries`` such exits in a row (one, during a probe) the
  process is stopped and the same back-off applies.
- ``healthy_reset`` seconds of clean running reset the back-off.
- ``max_rearms`` rounds (if set) leave the program stopped for a person to look at.
- A person's ``supervisorctl start`` or ``stop`` wins over a scheduled restart.

Every decision is one JSON line on stderr. The round count survives a restart of supervisord
(state file), so a crash loop across restarts keeps backing off.

Run by supervisor as ``[eventlistener:...]`` with ``events=PROCESS_STATE``::

    python3 backoff_agent.py --config backoff.json --state /var/lib/restart-policy/backoff.json

``backoff.json`` lists groups of programs (by supervisor group name) with their settings:
``initial``, ``maximum``, ``healthy_reset``, ``start_window`` (seconds), ``start_retries``,
``max_rearms`` (or null) and ``restart_always``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import select
import socket
import sys
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import IO, Any

STATE_VERSION = 1
PROBE_POLL_SECONDS = 0.1
REARM_RETRY_SECONDS = 0.5


@dataclass(frozen=True)
class Settings:
    initial: float
    maximum: float
    healthy_reset: float
    start_retries: int
    max_rearms: int | None = None
    restart_always: bool = True
    start_window: float = 0.0

    def cooldown(self, round_number: int) -> float:
        return float(min(self.initial * 2 ** (round_number - 1), self.maximum))


@dataclass
class ProcessState:
    rounds: int = 0
    due: float | None = None
    quick_exits: int = 0
    given_up: bool = False
    probing: bool = False
    stopping: bool = False
    pending_stop: bool = False
    running_since: float | None = field(default=None)

    def persisted(self) -> dict[str, Any]:
        data = asdict(self)
        for transient in ("probing", "stopping", "pending_stop", "running_since"):
            data.pop(transient)
        return data


class Agent:
    """The back-off decisions, driven by supervisor's events and a timer."""

    def __init__(
        self,
        settings: dict[str, Settings],
        rpc: Any,
        *,
        state_path: str | None = None,
        clock: Callable[[], float] = time.time,
        log: IO[str] = sys.stderr,
    ) -> None:
        self.settings = settings
        self.rpc = rpc
        self.state_path = state_path
        self.clock = clock
        self.log_stream = log
        self.states: dict[str, ProcessState] = {}
        self._load()

    # --- events -----------------------------------------------------------------------

    def on_event(self, event_name: str, payload: dict[str, str]) -> None:
        group = payload.get("groupname", "")
        if group not in self.settings:
            return
        key = f"{group}:{payload.get('processname', '')}"
        state = self.states.setdefault(key, ProcessState())
        new_state = event_name.removeprefix("PROCESS_STATE_")
        now = self.clock()
        handler = getattr(self, f"_on_{new_state.lower()}", None)
        if handler is not None:
            handler(key, state, self.settings[group], now, payload)

    def _on_starting(self, key: str, state: ProcessState, s: Settings, now: float, p: Any) -> None:
        if state.pending_stop:
            # supervisor respawned a crash-looping process before our stop could land.
            state.pending_stop = False
            self._stop(key, state)
            return
        if state.probing or p.get("from_state") == "BACKOFF":
            return  # our probe, or supervisor retrying a start
        if p.get("from_state") == "EXITED":
            return  # supervisor's autorestart after an exit; judged on the exit
        if state.due is not None:
            state.due = None
            self._decide(
                key, "manual-start", state, detail="a person started it; cool-down cancelled"
            )

    def _on_running(self, key: str, state: ProcessState, s: Settings, now: float, p: Any) -> None:
        # Events arrive up to a main-loop tick late: take the spawn time from supervisor, or
        # else the latest it can have been (RUNNING means it has been up start_window seconds).
        state.running_since = now - s.start_window
        try:
            info = self.rpc.supervisor.getProcessInfo(key)
            if str(info.get("pid")) == p.get("pid") and info.get("start"):
                state.running_since = float(info["start"])
        except (OSError, xmlrpc.client.Error):
            pass
        if state.probing:
            state.probing = False
            self._decide(key, "recovered", state, detail="the probe reached RUNNING")

    def _on_backoff(self, key: str, state: ProcessState, s: Settings, now: float, p: Any) -> None:
        if state.probing:  # supervisor's own start retries (the first round) run as documented
            self._probe_failed(key, state, s, now, stop=True)

    def _on_fatal(self, key: str, state: ProcessState, s: Settings, now: float, p: Any) -> None:
        if state.probing:
            self._probe_failed(key, state, s, now, stop=False)
        elif state.due is None and not state.given_up:
            self._schedule(key, state, s, now, "fatal")

    def _probe_failed(
        self, key: str, state: ProcessState, s: Settings, now: float, *, stop: bool
    ) -> None:
        state.probing = False
        if stop:
            self._stop(key, state, respawning=False)
        self._schedule(key, state, s, now, "probe-failed")

    def _on_exited(self, key: str, state: ProcessState, s: Settings, now: float, p: Any) -> None:
        started, state.running_since = state.running_since, None
        if p.get("from_state") != "RUNNING" or started is None:
            return
        if not s.restart_always and p.get("expected") == "1":
            return  # an expected exit that supervisor does not restart is no crash
        ran = now - started
        if ran >= s.healthy_reset:
            self._reset(key, state, ran)
            return
        state.quick_exits += 1
        # The first round allows as many quick exits as start-up retries; a probe allows none.
        limit = s.start_retries if state.rounds == 0 else 1
        if state.quick_exits < limit:
            self._save()
            return
        self._stop(key, state, respawning=True)
        self._schedule(key, state, s, now, "crash-loop", ran=round(ran, 3))

    def _on_stopped(self, key: str, state: ProcessState, s: Settings, now: float, p: Any) -> None:
        state.running_since = None
        if state.stopping:
            state.stopping = False
            return
        if state.due is not None or state.probing:
            state.due = None
            state.probing = False
            self._decide(
                key, "manual-stop", state, detail="a person stopped it; cool-down cancelled"
            )

    # --- timer ------------------------------------------------------------------------

    def on_timer(self) -> None:
        now = self.clock()
        for key, state in sorted(self.states.items()):
            settings = self.settings.get(key.split(":", 1)[0])
            if settings is None:
                continue
            if state.probing:
                self._watch_probe(key, state, settings, now)
            if state.due is not None and state.due <= now:
                current = self._statename(key)
                if current in ("STOPPING", "BACKOFF"):
                    state.due = now + REARM_RETRY_SECONDS  # let our stop finish first
                    continue
                if current in ("STARTING", "RUNNING"):
                    state.due = None  # someone else started it; its events take over
                    self._decide(key, "manual-start", state, detail="already started")
                    continue
                state.due = None
                state.probing = True
                self._decide(key, "rearm", state, detail="cool-down over; starting one probe")
                try:
                    self.rpc.supervisor.startProcess(key, False)
                except xmlrpc.client.Fault as fault:
                    state.probing = False
                    self._decide(key, "rearm-refused", state, detail=fault.faultString)
            if (
                state.running_since is not None
                and now - state.running_since >= settings.healthy_reset
                and (state.rounds or state.quick_exits)
            ):
                self._reset(key, state, now - state.running_since)

    def _statename(self, key: str) -> str | None:
        try:
            return str(self.rpc.supervisor.getProcessInfo(key).get("statename"))
        except (OSError, xmlrpc.client.Error):
            return None

    def _watch_probe(self, key: str, state: ProcessState, s: Settings, now: float) -> None:
        """supervisor announces a failed start a main-loop tick (1 s) late, just when it would
        retry by itself; asking it directly stops a failed probe before it is spawned again."""
        try:
            info = self.rpc.supervisor.getProcessInfo(key)
        except (OSError, xmlrpc.client.Error):
            return
        if info.get("statename") == "BACKOFF":
            self._probe_failed(key, state, s, now, stop=True)
        elif info.get("statename") == "FATAL":
            self._probe_failed(key, state, s, now, stop=False)

    def next_wakeup(self) -> float | None:
        if any(state.probing for state in self.states.values()):
            return self.clock() + PROBE_POLL_SECONDS
        dues = [state.due for state in self.states.values() if state.due is not None]
        resets = [
            state.running_since + self.settings[key.split(":", 1)[0]].healthy_reset
            for key, state in self.states.items()
            if state.running_since is not None
            and (state.rounds or state.quick_exits)
            and key.split(":", 1)[0] in self.settings
        ]
        times = dues + resets
        return min(times) if times else None

    # --- decisions --------------------------------------------------------------------

    def _schedule(
        self, key: str, state: ProcessState, s: Settings, now: float, reason: str, **extra: Any
    ) -> None:
        if s.max_rearms is not None and state.rounds >= s.max_rearms:
            state.given_up = True
            state.due = None
            self._decide(
                key,
                "give-up",
                state,
                reason=reason,
                detail=f"{state.rounds} rounds of back-off (max_rearms); left stopped for a person",
                **extra,
            )
            return
        state.rounds += 1
        state.quick_exits = 0
        cooldown = s.cooldown(state.rounds)
        state.due = now + cooldown
        self._decide(key, "backoff", state, reason=reason, cooldown=cooldown, **extra)

    def _reset(self, key: str, state: ProcessState, ran: float) -> None:
        had = state.rounds or state.quick_exits
        state.rounds = 0
        state.quick_exits = 0
        state.given_up = False
        if had:
            self._decide(
                key, "reset", state, ran=round(ran, 3), detail="ran cleanly; back-off reset"
            )
        else:
            self._save()

    def _stop(self, key: str, state: ProcessState, *, respawning: bool = True) -> None:
        state.stopping = True
        try:
            self.rpc.supervisor.stopProcess(key, False)
        except xmlrpc.client.Fault as fault:
            state.stopping = False
            if "NOT_RUNNING" in fault.faultString and respawning:
                state.pending_stop = True  # EXITED now; stopped when supervisor respawns it
            else:
                self._decide(key, "stop-refused", state, detail=fault.faultString)

    def adopt_running(self) -> None:
        """Learn which processes already run (after the agent itself restarted)."""
        try:
            infos = self.rpc.supervisor.getAllProcessInfo()
        except (OSError, xmlrpc.client.Error):
            return
        for info in infos:
            if info.get("group") in self.settings and info.get("statename") == "RUNNING":
                key = f"{info['group']}:{info['name']}"
                self.states.setdefault(key, ProcessState()).running_since = float(info["start"])

    def _decide(self, key: str, decision: str, state: ProcessState, **extra: Any) -> None:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock())),
            "at": round(self.clock(), 3),
            "agent": "restart-policy-backoff",
            "process": key,
            "decision": decision,
            "round": state.rounds,
            **extra,
        }
        self.log_stream.write(json.dumps(entry, sort_keys=True) + "\n")
        self.log_stream.flush()
        self._save()

    # --- persistence ------------------------------------------------------------------

    def _load(self) -> None:
        if self.state_path is None or not os.path.exists(self.state_path):
            return
        try:
            with open(self.state_path, encoding="utf-8") as file:
                data = json.load(file)
            if data.get("version") != STATE_VERSION:
                return
            for key, values in data["processes"].items():
                self.states[key] = ProcessState(**values)
        except (OSError, ValueError, TypeError, KeyError):
            self.states = {}  # a broken state file must not stop the agent

    def _save(self) -> None:
        if self.state_path is None:
            return
        data = {
            "version": STATE_VERSION,
            "processes": {key: state.persisted() for key, state in sorted(self.states.items())},
        }
        folder = os.path.dirname(self.state_path) or "."
        os.makedirs(folder, exist_ok=True)
        temporary = f"{self.state_path}.tmp"
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(data, file, sort_keys=True)
        os.replace(temporary, self.state_path)


# --- supervisor's event listener protocol and XML-RPC over its unix socket ------------------


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(self.socket_path)
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.socket_path = path

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixConnection(self.socket_path)


def supervisor_rpc(url: str) -> Any:
    """An XML-RPC proxy to supervisord at ``url`` (``unix:///path`` or ``http://host:port``)."""
    if url.startswith("unix://"):
        return xmlrpc.client.ServerProxy("http://localhost", transport=_UnixTransport(url[7:]))
    return xmlrpc.client.ServerProxy(url.rstrip("/") + "/RPC2")


def parse_tokens(line: str) -> dict[str, str]:
    return dict(token.split(":", 1) for token in line.split() if ":" in token)


def load_settings(path: str) -> dict[str, Settings]:
    """``[{"settings": {...}, "programs": [name, ...]}, ...]`` -> settings by program name."""
    with open(path, encoding="utf-8") as file:
        groups = json.load(file)
    return {name: Settings(**group["settings"]) for group in groups for name in group["programs"]}


def serve(agent: Agent, stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """supervisor's listener protocol: READY, one event, RESULT; timers run between events."""
    while True:
        stdout.write(b"READY\n")
        stdout.flush()
        while True:
            wakeup = agent.next_wakeup()
            timeout = 1.0 if wakeup is None else max(0.0, min(1.0, wakeup - agent.clock()))
            readable, _, _ = select.select([stdin], [], [], timeout)
            if readable:
                break
            agent.on_timer()
        header_line = stdin.readline()
        if not header_line:
            return  # supervisord went away
        headers = parse_tokens(header_line.decode("utf-8"))
        body = stdin.read(int(headers.get("len", "0"))).decode("utf-8")
        first_line = body.split("\n", 1)[0]
        try:
            agent.on_event(headers.get("eventname", ""), parse_tokens(first_line))
        except Exception as exc:  # one bad event must not kill the agent
            sys.stderr.write(
                json.dumps({"agent": "restart-policy-backoff", "error": repr(exc)}) + "\n"
            )
        agent.on_timer()
        stdout.write(b"RESULT 2\nOK")
        stdout.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--config", required=True, help="backoff.json: settings per program")
    parser.add_argument("--state", required=True, help="where the round counts are kept")
    args = parser.parse_args(argv)
    url = os.environ.get("SUPERVISOR_SERVER_URL", "")
    if not url:
        raise SystemExit("SUPERVISOR_SERVER_URL is not set: run me as a supervisor eventlistener")
    agent = Agent(load_settings(args.config), supervisor_rpc(url), state_path=args.state)
    agent.adopt_running()
    serve(agent, sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
