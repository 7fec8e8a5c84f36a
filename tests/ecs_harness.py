"""An ECS service in miniature around real processes: the agent's restart rule, RestartCount, and
a task metadata endpoint v4 on loopback. For tests and bench/ecs_crashloop.py.

What it copies from the ECS agent (aws/amazon-ecs-agent):
- ``ecs-agent/api/container/restart/restart_tracker.go``, ``ShouldRestart``: no restart in place
  when the restart policy is off, the container's desired status is STOPPED, the exit code is
  nil or in ``ignoredExitCodes``, or less than ``restartAttemptPeriod`` has passed since the last
  restart (before the first one: since the container started). ``RecordRestart`` increments
  ``RestartCount`` and stamps the restart time.
- ``ecs-agent/tmds/handlers/v4/state/response.go``: the v4 ``ContainerResponse`` carries
  ``RestartCount`` (left out when unset), served at ``${ECS_CONTAINER_METADATA_URI_V4}``.

When the rule says no, the essential container's exit stops the task and the service replaces it
at once (no start throttle: the task had reached RUNNING): a fresh task, RestartCount 0, and a
fresh task-scoped volume (its ``state`` directory). Time is real; callers compress it by passing
scaled durations.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RestartRule:
    """A container definition's ``restartPolicy`` (durations in harness seconds)."""

    enabled: bool = True
    ignored_exit_codes: tuple[int, ...] = ()
    restart_attempt_period: float = 300.0


def should_restart(
    rule: RestartRule,
    *,
    exit_code: int | None,
    started_at: float,
    last_restart_at: float | None,
    desired_stopped: bool,
    now: float,
) -> tuple[bool, str]:
    """The agent's ``ShouldRestart``, clause by clause, in the same order."""
    if not rule.enabled:
        return False, "restart policy is not enabled"
    if desired_stopped:
        return False, "container's desired status is stopped"
    if exit_code is None:
        return False, "exit code is nil"
    if exit_code in rule.ignored_exit_codes:
        return False, f"exit code {exit_code} should be ignored"
    start_time = started_at if last_restart_at is None else last_restart_at
    if now - start_time < rule.restart_attempt_period:
        return False, "attempt reset period has not elapsed"
    return True, ""


@dataclass
class Event:
    time: float  # time.monotonic()
    kind: str  # task-start, container-start, exit, restart, task-stop, replace
    task: int
    detail: dict[str, Any] = field(default_factory=dict)


class MetadataServer:
    """The task metadata endpoint v4 on 127.0.0.1: ``GET /v4/<task>`` is the container's
    response. ``answers`` may replace a task's answer with raw bytes (a malformed endpoint)."""

    def __init__(self) -> None:
        self.containers: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, bytes] = {}
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                key = self.path.removeprefix("/v4/").split("/")[0]
                with owner.lock:
                    raw = owner.answers.get(key)
                    container = owner.containers.get(key)
                    body = raw if raw is not None else json.dumps(container).encode()
                if raw is None and container is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, key: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v4/{key}"

    def set(self, key: str, response: dict[str, Any]) -> None:
        with self.lock:
            self.containers[key] = response

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class _Task:
    number: int
    folder: Path
    restart_count: int = 0
    last_restart_at: float | None = None
    started_at: float = 0.0
    desired_stopped: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def key(self) -> str:
        return f"task-{self.number}"


class EcsService:
    """One service of desired count 1 running ``command`` as its essential container.

    ``hold`` is the ``RESTART_POLICY_HOLD`` object (without ``state_dir``: ``volume`` adds the
    task's fresh directory). ``metadata=False`` runs the container without the endpoint.
    Output of every container goes to ``<folder>/<task-N>/stdout`` and ``stderr``.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        folder: Path,
        rule: RestartRule,
        hold: Mapping[str, float] | None = None,
        volume: bool = True,
        metadata: bool = True,
        env: Mapping[str, str] | None = None,
        container_name: str = "worker",
        stop_timeout: float = 30.0,
    ) -> None:
        self.command = list(command)
        self.folder = folder
        self.rule = rule
        self.hold = dict(hold) if hold is not None else None
        self.volume = volume
        self.metadata_enabled = metadata
        self.extra_env = dict(env or {})
        self.container_name = container_name
        self.stop_timeout = stop_timeout
        self.events: list[Event] = []
        self.metadata = MetadataServer()
        self.task: _Task | None = None
        self._closing = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, daemon=True)

    # ---- observation ----

    def count(self, kind: str) -> int:
        with self._lock:
            return sum(1 for e in self.events if e.kind == kind)

    def of(self, kind: str) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.kind == kind]

    def wait_for(self, kind: str, count: int, timeout: float) -> bool:
        """Wait until ``count`` events of ``kind`` happened; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while sum(1 for e in self.events if e.kind == kind) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def json_lines(self) -> list[dict[str, Any]]:
        """The JSON lines of every container's stderr, in task order."""
        found: list[dict[str, Any]] = []
        for path in sorted(self.folder.glob("task-*/stderr"), key=lambda p: int(p.parent.name[5:])):
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("{"):
                    with contextlib.suppress(ValueError):
                        found.append(json.loads(line))
        return found

    # ---- control ----

    def __enter__(self) -> EcsService:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stop_task(self, signal_number: int = signal.SIGTERM) -> float | None:
        """What ``StopTask`` (or a deployment) does: desired status STOPPED, then the stop signal
        to the container. Returns seconds from the signal to the container's exit (None when it
        had to be killed after ``stop_timeout``)."""
        with self._lock:
            task = self.task
            self._closing = True
        if task is None or task.process is None:
            return None
        task.desired_stopped = True
        process = task.process
        sent = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal_number)
        try:
            process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return None
        return time.monotonic() - sent

    def close(self) -> None:
        # Again until the scheduler is gone: a restart may race with the first stop.
        deadline = time.monotonic() + self.stop_timeout + 30
        while self._thread.is_alive() and time.monotonic() < deadline:
            self.stop_task()
            self._thread.join(0.5)
        self.metadata.close()

    # ---- the agent and the scheduler ----

    def _record(self, kind: str, task: _Task, **detail: Any) -> None:
        with self._changed:
            self.events.append(Event(time.monotonic(), kind, task.number, detail))
            self._changed.notify_all()

    def _new_task(self, number: int) -> _Task:
        folder = self.folder / f"task-{number}"
        (folder / "state").mkdir(parents=True)
        return _Task(number=number, folder=folder)

    def _environment(self, task: _Task) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        env.update(self.extra_env)
        env["RESTART_POLICY_HEARTBEAT"] = str(task.folder / "heartbeat")
        if self.metadata_enabled:
            env["ECS_CONTAINER_METADATA_URI_V4"] = self.metadata.url(task.key)
        if self.hold is not None:
            settings: dict[str, Any] = dict(self.hold)
            if self.volume:
                settings["state_dir"] = str(task.folder / "state")
            env["RESTART_POLICY_HOLD"] = json.dumps(settings)
        return env

    def _start_container(self, task: _Task) -> None:
        response: dict[str, Any] = {
            "DockerId": f"{task.key}-{task.restart_count}",
            "Name": self.container_name,
            "DesiredStatus": "RUNNING",
            "KnownStatus": "RUNNING",
        }
        if self.rule.enabled:
            response["RestartCount"] = task.restart_count
        self.metadata.set(task.key, response)
        with open(task.folder / "stdout", "ab") as out, open(task.folder / "stderr", "ab") as err:
            task.started_at = time.monotonic()
            task.process = subprocess.Popen(
                self.command, stdout=out, stderr=err, env=self._environment(task)
            )
        self._record("container-start", task, restart_count=task.restart_count)

    def _run(self) -> None:
        number = 0
        while True:
            with self._lock:
                if self._closing:
                    return
                number += 1
                task = self._new_task(number)
                self.task = task
            self._record("task-start", task)
            self._start_container(task)
            while True:
                assert task.process is not None
                code = task.process.wait()
                now = time.monotonic()
                # A signal death is what Docker reports as 128 + N.
                exit_code = 128 - code if code < 0 else code
                self._record("exit", task, exit_code=exit_code, lived=now - task.started_at)
                with self._lock:
                    closing = self._closing
                ok, reason = should_restart(
                    self.rule,
                    exit_code=exit_code,
                    started_at=task.started_at,
                    last_restart_at=task.last_restart_at,
                    desired_stopped=task.desired_stopped or closing,
                    now=now,
                )
                if ok and not closing:
                    task.restart_count += 1
                    task.last_restart_at = now
                    self._record("restart", task, restart_count=task.restart_count)
                    self._start_container(task)
                    continue
                self._record("task-stop", task, reason=reason)
                break
            if closing:
                return
            self._record("replace", task)
