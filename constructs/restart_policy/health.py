"""``python -m restart_policy.health --max-age SECONDS``: the container health check.

Exit 0 when the heartbeat file (``RESTART_POLICY_HEARTBEAT``, or ``--file``) was touched less
than ``--max-age`` seconds ago, 1 otherwise, with one line saying why. The runtime touches the
file as the daemon makes progress and the crash hold touches it while it waits, so a hung daemon
fails the check and a holding one does not. Standard library only.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence

from restart_policy import _heartbeat

__all__ = ["EXIT_HEALTHY", "EXIT_UNHEALTHY", "EXIT_USAGE", "check", "main"]

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1
EXIT_USAGE = 2


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds greater than 0")
    return value


def check(target: str, max_age: float, *, now: float | None = None) -> tuple[int, str]:
    """(exit code, message) for the heartbeat file ``target``."""
    age = _heartbeat.age_seconds(target, now=now)
    if age is None:
        return EXIT_UNHEALTHY, f"unhealthy: no heartbeat file at {target} (the daemon never beat)"
    if age >= max_age:
        return EXIT_UNHEALTHY, (
            f"unhealthy: the heartbeat {target} is {age:.1f} s old (limit {max_age:g} s)"
        )
    return EXIT_HEALTHY, f"healthy: the heartbeat {target} is {max(age, 0.0):.1f} s old"


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: ``--max-age SECONDS [--file PATH]``; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m restart_policy.health",
        description="Exit 0 when the daemon's heartbeat file is fresh, 1 when not.",
    )
    parser.add_argument(
        "--max-age", type=_seconds, required=True, help="seconds; an older heartbeat is unhealthy"
    )
    parser.add_argument("--file", help=f"the heartbeat file. Default: ${_heartbeat.ENV_VAR}")
    args = parser.parse_args(argv)
    target = args.file if args.file is not None else _heartbeat.path()
    if not target:
        sys.stderr.write(
            f"unhealthy: no heartbeat file configured (set {_heartbeat.ENV_VAR} or give --file)\n"
        )
        return EXIT_UNHEALTHY
    code, message = check(target, args.max_age)
    (sys.stdout if code == EXIT_HEALTHY else sys.stderr).write(message + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
