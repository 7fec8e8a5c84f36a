"""Runs the back-off agent under cProfile: ``python _profile_agent.py FOLDER AGENT ARGS...``.

supervisord stops its listener with SIGTERM; that ends the profile and writes
``FOLDER/agent-PID.prof`` (read it with ``python -m pstats``).
"""

from __future__ import annotations

import cProfile
import os
import runpy
import signal
import sys


def main() -> None:
    folder, agent = sys.argv[1], sys.argv[2]
    sys.argv = sys.argv[2:]
    profiler = cProfile.Profile()

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    profiler.enable()
    try:
        runpy.run_path(agent, run_name="__main__")
    finally:
        profiler.disable()
        os.makedirs(folder, exist_ok=True)
        profiler.dump_stats(os.path.join(folder, f"agent-{os.getpid()}.prof"))


if __name__ == "__main__":
    main()
