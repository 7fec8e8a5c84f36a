"""The back-off agent's settings file and its ``[eventlistener:...]`` section. Pure Python."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from pathlib import Path

from ._supervisor_syntax import byte_size, escape_percent
from .log_policy import LogPolicy
from .policy import RestartPolicy
from .program import Program

LISTENER_NAME = "restart-policy-backoff"
AGENT_SOURCE = Path(__file__).with_name("backoff_agent.py")


def backoff_settings(
    programs: Sequence[Program], policy: RestartPolicy
) -> dict[str, dict[str, object]]:
    """What the agent needs per program; programs whose policy turns the back-off off are left
    out, so supervisor treats them exactly as the policy document describes."""
    settings: dict[str, dict[str, object]] = {}
    for program in programs:
        own = program.restart_policy or policy
        if not own.backoff:
            continue
        settings[program.name] = {
            "initial": own.backoff_initial_seconds,
            "maximum": own.backoff_max_seconds,
            "healthy_reset": own.healthy_reset_seconds,
            "start_retries": own.start_retries,
            "max_rearms": own.max_rearms,
            "restart_always": own.restart == "always",
            "start_window": own.start_window_seconds,
        }
    return settings


def settings_json(programs: Sequence[Program], policy: RestartPolicy) -> str:
    return json.dumps(backoff_settings(programs, policy), indent=2, sort_keys=True) + "\n"


def render_listener(
    *, python: str, agent_path: str, config_path: str, state_path: str, log_policy: LogPolicy
) -> str:
    """The ``[eventlistener:restart-policy-backoff]`` section."""
    command = f"{python} {agent_path} --config {config_path} --state {state_path}"
    size = byte_size(log_policy.max_file_size_bytes)
    log_file = posixpath.join(log_policy.directory, f"{LISTENER_NAME}.log")
    return (
        f"[eventlistener:{LISTENER_NAME}]\n"
        f"command={escape_percent(command)}\n"
        "events=PROCESS_STATE\n"
        "buffer_size=1024\n"
        "autostart=true\n"
        "autorestart=true\n"
        "startsecs=1\n"
        "startretries=10\n"
        "stopsignal=TERM\n"
        "stopwaitsecs=10\n"
        f"stderr_logfile={log_file}\n"
        f"stderr_logfile_maxbytes={size}\n"
        f"stderr_logfile_backups={log_policy.backups}\n"
    )
