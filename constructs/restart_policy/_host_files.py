"""The files that make a host run supervisor by the policy, as plain text. Pure Python."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from ._backoff_listener import agent_for_hosts, backoff_settings, render_listener, settings_json
from ._supervisor_syntax import byte_size
from .log_policy import LogPolicy
from .policy import RestartPolicy
from .program import Program, render_program, secret_reference
from .supervisor_install import SupervisorInstall

CONFIG_DIR = "/etc/restart-policy"
PROGRAMS_DIR = f"{CONFIG_DIR}/programs"
SUPERVISORD_CONF = f"{CONFIG_DIR}/supervisord.conf"
SOCKET = "/run/restart-policy-supervisor.sock"
PIDFILE = "/run/restart-policy-supervisord.pid"
# Names of our own: a host's supervisor (Debian's supervisor.service, its supervisord.log, its
# supervisorctl) is never replaced, stopped or shadowed.
UNIT_NAME = "restart-policy-supervisord.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"
CTL_WRAPPER = "/usr/local/bin/rp-supervisorctl"
SUPERVISORD_LOG = "restart-policy-supervisord.log"
AGENT_PATH = f"{CONFIG_DIR}/backoff_agent.py"
AGENT_CONFIG = f"{CONFIG_DIR}/backoff.json"
AGENT_STATE = "/var/lib/restart-policy/backoff-state.json"
SECRETS_LIST = f"{CONFIG_DIR}/secrets.list"

#: Read access to the log files; ``adm`` reads logs on Debian, Ubuntu and Amazon Linux alike.
DEFAULT_LOG_READER_GROUP = "adm"

# Each process holds about 5 descriptors in supervisord (its stdin, stdout and stderr pipes, two
# log files; 250 processes measured 1,256 in all) and briefly 3 more while it is spawned.
FDS_PER_PROCESS = 8
FDS_BASE = 64
# systemd's own hard limit for services (v240 and later): programs may still raise their soft
# limit as far as they could before.
NOFILE_HARD = 524288
# systemd waits this long past the slowest program's stop timeout (supervisorctl's round trip,
# supervisord's exit).
UNIT_STOP_MARGIN_SECONDS = 30


@dataclass(frozen=True)
class HostFiles:
    """What the user data writes: relative payload path -> content, and where each goes."""

    supervisord_conf: str
    programs: dict[str, str]
    unit: str
    ctl_wrapper: str
    log_directories: tuple[str, ...]
    log_reader_group: str
    #: The back-off agent and its settings; None when no program uses the back-off. The agent
    #: travels outside the user data (an S3 asset the host downloads), its settings inside.
    agent: str | None
    agent_config: str | None
    #: supervisord's and systemd's open-files limit, sized from the number of processes.
    min_fds: int
    #: The unit's TimeoutStopSec.
    stop_timeout_seconds: int
    #: The wrapper that fetches secrets before a program starts; None when no program has any.
    secrets_wrapper: str | None
    #: ``PROGRAM VARIABLE ARN [JSON-KEY]`` per secret; ARNs may be deploy-time tokens, so these
    #: lines travel outside the compressed payload.
    secrets: tuple[str, ...]


def min_fds(process_count: int) -> int:
    """supervisord's ``minfds`` for ``process_count`` processes: rounded up to a multiple of
    1,024 (supervisord's default), so that adding a few programs rarely changes it."""
    need = FDS_BASE + FDS_PER_PROCESS * process_count
    return max(1024, -(-need // 1024) * 1024)


def build_host_files(
    programs: Sequence[Program],
    policy: RestartPolicy,
    log_policy: LogPolicy,
    install: SupervisorInstall,
    log_reader_group: str = DEFAULT_LOG_READER_GROUP,
) -> HostFiles:
    # The agent restarts exactly the programs it has settings for; supervisor the others.
    agent_programs = backoff_settings(programs, policy)
    rendered = {
        program.name: render_program(
            program, policy, log_policy, backoff_agent=program.name in agent_programs
        )
        for program in programs
    }
    # The log policy's own folder first: supervisord and the agent write there.
    others = {p.log_policy_under(log_policy).directory for p in programs} - {log_policy.directory}
    folders = [log_policy.directory, *sorted(others)]
    agent_settings = settings_json(programs, policy)
    with_agent = bool(agent_programs)
    processes = sum(program.numprocs for program in programs) + (1 if with_agent else 0)
    fds = min_fds(processes)
    conf = _supervisord_conf(log_policy, fds)
    if with_agent:
        conf += "\n" + render_listener(
            python=install.python,
            agent_path=AGENT_PATH,
            config_path=AGENT_CONFIG,
            state_path=AGENT_STATE,
            log_policy=log_policy,
        )
    stop_seconds = int(stop_timeout_seconds(programs, policy, with_agent=with_agent))
    return HostFiles(
        supervisord_conf=conf,
        programs=rendered,
        unit=_unit(install, stop_seconds, fds),
        ctl_wrapper=_ctl_wrapper(install, with_agent=with_agent),
        log_directories=tuple(folders),
        log_reader_group=log_reader_group,
        agent=agent_for_hosts() if with_agent else None,
        agent_config=agent_settings if with_agent else None,
        min_fds=fds,
        stop_timeout_seconds=stop_seconds,
        secrets_wrapper=_SECRETS_WRAPPER if any(p.secrets for p in programs) else None,
        secrets=tuple(_secret_lines(programs)),
    )


def _secret_lines(programs: Sequence[Program]) -> list[str]:
    lines = []
    for program in programs:
        for variable, source in program.secrets.items():
            reference = secret_reference(source)
            assert reference is not None  # Program checked it
            arn, key = reference
            lines.append(" ".join(part for part in (program.name, variable, arn, key) if part))
    return lines


def stop_timeout_seconds(
    programs: Sequence[Program], policy: RestartPolicy, *, with_agent: bool
) -> float:
    """systemd's TimeoutStopSec. The unit's ExecStop stops every process at once
    (``supervisorctl stop all`` signals all of them, then waits), so the slowest program's stop
    timeout bounds it; supervisord's own shutdown would stop one group after another."""
    slowest = max(program.restart_policy_under(policy).stop_timeout_seconds for program in programs)
    listener = 10.0 if with_agent else 0.0  # render_listener's stopwaitsecs
    return max(slowest, listener) + UNIT_STOP_MARGIN_SECONDS


def _supervisord_conf(log_policy: LogPolicy, fds: int) -> str:
    size = byte_size(log_policy.max_file_size_bytes)
    return (
        "; Written by cdk-restart-policy; changes are overwritten on the next run.\n"
        "[unix_http_server]\n"
        f"file={SOCKET}\n"
        "chmod=0700\n"
        "\n"
        "[supervisord]\n"
        f"logfile={posixpath.join(log_policy.directory, SUPERVISORD_LOG)}\n"
        f"logfile_maxbytes={size}\n"
        f"logfile_backups={log_policy.backups}\n"
        f"pidfile={PIDFILE}\n"
        f"childlogdir={log_policy.directory}\n"
        "nodaemon=true\n"
        # Kept last in its section: the user data leaves it out when it decides whether
        # supervisord must restart (a bigger limit is raised in place).
        f"minfds={fds}\n"
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


def _unit(install: SupervisorInstall, stop_seconds: int, fds: int) -> str:
    ctl = f"{install.bin_dir}/supervisorctl --configuration {SUPERVISORD_CONF}"
    return (
        "[Unit]\n"
        "Description=supervisord running the cdk-restart-policy programs\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={install.bin_dir}/supervisord --nodaemon --configuration {SUPERVISORD_CONF}\n"
        f"ExecReload={ctl} update\n"
        # supervisord's own shutdown stops one program after another; this stops all of them at
        # once, each with its own stop signal and timeout, so the slowest one bounds the stop.
        f"ExecStop=-{ctl} stop all\n"
        # SIGTERM to supervisord only (it stops its programs by their policy); whatever is left
        # in the unit's cgroup when it exits or the timeout passes gets SIGKILL: no orphans.
        "KillMode=mixed\n"
        # supervisord's log files are written with this mask (not world-readable); every
        # program sets its own umask back to 022.
        "UMask=0027\n"
        f"LimitNOFILE={fds}:{NOFILE_HARD}\n"
        f"TimeoutStopSec={stop_seconds}\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def _ctl_wrapper(install: SupervisorInstall, *, with_agent: bool) -> str:
    ctl = f"{install.bin_dir}/supervisorctl --configuration {SUPERVISORD_CONF}"
    header = (
        "#!/bin/sh\n"
        "# cdk-restart-policy: supervisorctl for the library's supervisord (rp-supervisorctl).\n"
    )
    if not with_agent:
        return header + f'exec {ctl} "$@"\n'
    agent = f"{install.python} {AGENT_PATH} --config {AGENT_CONFIG} --state {AGENT_STATE}"
    # hold NAME, release NAME and backoff-status go to the back-off agent; stop NAME:* tells it
    # first, so that a cool-down does not start the program again (a probe that gets in before
    # the agent reads the stop is stopped by supervisorctl here, or by the agent).
    return header + (
        'case "${1:-}" in\n'
        "hold | release)\n"
        f'  exec {agent} "$@"\n'
        "  ;;\n"
        "backoff-status)\n"
        f"  exec {agent} status\n"
        "  ;;\n"
        "stop)\n"
        f'  {agent} "$@" || true\n'
        f'  exec {ctl} "$@"\n'
        "  ;;\n"
        "esac\n"
        f'exec {ctl} "$@"\n'
    )


# Runs as the program's user, with the instance role's credentials (IMDS), each time supervisor
# starts the program: secret values live in the process's environment only.
# Usage: with-secrets PROGRAM COMMAND...
_SECRETS_WRAPPER = f"""#!/bin/sh
set -eu
rp_program=$1
shift
while read -r rp_name rp_var rp_id rp_field; do
  [ "$rp_name" = "$rp_program" ] || continue
  rp_region=$(printf '%s' "$rp_id" | cut -d: -f4)
  case "$rp_id" in
  arn:*:ssm:*)
    rp_value=$(aws --region "$rp_region" ssm get-parameter --with-decryption --name "$rp_id" \\
      --query Parameter.Value --output text)
    ;;
  *)
    rp_value=$(aws --region "$rp_region" secretsmanager get-secret-value --secret-id "$rp_id" \\
      --query SecretString --output text)
    ;;
  esac
  if [ -n "$rp_field" ]; then
    rp_value=$(printf '%s' "$rp_value" | python3 -c \\
      'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$rp_field")
  fi
  export "$rp_var=$rp_value"
done < {SECRETS_LIST}
exec "$@"
"""
