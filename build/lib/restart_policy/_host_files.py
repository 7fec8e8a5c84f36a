"""The files that make a host run supervisor by the policy, as plain text. Pure Python."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from ._backoff_listener import agent_for_hosts, backoff_settings, render_listener, settings_json
from ._supervisor_syntax import byte_size
from .log_policy import LogPolicy
from .policy import RestartPolicy
from .program import Program, render_program
from .supervisor_install import SupervisorInstall

CONFIG_DIR = "/etc/restart-policy"
PROGRAMS_DIR = f"{CONFIG_DIR}/programs"
SUPERVISORD_CONF = f"{CONFIG_DIR}/supervisord.conf"
SOCKET = "/run/restart-policy-supervisor.sock"
PIDFILE = "/run/restart-policy-supervisord.pid"
UNIT_NAME = "supervisord.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"
CTL_WRAPPER = "/usr/local/bin/supervisorctl"
AGENT_PATH = f"{CONFIG_DIR}/backoff_agent.py"
AGENT_CONFIG = f"{CONFIG_DIR}/backoff.json"
AGENT_STATE = "/var/lib/restart-policy/backoff-state.json"

# systemd's stop timeout must outlast supervisord stopping every program by its policy.
_UNIT_STOP_MARGIN_SECONDS = 30


@dataclass(frozen=True)
class HostFiles:
    """What the user data writes: relative payload path -> content, and where each goes."""

    supervisord_conf: str
    programs: dict[str, str]
    unit: str
    ctl_wrapper: str
    log_directories: tuple[str, ...]
    #: The back-off agent and its settings; None when no program uses the back-off.
    agent: str | None
    agent_config: str | None


def build_host_files(
    programs: Sequence[Program],
    policy: RestartPolicy,
    log_policy: LogPolicy,
    install: SupervisorInstall,
) -> HostFiles:
    rendered = {program.name: render_program(program, policy, log_policy) for program in programs}
    stop_timeouts = [
        (program.restart_policy or policy).stop_timeout_seconds for program in programs
    ]
    # The log policy's own folder first: supervisord and the agent write there.
    others = {(p.log_policy or log_policy).directory for p in programs} - {log_policy.directory}
    folders = [log_policy.directory, *sorted(others)]
    agent_settings = settings_json(programs, policy)
    with_agent = bool(backoff_settings(programs, policy))
    conf = _supervisord_conf(log_policy)
    if with_agent:
        conf += "\n" + render_listener(
            python=install.python,
            agent_path=AGENT_PATH,
            config_path=AGENT_CONFIG,
            state_path=AGENT_STATE,
            log_policy=log_policy,
        )
    return HostFiles(
        supervisord_conf=conf,
        programs=rendered,
        unit=_unit(install, int(max(stop_timeouts)) + _UNIT_STOP_MARGIN_SECONDS),
        ctl_wrapper=(
            "#!/bin/sh\n"
            f'exec {install.bin_dir}/supervisorctl --configuration {SUPERVISORD_CONF} "$@"\n'
        ),
        log_directories=tuple(folders),
        agent=agent_for_hosts() if with_agent else None,
        agent_config=agent_settings if with_agent else None,
    )


def _supervisord_conf(log_policy: LogPolicy) -> str:
    size = byte_size(log_policy.max_file_size_bytes)
    return (
        "; Written by cdk-restart-policy; changes are overwritten on the next run.\n"
        "[unix_http_server]\n"
        f"file={SOCKET}\n"
        "chmod=0700\n"
        "\n"
        "[supervisord]\n"
        f"logfile={posixpath.join(log_policy.directory, 'supervisord.log')}\n"
        f"logfile_maxbytes={size}\n"
        f"logfile_backups={log_policy.backups}\n"
        f"pidfile={PIDFILE}\n"
        f"childlogdir={log_policy.directory}\n"
        "nodaemon=true\n"
        "\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
        "\n"
        "[supervisorctl]\n"
        f"serverurl=unix://{SOCKET}\n"
        "\n"
        "[include]\n"
        f"files = {PROGRAMS_DIR}/*.conf\n"
    )


def _unit(install: SupervisorInstall, stop_seconds: int) -> str:
    return (
        "[Unit]\n"
        "Description=supervisord running the cdk-restart-policy programs\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={install.bin_dir}/supervisord --nodaemon --configuration {SUPERVISORD_CONF}\n"
        f"ExecReload={CTL_WRAPPER} update\n"
        "# supervisord stops each program with its own stop signal and timeout.\n"
        "KillMode=process\n"
        f"TimeoutStopSec={stop_seconds}\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )
