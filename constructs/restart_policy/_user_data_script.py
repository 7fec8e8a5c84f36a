"""The shell block that installs supervisor and the policy's files on a host. Pure Python.

Files travel as one gzip'd bundle, base64-encoded inside a quoted here-document: the shell never
interprets a byte of them and nothing can cut them short; gzip keeps hundreds of programs under
EC2's 16 KB user-data limit.
"""

from __future__ import annotations

import base64
import gzip
import json
import shlex
import textwrap
from dataclasses import dataclass

from ._backoff_listener import AGENT_FILE_NAME, LISTENER_NAME
from ._cloudwatch_agent import cloudwatch_lines
from ._host_files import (
    AGENT_CONFIG,
    AGENT_PATH,
    AGENT_STATE,
    CONFIG_DIR,
    CTL_WRAPPER,
    PIDFILE,
    PROGRAMS_DIR,
    SECRETS_LIST,
    SUPERVISORD_CONF,
    UNIT_NAME,
    UNIT_PATH,
    HostFiles,
)
from .program import SECRETS_WRAPPER
from .supervisor_install import SupervisorInstall

#: First line of the block; the policy checks find the library's payload by it.
MARKER = "# cdk-restart-policy: supervisor programs, payload v1"
PAYLOAD_DELIMITER = "RP_PAYLOAD_V1"
SECRETS_DELIMITER = "RP_SECRETS_V1"
FILE_MARKER = "--8<-- cdk-restart-policy file: "
# Splits the bundle into its files on the host; file names are the library's own (program
# names are restricted to letters, digits and _ . @ + -).
_SPLIT = (
    f'index($0, "{FILE_MARKER}") == 1 {{ if (out) close(out); '
    f'out = dir "/" substr($0, {len(FILE_MARKER) + 1}); next }} {{ print > out }}'
)
USER_DATA_LIMIT_BYTES = 16384
#: What the user data logs, on stderr and in the agent's log, when the agent cannot be downloaded.
AGENT_DOWNLOAD_FAILED = "agent-download-failed"


@dataclass(frozen=True)
class AgentDownload:
    """Where the host downloads the back-off agent from: an S3 object (an ``s3_assets.Asset``)
    and the region of its bucket. Each may be a deploy-time token."""

    bucket: str
    key: str
    region: str


def payload_files(files: HostFiles, apply: str | None = None) -> dict[str, str]:
    """The files the payload carries, by path inside the payload, in a fixed order."""
    members = {
        **({} if apply is None else {"apply.sh": apply}),
        "supervisord.conf": files.supervisord_conf,
        "supervisord.service": files.unit,
        "supervisorctl": files.ctl_wrapper,
    }
    # The agent itself is downloaded from S3 by the user data (AgentDownload), next to these.
    if files.agent is not None and files.agent_config is not None:
        members["backoff.json"] = files.agent_config
    if files.secrets_wrapper is not None:
        members["with-secrets"] = files.secrets_wrapper
    for name, text in sorted(files.programs.items()):
        members[f"programs/{name}.conf"] = text
    return members


def payload_archive(files: HostFiles, apply: str | None = None) -> bytes:
    """The files as one gzip'd text bundle, each after a ``FILE_MARKER`` line.

    One stream compresses far better than a tar (its 512-byte headers cost about 13 bytes a file
    even compressed): 200 programs fit in the 16 KB user-data limit with room to spare.
    """
    parts: list[str] = []
    for path, text in payload_files(files, apply).items():
        if not text.endswith("\n") or any(
            line.startswith(FILE_MARKER) for line in text.splitlines()
        ):
            raise ValueError(
                f"{path} cannot be bundled: it must end with a newline and no line "
                f"may start with {FILE_MARKER!r}"
            )
        parts.append(f"{FILE_MARKER}{path}\n{text}")
    return gzip.compress("".join(parts).encode("utf-8"), compresslevel=9, mtime=0)


def read_payload(archive: bytes) -> dict[str, str]:
    """The files in a payload bundle, by path (used by the policy checks and tests)."""
    files: dict[str, str] = {}
    current: str | None = None
    for line in gzip.decompress(archive).decode("utf-8").splitlines(keepends=True):
        if line.startswith(FILE_MARKER):
            current = line[len(FILE_MARKER) :].rstrip("\n")
            files[current] = ""
        elif current is not None:
            files[current] += line
    return files


def apply_script(files: HostFiles, install: SupervisorInstall, *, monitoring: bool) -> str:
    """``apply.sh``: installs supervisor and the files unpacked in ``$1``; with ``monitoring``,
    ships the logs to the CloudWatch Logs group named by ``$RESTART_POLICY_LOG_GROUP``. It
    travels inside the compressed payload, where it takes a third of its size.

    supervisord restarts only when its own settings or its unit change; a changed program list
    is applied with ``supervisorctl update`` (only added, removed and changed programs start or
    stop) and the back-off agent rereads its settings on SIGHUP.
    """
    folders = " ".join(shlex.quote(folder) for folder in files.log_directories)
    group = shlex.quote(files.log_reader_group)
    ctl = f"{install.bin_dir}/supervisorctl --configuration {SUPERVISORD_CONF}"
    lines = [
        "#!/bin/bash",
        "# cdk-restart-policy: applies the unpacked payload in $1 (run by the user data).",
        "set -euo pipefail",
        'rp_stage="$1"',
        *_install_lines(install),
        # rp_same: files that differ only in lines a running supervisord does not need.
        'rp_same() { cmp -s <(grep -v -E "$3" "$1") <(grep -v -E "$3" "$2" 2> /dev/null); }',
        f"getent group {group} > /dev/null || groupadd --system {group}",
        f"install -d -m 0755 {CONFIG_DIR}",
        # Log files are not world-readable: supervisord writes them with umask 027 and the
        # set-group-id folder gives them the readers' group.
        f"install -d -m 2750 -g {group} {folders}",
        "rp_restart=0",
        f"rp_same \"$rp_stage/supervisord.conf\" {SUPERVISORD_CONF} '^minfds=' || rp_restart=1",
        f'rp_same "$rp_stage/supervisord.service" {UNIT_PATH}'
        " '^(TimeoutStopSec|LimitNOFILE)=' || rp_restart=1",
        f'install -m 0644 "$rp_stage/supervisord.conf" {SUPERVISORD_CONF}',
        *_agent_lines(files, group),
        *_secrets_lines(files),
        # Programs are swapped as a whole, so a program removed from the app leaves the host.
        # Their files may carry environment values: root only.
        f"rm -rf {PROGRAMS_DIR}.new",
        f"install -d -m 0700 {PROGRAMS_DIR}.new",
        f'install -m 0600 "$rp_stage"/programs/*.conf {PROGRAMS_DIR}.new/',
        f"rm -rf {PROGRAMS_DIR}",
        f"mv {PROGRAMS_DIR}.new {PROGRAMS_DIR}",
        f'install -m 0644 "$rp_stage/supervisord.service" {UNIT_PATH}',
        f'install -m 0755 "$rp_stage/supervisorctl" {CTL_WRAPPER}',
        *_v1_takeover_lines(ctl),
        "systemctl daemon-reload",
        f"systemctl enable {UNIT_NAME}",
        f'if [ "$rp_restart" = 0 ] && systemctl is-active --quiet {UNIT_NAME}; then',
        *_raise_fd_limit_lines(files.min_fds),
        # The agent may start a program between update's stop of its group and the removal
        # (supervisor: STILL_RUNNING); the next try stops and removes it again.
        "  rp_try=1",
        f"  until {ctl} update; do",
        '    [ "$rp_try" -lt 3 ] || exit 1',
        "    rp_try=$((rp_try + 1))",
        "    sleep 2",
        "  done",
        *_agent_reload_lines(files, ctl),
        "else",
        f"  systemctl restart {UNIT_NAME}",
        "fi",
        *(cloudwatch_lines(files.log_directories[0]) if monitoring else []),
    ]
    return "\n".join(lines) + "\n"


# What 0.1.0 installed besides the files this release still uses (same config, socket, pidfile
# and agent state): a unit and a wrapper under names that hosts' own supervisors use too, each
# known by a line only the library wrote (the wrapper's for any supervisor bin folder).
V1_UNIT = "supervisord.service"
V1_UNIT_PATH = f"/etc/systemd/system/{V1_UNIT}"
V1_UNIT_LINE = "Description=supervisord running the cdk-restart-policy programs"
V1_CTL = "/usr/local/bin/supervisorctl"
V1_CTL_LINE = f'exec /[^ ]*/supervisorctl --configuration {SUPERVISORD_CONF} "$@"'


def _v1_takeover_lines(ctl: str) -> list[str]:
    """A host set up by 0.1.0 moves to this release's unit and wrapper; a host's own
    supervisord.service or supervisorctl is never touched, and a second run finds nothing."""
    return [
        # First, so that ctl is never 0.1.0's wrapper (which called itself from /usr/local/bin).
        f"grep -qsx '{V1_CTL_LINE}' {V1_CTL} && rm {V1_CTL}",
        f"if grep -qsxF '{V1_UNIT_LINE}' {V1_UNIT_PATH}; then",
        # Its programs stop together, each by its own stop signal and timeout: the unit's stop
        # alone (one after another, KillMode=process) could outlast TimeoutStopSec and leave
        # them running beside ours. Then its supervisord stops as the unit stops it, and ours
        # starts only after that. The agent's state file stays for this release's agent.
        f"  {ctl} stop all > /dev/null 2>&1 || true",
        f"  systemctl disable --now {V1_UNIT}",
        f"  rm {V1_UNIT_PATH}",
        "  rp_restart=1",
        "fi",
    ]


def _secrets_lines(files: HostFiles) -> list[str]:
    if files.secrets_wrapper is None:
        return [f"rm -f {SECRETS_WRAPPER} {SECRETS_LIST}"]
    return [
        f'install -m 0755 "$rp_stage/with-secrets" {SECRETS_WRAPPER}',
        # Names and ARNs only (values are fetched at start); programs read it as their user.
        f'install -m 0644 "$rp_stage/secrets.list" {SECRETS_LIST}',
    ]


def _raise_fd_limit_lines(min_fds: int) -> list[str]:
    """A running supervisord keeps the open-files limit it started with; more programs may
    need more, raised in place rather than by a restart of every program."""
    return [
        f'  rp_pid="$(cat {PIDFILE} 2> /dev/null || true)"',
        '  if [ -n "$rp_pid" ] && command -v prlimit > /dev/null; then',
        '    rp_soft="$(prlimit --pid "$rp_pid" --nofile --noheadings --output SOFT)"',
        f'    if [ "$rp_soft" != unlimited ] && [ "$rp_soft" -lt {min_fds} ]; then',
        f'      prlimit --pid "$rp_pid" --nofile={min_fds}:',
        "    fi",
        "  fi",
    ]


def _agent_reload_lines(files: HostFiles, ctl: str) -> list[str]:
    if files.agent is None:
        return []
    return [
        '  if [ "$rp_agent" = 1 ]; then',
        f"    {ctl} restart {LISTENER_NAME}",
        '  elif [ "$rp_settings" = 1 ]; then',
        f"    {ctl} signal HUP {LISTENER_NAME} ||"
        " echo 'cdk-restart-policy: the back-off agent reads its settings when it starts' >&2",
        "  fi",
    ]


def script_lines(
    files: HostFiles,
    install: SupervisorInstall,
    log_group_name: str | None = None,
    agent: AgentDownload | None = None,
) -> list[str]:
    """The block's lines, to be added to a bash user data; with ``log_group_name``, the logs
    go to that CloudWatch Logs group too. ``agent`` says where the back-off agent is downloaded
    from; it is required when ``files`` has the agent."""
    if (files.agent is None) != (agent is None):
        raise ValueError("give an AgentDownload exactly when the programs use the back-off")
    apply = apply_script(files, install, monitoring=log_group_name is not None)
    encoded = base64.b64encode(payload_archive(files, apply)).decode("ascii")
    run = 'bash "$rp_stage/apply.sh" "$rp_stage"'
    if log_group_name is not None:
        run = f"RESTART_POLICY_LOG_GROUP='{log_group_name}' {run}"
    return [
        MARKER,
        "(",
        "set -euo pipefail",
        "umask 022",
        'rp_stage="$(mktemp -d)"',
        "trap 'rm -rf \"$rp_stage\"' EXIT",
        f"base64 -d > \"$rp_stage/payload.gz\" <<'{PAYLOAD_DELIMITER}'",
        *textwrap.wrap(encoded, 76),
        PAYLOAD_DELIMITER,
        'mkdir "$rp_stage/programs"',
        f'gzip -dc "$rp_stage/payload.gz" | awk -v dir="$rp_stage" \'{_SPLIT}\'',
        *_secrets_list_lines(files),
        *_download_lines(agent),
        run,
        # The block runs in a subshell so that its shell options do not leak into the rest
        # of the user data; its failure still fails the user data.
        ") || { echo 'cdk-restart-policy: supervisor set-up failed' >&2; exit 1; }",
    ]


def _secrets_list_lines(files: HostFiles) -> list[str]:
    """The secrets' ARNs, outside the compressed payload: CloudFormation fills them in."""
    if not files.secrets:
        return []
    return [
        f"cat > \"$rp_stage/secrets.list\" <<'{SECRETS_DELIMITER}'",
        *files.secrets,
        SECRETS_DELIMITER,
    ]


def _download_lines(agent: AgentDownload | None) -> list[str]:
    """The agent from S3, with the hosts' role (``grant_agent``). A failed download leaves the
    programs running without the agent, and says so loudly (apply.sh logs it again where the
    ``backoff`` alarm sees it)."""
    if agent is None:
        return []
    source = f"s3://{agent.bucket}/{agent.key}"
    return [
        f"if ! aws s3 cp --only-show-errors '{source}' \"$rp_stage/{AGENT_FILE_NAME}\""
        f" --region '{agent.region}'; then",
        f'  rm -f "$rp_stage/{AGENT_FILE_NAME}"',
        f"  echo 'cdk-restart-policy: ERROR {AGENT_DOWNLOAD_FAILED}: could not download the"
        " back-off agent (is the AWS CLI installed, and did the hosts role get grant_agent?);"
        " programs run WITHOUT the back-off' >&2",
        "fi",
    ]


def _agent_lines(files: HostFiles, group: str) -> list[str]:
    if files.agent is None:
        return [f"rm -f {AGENT_PATH} {AGENT_CONFIG}"]
    state_dir = AGENT_STATE.rsplit("/", 1)[0]
    log = shlex.quote(f"{files.log_directories[0]}/{LISTENER_NAME}.log")
    # One JSON line as the agent writes them, with a decision the backoff alarm counts.
    failed = json.dumps(
        {
            "agent": LISTENER_NAME,
            "decision": "give-up",
            "process": "*",
            "reason": AGENT_DOWNLOAD_FAILED,
            "detail": "the back-off agent could not be downloaded; programs run without it",
        },
        sort_keys=True,
    )
    return [
        # A new agent restarts the agent alone; new settings are reread on SIGHUP.
        "rp_agent=0",
        "rp_settings=0",
        f"install -d -m 0755 {state_dir}",
        f'if [ -f "$rp_stage/{AGENT_FILE_NAME}" ]; then',
        f'  cmp -s "$rp_stage/{AGENT_FILE_NAME}" {AGENT_PATH} || rp_agent=1',
        f'  install -m 0644 "$rp_stage/{AGENT_FILE_NAME}" {AGENT_PATH}',
        "else",
        # An agent installed by an earlier run keeps running; without one, supervisor runs
        # the programs and the listener alone fails to start.
        f"  echo 'cdk-restart-policy: ERROR {AGENT_DOWNLOAD_FAILED}: no new back-off agent;"
        f" keeping {AGENT_PATH} if there is one' >&2",
        f"  ( umask 027; printf '%s\\n' {shlex.quote(failed)} >> {log} )",
        f"  chgrp {group} {log} || true",
        "fi",
        f'cmp -s "$rp_stage/backoff.json" {AGENT_CONFIG} || rp_settings=1',
        f'install -m 0644 "$rp_stage/backoff.json" {AGENT_CONFIG}',
    ]


def _install_lines(install: SupervisorInstall) -> list[str]:
    supervisord = f"{install.bin_dir}/supervisord"
    if install.kind == "pip-venv":
        venv = install.bin_dir.removesuffix("/bin")
        stamp = f"{venv}/.installed-supervisor-{install.version}"
        requirement = shlex.quote(f"supervisor=={install.version}")
        return [
            f"if [ ! -f {stamp} ]; then",
            "  if command -v apt-get > /dev/null && ! dpkg -s python3-venv > /dev/null 2>&1; then",
            "    DEBIAN_FRONTEND=noninteractive apt-get update -q",
            "    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv",
            "  fi",
            f"  python3 -m venv {venv}",
            f"  {venv}/bin/python -m pip install --quiet --disable-pip-version-check"
            f" --no-input {requirement}",
            f"  touch {stamp}",
            "fi",
        ]
    if install.kind == "os-package":
        apt_name = shlex.quote("supervisor" + (f"={install.version}" if install.version else ""))
        dnf_name = shlex.quote("supervisor" + (f"-{install.version}" if install.version else ""))
        return [
            f"if [ ! -x {supervisord} ]; then",
            "  if command -v apt-get > /dev/null; then",
            "    DEBIAN_FRONTEND=noninteractive apt-get update -q",
            f"    DEBIAN_FRONTEND=noninteractive apt-get install -y -q {apt_name}",
            "  elif command -v dnf > /dev/null; then",
            f"    dnf install -y -q {dnf_name}",
            "  else",
            "    echo 'cdk-restart-policy: no apt-get or dnf to install supervisor' >&2",
            "    exit 1",
            "  fi",
            "fi",
        ]
    return [
        f"if [ ! -x {supervisord} ]; then",
        f"  echo 'cdk-restart-policy: {supervisord} is missing (install: preinstalled)' >&2",
        "  exit 1",
        "fi",
    ]


def extract_payloads(user_data: str) -> list[dict[str, str]]:
    """The files of every library payload found in a user data script, in order."""
    payloads: list[dict[str, str]] = []
    lines = user_data.splitlines()
    opening = f"<<'{PAYLOAD_DELIMITER}'"
    for index, line in enumerate(lines):
        if not line.rstrip().endswith(opening):
            continue
        try:
            end = lines.index(PAYLOAD_DELIMITER, index + 1)
        except ValueError:
            continue
        encoded = "".join(lines[index + 1 : end])
        payloads.append(read_payload(base64.b64decode(encoded, validate=True)))
    return payloads
