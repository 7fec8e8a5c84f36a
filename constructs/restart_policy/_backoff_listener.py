"""The back-off agent's settings file and its ``[eventlistener:...]`` section. Pure Python."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import posixpath
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ._supervisor_syntax import byte_size, escape_percent
from .log_policy import LogPolicy
from .policy import RestartPolicy
from .program import Program

LISTENER_NAME = "restart-policy-backoff"
AGENT_SOURCE = Path(__file__).with_name("backoff_agent.py")
AGENT_FILE_NAME = "backoff_agent.py"
#: supervisor waits 1, 2, 3 ... s between failed starts: 30 retries keep trying the agent for
#: about 8 minutes (a volume mounted late, a slow boot) before the host has no restarts at all.
LISTENER_START_RETRIES = 30


def backoff_settings(
    programs: Sequence[Program], policy: RestartPolicy
) -> dict[str, dict[str, object]]:
    """What the agent needs per program; programs whose policy turns the back-off off are left
    out, so supervisor treats them exactly as the policy document describes."""
    settings: dict[str, dict[str, object]] = {}
    for program in programs:
        own = program.restart_policy_under(policy)
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
        if tuple(own.exit_codes) != (0,):  # the agent's default; bytes count in user data
            settings[program.name]["exit_codes"] = list(own.exit_codes)
    return settings


def settings_json(programs: Sequence[Program], policy: RestartPolicy) -> str:
    # Compact, and grouped by settings so that each program's name is written once: it travels
    # in user data, where every byte counts toward the 16 KB limit.
    groups: dict[str, list[str]] = {}
    for name, values in backoff_settings(programs, policy).items():
        groups.setdefault(json.dumps(values, sort_keys=True), []).append(name)
    document = [
        {"settings": json.loads(values), "programs": names} for values, names in groups.items()
    ]
    return json.dumps(document, separators=(",", ":"), sort_keys=True) + "\n"


def agent_for_hosts() -> str:
    """The agent's source without docstrings and type hints (a third of its size): the same
    program, smaller in user data."""
    source = ast.unparse(stripped_agent())
    # One space per level instead of four: about 300 bytes less of the user data, after gzip
    # and base64. Safe only while no string spans lines (ast.unparse writes them on one line).
    if '"""' not in source and "'''" not in source:
        source = _INDENT.sub(lambda match: " " * (len(match.group(0)) // 4), source)
    return (
        "# cdk-restart-policy back-off agent (restart_policy/backoff_agent.py, docstrings cut)\n"
        + source
        + "\n"
    )


def agent_asset_file() -> Path:
    """The hosts' copy of the agent, written at synth time to a folder named by its content, for
    an ``s3_assets.Asset``: the same agent is the same file and the same asset hash, whatever
    synthesizes it."""
    text = agent_for_hosts().encode("utf-8")
    digest = hashlib.sha256(text).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"cdk-restart-policy-agent-{digest}"
    target = folder / AGENT_FILE_NAME
    if not target.is_file() or target.read_bytes() != text:
        folder.mkdir(parents=True, exist_ok=True)
        # Written beside and renamed: two synths at once never see half a file.
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".agent-")
        with os.fdopen(handle, "wb") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    return target


def stripped_agent() -> ast.Module:
    """The agent's syntax tree without docstrings and type hints."""
    tree = ast.parse(AGENT_SOURCE.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = node.body[1:] or [ast.Pass()]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.returns = None
            arguments = node.args
            for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
                argument.annotation = None
            for star in (arguments.vararg, arguments.kwarg):
                if star is not None:
                    star.annotation = None
    return tree


_INDENT = re.compile(r"^(?:    )+", re.MULTILINE)


def render_listener(
    *, python: str, agent_path: str, config_path: str, state_path: str, log_policy: LogPolicy
) -> str:
    """The ``[eventlistener:restart-policy-backoff]`` section.

    The agent is what restarts the programs under it (they have ``autorestart=false``), so
    supervisor restarts the agent after any exit (``autorestart=true``) and retries a failed
    start ``LISTENER_START_RETRIES`` times before it gives up (FATAL, which the ``fatal`` alarm
    counts).
    """
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
        f"startretries={LISTENER_START_RETRIES}\n"
        "stopsignal=TERM\n"
        "stopwaitsecs=10\n"
        f"stderr_logfile={log_file}\n"
        f"stderr_logfile_maxbytes={size}\n"
        f"stderr_logfile_backups={log_policy.backups}\n"
    )
