"""The daemon's heartbeat file: proof of progress for a container health check. Standard library.

``WorkerService`` sets ``RESTART_POLICY_HEARTBEAT`` to a path in the container; the runtime
touches that file as the daemon makes progress (each item, each wake-up of ``life.wait``) and
while a crash hold waits, and the health check fails once the file is older than its limit. A
hung daemon stops touching it; a holding one does not. With the variable unset nothing happens.
"""

from __future__ import annotations

import os
import time

ENV_VAR = "RESTART_POLICY_HEARTBEAT"

# A heartbeat is a file-system write; daemons that process thousands of items a second must not
# pay one per item.
MIN_INTERVAL_SECONDS = 1.0

_last_beat = float("-inf")


def path() -> str | None:
    """The heartbeat file, or None when the platform asked for none."""
    value = os.environ.get(ENV_VAR, "").strip()
    return value or None


def beat(*, force: bool = False) -> None:
    """Touch the heartbeat file, at most once a second unless ``force``; never raises, since a
    full or read-only disk must not turn progress into a crash (the health check then tells)."""
    global _last_beat
    target = path()
    if target is None:
        return
    now = time.monotonic()
    if not force and now - _last_beat < MIN_INTERVAL_SECONDS:
        return
    _last_beat = now
    touch(target)


def touch(target: str) -> None:
    """Create or refresh ``target``; never raises (see ``beat``)."""
    try:
        with open(target, "a", encoding="utf-8"):
            pass
        os.utime(target, None)
    except OSError:
        pass


def age_seconds(target: str, *, now: float | None = None) -> float | None:
    """Seconds since the file was last touched, or None when it does not exist."""
    try:
        modified = os.stat(target).st_mtime
    except OSError:
        return None
    return (time.time() if now is None else now) - modified
