"""``python -m restart_policy.hold -- CMD [ARGS...]``: the crash hold around any command.

For what cannot call ``restart_policy.runtime`` itself: a crash at import time, a shell script,
a daemon not written in Python. The wrapper runs CMD with the same standard streams (its output
passes through untouched), forwards every catchable signal to it, and when it exits non-zero
writes one JSON crash line to stderr (``"event": "crash"``, the exit code, the signal if one
killed it, the command and its uptime), holds as ``RESTART_POLICY_HOLD`` says (see
``restart_policy._hold_core``), and exits with the child's code (128 + N after signal N).

A stop signal (SIGTERM, SIGINT, SIGQUIT) is forwarded while the child runs and ends a hold at
once; every other catchable signal is forwarded only (SIGHUP too: a child may reload on it).
Signals go to the child process, not its process group: a shell script must ``exec`` its daemon.
A child that exits after the wrapper was asked to stop is neither a crash (its line says
``"event": "stopped"``, so the crash metric does not count a deployment's stops) nor held, since
the platform is stopping the container anyway. The child does not see ``RESTART_POLICY_HOLD``:
the wrapper holds, once. Standard library only.

While the child runs, the wrapper keeps ``RESTART_POLICY_HEARTBEAT`` fresh (every 10 s) until
the child touches it itself: a shell script or a non-Python daemon counts as alive for the
container health check, while a ``restart_policy.runtime`` child, which beats on progress, is
still judged by its own progress.

A ``restart_policy.runtime`` child writes its own crash line; it tells the wrapper so on a pipe
(``RESTART_POLICY_CRASH_REPORTED_FD``), and the wrapper's line then says ``"event":
"child-crashed"``, so that each crash is counted once. The wrapper's line starts on a new line
(a child's last partial line would otherwise glue to it and neither would be JSON).

Exit codes, like a shell's: the child's own; 2 for a usage error; 126 when CMD is not executable;
127 when it is not found.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

from restart_policy import _heartbeat
from restart_policy._hold_core import (
    CRASH_REPORTED_FD_ENV_VAR,
    HOLD_ENV_VAR,
    HOLD_STOP_SIGNALS,
    emit,
    hold_after_crash,
)

__all__ = ["EXIT_NOT_EXECUTABLE", "EXIT_NOT_FOUND", "EXIT_USAGE", "main"]

USAGE = "usage: python -m restart_policy.hold -- CMD [ARGS...]"
EXIT_USAGE = 2
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127

STOP_SIGNALS = frozenset(HOLD_STOP_SIGNALS)

# The crash line's command is bounded: a metric filter's event is at most 256 KiB, and a command
# line of thousands of arguments says nothing more than its start.
MAX_COMMAND_CHARS = 2048


def bounded_command(command: Sequence[str]) -> list[str]:
    """``command`` cut to about ``MAX_COMMAND_CHARS`` characters, with a marker when cut."""
    kept: list[str] = []
    used = 0
    for index, argument in enumerate(command):
        if used + len(argument) > MAX_COMMAND_CHARS:
            room = max(0, MAX_COMMAND_CHARS - used)
            kept.append(argument[:room] + f"...[{len(command) - index} arguments cut]")
            return kept
        kept.append(argument)
        used += len(argument)
    return kept


def _pipe_above_std() -> tuple[int, int]:
    """A pipe whose ends are not 0, 1 or 2: with a standard stream closed, os.pipe() would hand
    out its number, and the child would inherit the pipe as that stream."""
    ends = []
    for fd in os.pipe():
        if fd < 3:
            high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
            os.close(fd)
            fd = high
        ends.append(fd)
    return ends[0], ends[1]


# Not forwarded: those that cannot be caught, SIGCHLD (about the wrapper's own child), and the
# synchronous ones, which the kernel sends about the wrapper's own code or writes (a broken
# stderr pipe must not kill the child).
_NOT_FORWARDED = frozenset(
    {
        signal.SIGKILL,
        signal.SIGSTOP,
        signal.SIGCHLD,
        signal.SIGSEGV,
        signal.SIGBUS,
        signal.SIGFPE,
        signal.SIGILL,
        signal.SIGTRAP,
        signal.SIGSYS,
        signal.SIGPIPE,
        signal.SIGXFSZ,
    }
)


def forwarded_signals() -> list[int]:
    return sorted(int(s) for s in signal.valid_signals() if s not in _NOT_FORWARDED)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


# Far below any sensible health-check age (WorkerService's default is 300 s).
CHILD_BEAT_SECONDS = 10.0


class _ChildBeat:
    """Keeps the heartbeat fresh while the child runs, until the child shows it beats itself.

    A child that is not ``restart_policy.runtime`` (a shell script, a non-Python daemon) never
    touches ``RESTART_POLICY_HEARTBEAT``, and a container health check that reads it would have
    ECS replace a healthy task; for such a child the heartbeat says "alive". Once the file is
    touched by someone else (a runtime child beating on progress), the wrapper stops, so that a
    hung runtime child is still seen as hung.
    """

    def __init__(self, target: str | None) -> None:
        self.target = target
        self.child_beats = False
        self._own_mtime: int | None = None

    def _mtime(self) -> int | None:
        assert self.target is not None
        try:
            return os.stat(self.target).st_mtime_ns
        except OSError:
            return None

    def tick(self) -> None:
        """One beat for the child, unless the child beats by itself; never raises."""
        if self.target is None or self.child_beats:
            return
        current = self._mtime()
        if self._own_mtime is not None and current is not None and current != self._own_mtime:
            self.child_beats = True
            return
        _heartbeat.touch(self.target)
        self._own_mtime = self._mtime()


class _Wrapper:
    def __init__(self, command: Sequence[str]) -> None:
        self.command = list(command)
        self.child: subprocess.Popen[bytes] | None = None
        self.stop_signal: int | None = None
        # A self-pipe: a stop signal must wake the hold's select() at once, which a flag alone
        # cannot (sleeps resume after a handler, PEP 475).
        self._wake_read, self._wake_write = _pipe_above_std()
        os.set_blocking(self._wake_write, False)
        self._reported_read, self._reported_write = _pipe_above_std()
        os.set_blocking(self._reported_read, False)
        os.set_blocking(self._reported_write, False)

    def on_signal(self, number: int, frame: FrameType | None) -> None:
        if number in STOP_SIGNALS and self.stop_signal is None:
            self.stop_signal = number
            with contextlib.suppress(OSError):
                os.write(self._wake_write, b"x")
        child = self.child
        if child is not None and child.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child.pid, number)

    def wait_for_stop(self, seconds: float) -> bool:
        if self.stop_signal is not None:
            return True
        readable, _, _ = select.select([self._wake_read], [], [], max(0.0, seconds))
        return bool(readable) or self.stop_signal is not None

    def run(self) -> int:
        started = time.monotonic()
        for number in forwarded_signals():
            with contextlib.suppress(OSError, ValueError):  # reserved on this platform
                signal.signal(number, self.on_signal)
        try:
            # Own process group: a terminal's Ctrl-C reaches the wrapper only, which forwards it
            # once (a second SIGINT would force an immediate stop in restart_policy.runtime).
            # The wrapper holds; a restart_policy.runtime child must not hold a second time
            # (its back-off would count the same crash twice).
            env = {k: v for k, v in os.environ.items() if k != HOLD_ENV_VAR}
            env[CRASH_REPORTED_FD_ENV_VAR] = str(self._reported_write)
            self.child = subprocess.Popen(
                self.command, process_group=0, env=env, pass_fds=(self._reported_write,)
            )
        except FileNotFoundError:
            return self._not_started(EXIT_NOT_FOUND, "command not found", started)
        except PermissionError:
            return self._not_started(EXIT_NOT_EXECUTABLE, "permission denied", started)
        except OSError as error:
            return self._not_started(EXIT_NOT_EXECUTABLE, error.strerror or str(error), started)
        child_started = time.monotonic()
        os.close(self._reported_write)  # the child's copy is the one that counts
        if self.stop_signal is not None:  # asked to stop while the child was being started
            self.on_signal(self.stop_signal, None)
        child_exited = threading.Event()
        beats = _ChildBeat(_heartbeat.path())
        beater = threading.Thread(
            target=self._beat_while_alive, args=(beats, child_exited), daemon=True
        )
        beater.start()
        try:
            returncode = self.child.wait()
        finally:
            child_exited.set()
        uptime = time.monotonic() - child_started
        if returncode == 0:
            return 0
        killed_by = -returncode if returncode < 0 else None
        exit_code = 128 + killed_by if killed_by is not None else returncode
        fields: dict[str, object] = {
            "event": "crash",
            "exit_code": exit_code,
            "command": bounded_command(self.command),
            "uptime": round(uptime, 3),
        }
        if killed_by is not None:
            fields["signal"] = _signal_name(killed_by)
        how = f"was killed by {_signal_name(killed_by)}" if killed_by else f"exited {returncode}"
        if self.stop_signal is not None:
            # The platform stopped it (a deployment, a scale-in): not a crash, so the crash metric
            # and its alarm do not count it.
            fields["event"] = "stopped"
            fields["stop_signal"] = _signal_name(self.stop_signal)
            emit("INFO", f"the command {how} after a stop signal", newline=True, **fields)
            return exit_code
        if self._child_reported():
            # The child (restart_policy.runtime) wrote the crash line: one crash, counted once.
            fields["event"] = "child-crashed"
            fields["reported_by_child"] = True
        emit("ERROR", f"the command {how} after {uptime:.1f} s", newline=True, **fields)
        self._hold(exit_code, started)
        return exit_code

    def _child_reported(self) -> bool:
        try:
            return bool(os.read(self._reported_read, 64))
        except OSError:  # BlockingIOError: nothing was written
            return False

    @staticmethod
    def _beat_while_alive(beats: _ChildBeat, child_exited: threading.Event) -> None:
        while True:
            beats.tick()
            if child_exited.wait(CHILD_BEAT_SECONDS):
                return

    def _not_started(self, code: int, reason: str, started: float) -> int:
        # The shell's message first, for people; then the crash line, for the metric filter.
        try:
            sys.stderr.write(f"restart_policy.hold: {self.command[0]}: {reason}\n")
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):  # broken, full or closed (None) stderr
            pass
        emit(
            "ERROR",
            f"the command could not be started: {reason}",
            event="crash",
            exit_code=code,
            command=bounded_command(self.command),
            uptime=0.0,
        )
        # A broken command in an image loops like any crash; hold it the same way.
        self._hold(code, started)
        return code

    def _hold(self, exit_code: int, started: float) -> None:
        if self.stop_signal is not None:
            return  # the platform is stopping this container: no restart will follow
        hold_after_crash(
            exit_code=exit_code,
            uptime_seconds=time.monotonic() - started,
            wait=self.wait_for_stop,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``argv`` (default: ``sys.argv[1:]``, ``-- CMD [ARGS...]``) under the crash hold and
    return the exit code to leave with (the child's; see the module's exit codes)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        print(__doc__.split("\n\n")[1] if __doc__ else "")
        return 0
    separated = bool(args) and args[0] == "--"
    if separated:
        args = args[1:]
    if not args:
        sys.stderr.write(f"{USAGE}\nrestart_policy.hold: no command given\n")
        return EXIT_USAGE
    if not separated and args[0].startswith("-"):
        sys.stderr.write(
            f"{USAGE}\nrestart_policy.hold: unknown option {args[0]!r} "
            "(put -- before a command that starts with -)\n"
        )
        return EXIT_USAGE
    return _Wrapper(args).run()


def _exit(code: int) -> None:
    """Exit with ``code`` even when stderr is broken or full: the interpreter's own final flush
    would fail and turn any code into 120, hiding the child's from the platform."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
