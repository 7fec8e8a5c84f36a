"""End to end: the reference stack's synthesized user data, run as root in a Debian root file
system, leaves supervisord running the programs with the policy's settings; a second run changes
nothing."""

from __future__ import annotations

import json
import os
import tempfile
import time
import xmlrpc.client
from pathlib import Path
from typing import Any

import pytest
from supervisor.xmlrpc import SupervisorTransport

from tests.e2e.rootfs import Chroot, chroot
from tests.user_data_text import user_data_text

pytestmark = pytest.mark.e2e

SCRIPTS = "/srv/bos/scripts/celery"
PROGRAMS = ["daemon_recon_client_funds_consumer", "daemon_transaction_monitoring_sending_request"]
CTL = "/usr/local/bin/supervisorctl"
LOG_GROUP = "SupervisorHosts-ProgramsLogs-AbC123"

# Prints the settings supervisor itself loads from the installed configuration.
READ_CONFIG = """
import json
import os
import tempfile
from supervisor.options import ServerOptions
options = ServerOptions()
options.realize(args=["-c", "/etc/restart-policy/supervisord.conf"])
print(json.dumps({
    p.name: {
        "command": p.command, "startsecs": p.startsecs, "startretries": p.startretries,
        "stopsignal": int(p.stopsignal), "stopwaitsecs": p.stopwaitsecs,
        "killasgroup": p.killasgroup, "autorestart": p.autorestart.__name__,
        "stdout_logfile": p.stdout_logfile, "stdout_logfile_maxbytes": p.stdout_logfile_maxbytes,
        "stdout_logfile_backups": p.stdout_logfile_backups, "stderr_logfile": p.stderr_logfile,
    }
    for group in options.process_group_configs for p in group.process_configs
    if group.name != "restart-policy-backoff"
}))
"""


def reference_user_data(templates: dict[str, dict[str, Any]]) -> str:
    resources = templates["SupervisorHosts"]["Resources"]
    (launch_template,) = (r for r in resources.values() if r["Type"] == "AWS::EC2::LaunchTemplate")
    # The log group's name is given by CloudFormation at deploy time.
    return user_data_text(
        launch_template["Properties"]["LaunchTemplateData"]["UserData"],
        refs={name: LOG_GROUP for name in resources if name.startswith("ProgramsLogs")},
    )


def statuses(host: Chroot) -> dict[str, tuple[str, int]]:
    """State and pid of every process, over the chroot's supervisord socket."""
    # A unix socket path may not exceed 107 bytes; pytest's temporary folders can.
    socket_path = host.path("/run/restart-policy-supervisor.sock")
    link = Path(tempfile.gettempdir()) / f"rp-e2e-{os.getpid()}.sock"
    if not link.is_symlink() or link.readlink() != socket_path:
        link.unlink(missing_ok=True)
        link.symlink_to(socket_path)
    transport = SupervisorTransport(None, None, f"unix://{link}")
    rpc: Any = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
    try:
        infos = rpc.supervisor.getAllProcessInfo()
    except OSError:
        return {}
    return {f"{i['group']}:{i['name']}": (i["statename"], i["pid"]) for i in infos}


def wait_spawned(host: Chroot, count: int, timeout: float = 60) -> dict[str, tuple[str, int]]:
    deadline = time.monotonic() + timeout
    found: dict[str, tuple[str, int]] = {}
    while time.monotonic() < deadline:
        found = statuses(host)
        alive = [n for n, (state, pid) in found.items() if state in ("STARTING", "RUNNING") and pid]
        if len(alive) == count:
            return found
        time.sleep(0.5)
    raise AssertionError(f"programs not up: {found}")


def test_reference_user_data_boots_supervisord_with_the_policy(
    example_templates: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    user_data = reference_user_data(example_templates)
    with chroot(tmp_path) as host:
        for name in PROGRAMS:
            host.write(f"{SCRIPTS}/{name}.sh", "#!/bin/sh\nexec sleep 100000\n", mode=0o755)
        host.write("/root/user-data.sh", user_data, mode=0o755)

        first = host.run("/bin/bash", "/root/user-data.sh", check=False)
        assert first.returncode == 0, first.stderr
        up = wait_spawned(host, 5)
        assert sorted(up) == [
            "daemon_recon_client_funds_consumer:daemon_recon_client_funds_consumer-0",
            "daemon_recon_client_funds_consumer:daemon_recon_client_funds_consumer-1",
            "daemon_recon_client_funds_consumer:daemon_recon_client_funds_consumer-2",
            "daemon_transaction_monitoring_sending_request:daemon_transaction_monitoring_sending_request-0",
            "restart-policy-backoff:restart-policy-backoff",
        ]

        python = "/opt/restart-policy/supervisor/bin/python"
        version = host.run(python, "-c", "import supervisor.options as o; print(o.VERSION)")
        assert version.stdout.strip() == "4.3.0"
        read = host.run(python, "-c", READ_CONFIG, check=False)
        assert read.returncode == 0, read.stderr
        loaded = json.loads(read.stdout)
        recon = loaded["daemon_recon_client_funds_consumer-1"]
        assert recon == {
            "command": f"{SCRIPTS}/daemon_recon_client_funds_consumer.sh",
            "startsecs": 120,
            "startretries": 5,
            "stopsignal": 2,
            "stopwaitsecs": 120,
            "killasgroup": True,
            "autorestart": "RestartUnconditionally",
            "stdout_logfile": "/var/log/supervisor/daemon_recon_client_funds_consumer-1.log",
            "stdout_logfile_maxbytes": 5 * 1024 * 1024,
            "stdout_logfile_backups": 10,
            "stderr_logfile": "/var/log/supervisor/daemon_recon_client_funds_consumer-1.err.log",
        }
        assert host.path("/etc/systemd/system/supervisord.service").exists()

        # The CloudWatch agent's configuration names every process's log files; Debian has no
        # agent package, so the user data says so and goes on.
        cloudwatch = json.loads(
            host.path("/opt/aws/amazon-cloudwatch-agent/etc/restart-policy.json").read_text()
        )
        entries = cloudwatch["logs"]["logs_collected"]["files"]["collect_list"]
        assert {entry["log_group_name"] for entry in entries} == {LOG_GROUP}
        streams = {entry["log_stream_name"]: entry["file_path"] for entry in entries}
        assert streams["{instance_id}/supervisord"] == "/var/log/supervisor/supervisord.log"
        assert streams["{instance_id}/daemon_recon_client_funds_consumer-2.err"] == (
            "/var/log/supervisor/daemon_recon_client_funds_consumer-2.err.log"
        )
        assert len(entries) == 2 + 4 * 2  # supervisord, the agent, stdout+stderr per process
        for path in streams.values():
            assert host.path(path).exists(), path
        assert "no CloudWatch agent" in first.stderr
        calls = host.path("/run/systemctl-standin/calls.log").read_text()
        assert "systemctl enable supervisord.service" in calls

        second = host.run("/bin/bash", "/root/user-data.sh", check=False)
        assert second.returncode == 0, second.stderr
        after = statuses(host)
        assert {name: pid for name, (_, pid) in after.items()} == {
            name: pid for name, (_, pid) in up.items()
        }  # same processes, same pids: nothing was restarted
        agent = "restart-policy-backoff:restart-policy-backoff"
        deadline = time.monotonic() + 10
        while statuses(host)[agent][0] != "RUNNING":  # the back-off agent stays up
            assert time.monotonic() < deadline, statuses(host)
            time.sleep(0.2)
        listed = host.run(CTL, "status", check=False).stdout  # the operator's wrapper works
        assert "daemon_transaction_monitoring_sending_request-0" in listed


def test_os_package_strategy_uses_debians_supervisor(tmp_path: Path) -> None:
    """Debian's own supervisor package (in the root file system) runs the programs instead."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk.assertions import Template

    from restart_policy import Program, SupervisorInstall, SupervisorPrograms

    stack = Stack(App(), "Debian")
    programs = SupervisorPrograms(
        stack,
        "Programs",
        programs=[Program(name="worker", command=f"{SCRIPTS}/worker.sh", numprocs=2)],
        install=SupervisorInstall.os_package(),
        monitoring=False,
    )
    ec2.LaunchTemplate(stack, "Hosts", user_data=programs.user_data)
    (launch_template,) = (
        Template.from_stack(stack).find_resources("AWS::EC2::LaunchTemplate").values()
    )
    user_data = user_data_text(launch_template["Properties"]["LaunchTemplateData"]["UserData"])
    with chroot(tmp_path) as host:
        host.write(f"{SCRIPTS}/worker.sh", "#!/bin/sh\nexec sleep 100000\n", mode=0o755)
        host.write("/root/user-data.sh", user_data, mode=0o755)
        result = host.run("/bin/bash", "/root/user-data.sh", check=False)
        assert result.returncode == 0, result.stderr
        up = wait_spawned(host, 3)
        assert sorted(up) == [
            "restart-policy-backoff:restart-policy-backoff",
            "worker:worker-0",
            "worker:worker-1",
        ]
        unit = host.path("/etc/systemd/system/supervisord.service").read_text()
        assert "ExecStart=/usr/bin/supervisord --nodaemon" in unit
        assert not host.path("/opt/restart-policy").exists()  # nothing from PyPI
        version = host.run("/usr/bin/supervisord", "--version").stdout.strip()
        assert version.startswith("4.2")  # Debian bookworm's package
