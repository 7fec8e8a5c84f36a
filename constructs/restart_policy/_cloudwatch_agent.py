"""The shell lines that ship a host's supervisor logs to CloudWatch Logs. Pure Python.

The CloudWatch agent reads only the newest file of a wildcard, so every process's stdout and
stderr file needs an entry of its own. The entries are made on the host from the installed
program files (a few hundred bytes of awk), not carried in the user data (hundreds of
near-identical JSON entries would cost kilobytes of the 16 KB limit).
"""

from __future__ import annotations

import posixpath

from ._backoff_listener import LISTENER_NAME
from ._host_files import PROGRAMS_DIR, SUPERVISORD_LOG

CONFIG_DIR = "/opt/aws/amazon-cloudwatch-agent/etc"
CONFIG_PATH = f"{CONFIG_DIR}/restart-policy.json"
AGENT_CTL = "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"

# One JSON entry per process log file, from [program:...] files: name, numprocs, log paths.
_ENTRIES = r"""
function add(path, n, suffix,    p) {
  p = path; gsub(/%\(program_name\)s/, name, p); gsub(/%\(process_num\)s/, n, p)
  printf ",{\"file_path\":\"%s\",\"log_group_name\":\"%s\"," \
    "\"log_stream_name\":\"{instance_id}/%s-%d%s\"}", p, group, name, n, suffix
}
function emit(    n) {
  for (n = 0; n < numprocs; n++) { add(out, n, ""); if (err != "") add(err, n, ".err") }
}
FNR == 1 { if (name != "") emit(); name = ""; numprocs = 1; out = ""; err = "" }
/^\[program:/ { name = substr($0, 10, length($0) - 10) }
/^numprocs=/ { numprocs = substr($0, 10) + 0 }
/^stdout_logfile=/ { out = substr($0, 16) }
/^stderr_logfile=/ { err = substr($0, 16) }
END { if (name != "") emit() }
""".strip()


def entry(path: str, stream: str) -> str:
    return (
        f'{{"file_path":"{path}","log_group_name":"%s",'
        f'"log_stream_name":"{{instance_id}}/{stream}"}}'
    )


def cloudwatch_lines(log_directory: str) -> list[str]:
    """Writes the agent configuration for the group named by ``$RESTART_POLICY_LOG_GROUP``
    and starts the agent when it is (or can be) installed."""
    supervisord_log = posixpath.join(log_directory, SUPERVISORD_LOG)
    listener_log = posixpath.join(log_directory, f"{LISTENER_NAME}.log")
    head = entry(supervisord_log, "supervisord") + "," + entry(listener_log, LISTENER_NAME)
    return [
        'rp_log_group="${RESTART_POLICY_LOG_GROUP:?set by the user data}"',
        f"install -d -m 0755 {CONFIG_DIR}",
        "{",
        f'  printf \'{{"logs":{{"logs_collected":{{"files":{{"collect_list":[{head}\' '
        '"$rp_log_group" "$rp_log_group"',
        f"  awk -v group=\"$rp_log_group\" '{_ENTRIES}' {PROGRAMS_DIR}/*.conf",
        "  printf ']}}}}\\n'",
        f"}} > {CONFIG_PATH}.new",
        f"mv {CONFIG_PATH}.new {CONFIG_PATH}",
        f"if [ ! -x {AGENT_CTL} ] && command -v dnf > /dev/null; then",
        "  dnf install -y -q amazon-cloudwatch-agent || true",
        "fi",
        f"if [ -x {AGENT_CTL} ]; then",
        f"  {AGENT_CTL} -a append-config -m ec2 -c file:{CONFIG_PATH} -s",
        "else",
        "  echo 'cdk-restart-policy: no CloudWatch agent (install it in the AMI);"
        " logs stay on the host' >&2",
        "fi",
    ]
