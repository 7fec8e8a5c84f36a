"""A real Debian root file system for end-to-end tests of user data (debootstrap + chroot).

The debootstrapped tree is cached under ``~/.cache/cdk-restart-policy`` and copied per test.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

SUITE = "bookworm"
PACKAGES = "python3,python3-venv,supervisor"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cdk-restart-policy"
STANDIN = Path(__file__).with_name("systemctl")
AWS_STANDIN = Path(__file__).with_name("aws")
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def debian_mirror() -> str:
    """The first Debian mirror this machine's apt uses."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["deb"] and len(parts) > 1:
                return parts[1]
    return "http://deb.debian.org/debian"


def cached_rootfs() -> Path:
    """The cached root file system, made with debootstrap the first time (about a minute)."""
    target = CACHE / f"rootfs-{SUITE}"
    if (target / "usr/bin/python3").exists():
        return target
    if os.geteuid() != 0:
        raise RuntimeError("end-to-end tests need root (debootstrap, chroot, mount)")
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        raise RuntimeError("debootstrap is missing: `make test` installs it with apt-get")
    CACHE.mkdir(parents=True, exist_ok=True)
    # xdist workers: the first builds, the others wait for it (each used to remove the others'
    # half-built tree, and the last rename failed on the finished one)
    with open(CACHE / f"rootfs-{SUITE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "usr/bin/python3").exists():
            return target
        building = CACHE / f"rootfs-{SUITE}.building"
        shutil.rmtree(building, ignore_errors=True)
        subprocess.run(
            [
                debootstrap,
                "--variant=minbase",
                f"--include={PACKAGES}",
                SUITE,
                str(building),
                debian_mirror(),
            ],
            check=True,
            capture_output=True,
        )
        building.rename(target)
    return target


class Chroot:
    """A throw-away copy of the cached root file system, with /proc mounted."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def run(
        self, *command: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        env = {"PATH": CHROOT_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
        return subprocess.run(
            ["chroot", str(self.root), *command],
            env=env,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")

    def write(self, inside: str, text: str, mode: int = 0o644) -> None:
        path = self.path(inside)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)


@contextmanager
def chroot(work: Path) -> Iterator[Chroot]:
    root = work / "rootfs"
    subprocess.run(["cp", "-a", str(cached_rootfs()), str(root)], check=True)
    target = Chroot(root)
    # The chroot trusts what this machine trusts (its registries may sit behind a TLS proxy).
    shutil.copy("/etc/resolv.conf", target.path("/etc/resolv.conf"))
    host_bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if host_bundle.exists():
        target.write("/etc/ssl/certs/ca-certificates.crt", host_bundle.read_text())
        target.write("/etc/pip.conf", "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
    shutil.copy(STANDIN, target.path("/usr/local/sbin/systemctl"))
    target.path("/usr/local/sbin/systemctl").chmod(0o755)
    shutil.copy(AWS_STANDIN, target.path("/usr/local/bin/aws"))
    target.path("/usr/local/bin/aws").chmod(0o755)
    subprocess.run(["mount", "-t", "proc", "proc", str(target.path("/proc"))], check=True)
    try:
        yield target
    finally:
        _stop_everything(target)
        subprocess.run(["umount", "-l", str(target.path("/proc"))], check=False)
        if not os.environ.get("RP_KEEP_ROOTFS"):  # set it to look at a failed run's files
            shutil.rmtree(root, ignore_errors=True)


def _stop_everything(target: Chroot) -> None:
    """Ends every process whose root is this chroot."""
    root = str(target.root.resolve())
    for _ in range(50):
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.readlink(entry / "root") == root:
                    pids.append(int(entry.name))
            except OSError:
                continue
        if not pids:
            return
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
