"""Test helpers that drive the real supervisor: its config parser and a real supervisord."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from supervisor.options import ServerOptions
from supervisor.xmlrpc import SupervisorTransport

SUPERVISORD = str(Path(sys.executable).with_name("supervisord"))


def supervisord_conf(folder: Path, sections: str, extra: str = "") -> str:
    return (
        "[unix_http_server]\n"
        f"file={folder}/supervisor.sock\n"
        "[supervisord]\n"
        f"logfile={folder}/supervisord.log\n"
        f"pidfile={folder}/supervisord.pid\n"
        f"childlogdir={folder}\n"
        "loglevel=debug\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
        f"{extra}\n{sections}"
    )


def load_programs(sections: str, folder: Path | None = None) -> dict[str, Any]:
    """Parse ``sections`` with supervisor's own ``ServerOptions.realize``; configs by name."""
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) if folder is None else folder
        path = base / "supervisord.conf"
        path.write_text(supervisord_conf(base, sections), encoding="utf-8")
        options = ServerOptions()
        options.realize(args=["-c", str(path)])
        return {
            process.name: process
            for group in options.process_group_configs
            for process in group.process_configs
        }


class Supervisord:
    """A real supervisord in a folder of its own, stopped by its pid."""

    def __init__(self, folder: Path, sections: str, extra: str = "") -> None:
        self.folder = folder
        self.conf = folder / "supervisord.conf"
        self.conf.write_text(supervisord_conf(folder, sections, extra), encoding="utf-8")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [SUPERVISORD, "-n", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # generous: a loaded machine starts Python slowly, and autostart spawns every program
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.rpc.supervisor.getState()
                return
            except (OSError, xmlrpc.client.Fault):
                time.sleep(0.05)
        log = self.log()
        self.stop()  # __exit__ does not run when __enter__ raises: leave no supervisord behind
        raise TimeoutError(f"supervisord did not answer; log:\n{log}")

    @property
    def rpc(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.folder}/supervisor.sock")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def state(self, name: str) -> str:
        return str(self.rpc.supervisor.getProcessInfo(name)["statename"])

    def wait_state(self, name: str, wanted: str, timeout: float) -> float:
        """Seconds until ``name`` is in state ``wanted``; fails after ``timeout``."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.state(name) == wanted:
                return time.monotonic() - start
            time.sleep(0.05)
        raise AssertionError(f"{name} not {wanted} after {timeout}s: {self.state(name)}")

    def log(self) -> str:
        path = self.folder / "supervisord.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> Supervisord:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                # its programs would outlive it: each leads a process group of its own
                for child in _children(self.process.pid):
                    with suppress(OSError):
                        os.killpg(child, signal.SIGKILL)
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@contextmanager
def running(folder: Path, sections: str, extra: str = "") -> Iterator[Supervisord]:
    with Supervisord(folder, sections, extra) as daemon:
        yield daemon
