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

from restart_policy._backoff_listener import agent_for_hosts
from tests.e2e.assets import agent_object, host_user_data, serve_assets
from tests.e2e.rootfs import Chroot, chroot

pytestmark = pytest.mark.e2e

SCRIPTS = "/srv/bos/scripts/celery"
PROGRAMS = ["daemon_recon_client_funds_consumer", "daemon_transaction_monitoring_sending_request"]
CTL = "/usr/local/bin/rp-supervisorctl"
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
        "killasgroup": p.killasgroup,
        "autorestart": getattr(p.autorestart, "__name__", p.autorestart),
        "stdout_logfile": p.stdout_logfile, "stdout_logfile_maxbytes": p.stdout_logfile_maxbytes,
        "stdout_logfile_backups": p.stdout_logfile_backups, "stderr_logfile": p.stderr_logfile,
    }
    for group in options.process_group_configs for p in group.process_configs
    if group.name != "restart-policy-backoff"
}))
"""


def reference_user_data(templates: dict[str, dict[str, Any]]) -> str:
    return launch_template_user_data(templates["SupervisorHosts"])


def reference_assembly(out: Path) -> tuple[str, Path]:
    """The reference stack synthesized on its own: its user data and its cloud assembly folder
    (where the back-off agent's asset file is)."""
    from aws_cdk import App

    from stacks.supervisor_hosts_stack import SupervisorHostsStack

    app = App(outdir=str(out))
    SupervisorHostsStack(app, "SupervisorHosts")
    assembly = app.synth()
    template = assembly.get_stack_by_name("SupervisorHosts").template
    return launch_template_user_data(template), Path(assembly.directory)


def launch_template_user_data(template: dict[str, Any]) -> str:
    resources = template["Resources"]
    (launch_template,) = (r for r in resources.values() if r["Type"] == "AWS::EC2::LaunchTemplate")
    # The log group's name is given by CloudFormation at deploy time.
    return host_user_data(
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
    alone, assembly = reference_assembly(tmp_path / "cdk.out")
    assert alone == user_data
    with chroot(tmp_path) as host:
        served = serve_assets(host, user_data, assembly)
        assert served.read_text() == agent_for_hosts()
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

        # The agent came from the asset, through the AWS CLI with the stack's region.
        assert host.path("/etc/restart-policy/backoff_agent.py").read_text() == agent_for_hosts()
        (download,) = host.path("/tmp/aws-calls.log").read_text().splitlines()
        assert download.startswith("s3 cp --only-show-errors s3://cdk-hnb659fds-assets-")
        assert download.endswith("/backoff_agent.py --region eu-west-1")
        assert "agent-download-failed" not in first.stderr

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
            "startretries": 0,  # the back-off agent restarts it, not supervisor
            "stopsignal": 2,
            "stopwaitsecs": 120,
            "killasgroup": True,
            "autorestart": False,
            "stdout_logfile": "/var/log/supervisor/daemon_recon_client_funds_consumer-1.log",
            "stdout_logfile_maxbytes": 5 * 1024 * 1024,
            "stdout_logfile_backups": 10,
            "stderr_logfile": "/var/log/supervisor/daemon_recon_client_funds_consumer-1.err.log",
        }
        assert host.path("/etc/systemd/system/restart-policy-supervisord.service").exists()

        # The CloudWatch agent's configuration names every process's log files; Debian has no
        # agent package, so the user data says so and goes on.
        cloudwatch = json.loads(
            host.path("/opt/aws/amazon-cloudwatch-agent/etc/restart-policy.json").read_text()
        )
        entries = cloudwatch["logs"]["logs_collected"]["files"]["collect_list"]
        assert {entry["log_group_name"] for entry in entries} == {LOG_GROUP}
        streams = {entry["log_stream_name"]: entry["file_path"] for entry in entries}
        assert streams["{instance_id}/supervisord"] == (
            "/var/log/supervisor/restart-policy-supervisord.log"
        )
        assert streams["{instance_id}/daemon_recon_client_funds_consumer-2.err"] == (
            "/var/log/supervisor/daemon_recon_client_funds_consumer-2.err.log"
        )
        assert len(entries) == 2 + 4 * 2  # supervisord, the agent, stdout+stderr per process
        for path in streams.values():
            assert host.path(path).exists(), path
        assert "no CloudWatch agent" in first.stderr
        calls = host.path("/run/systemctl-standin/calls.log").read_text()
        assert "systemctl enable restart-policy-supervisord.service" in calls

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


def test_os_package_strategy_runs_beside_the_hosts_own_supervisor(tmp_path: Path) -> None:
    """Debian's own supervisor package (in the root file system) runs the programs; the host's
    supervisord, already running a program of its own, is neither stopped nor taken over."""
    from restart_policy import Program, SupervisorInstall

    user_data, assembly = synth_assembly(
        [Program(name="worker", command=f"{SCRIPTS}/worker.sh", numprocs=2)],
        install=SupervisorInstall.os_package(),
    )
    with chroot(tmp_path) as host:
        host.write(f"{SCRIPTS}/worker.sh", "#!/bin/sh\nexec sleep 100000\n", mode=0o755)
        host.write(
            "/etc/supervisor/conf.d/hostapp.conf", "[program:hostapp]\ncommand=sleep 99999\n"
        )
        host.run(DEBIAN_SUPERVISOR, "-c", "/etc/supervisor/supervisord.conf")

        def host_status() -> str:
            """The host supervisor's programs with state and pid (not the uptime)."""
            out = host.run("/usr/bin/supervisorctl", "status", check=False, timeout=30).stdout
            return "\n".join(line.split(", uptime")[0] for line in out.splitlines())

        wait_for(lambda: "RUNNING" in host_status(), f"host's program not up: {host_status()}")
        hosts_before = host_status()
        hosts_daemon = int(host.path("/run/supervisord.pid").read_text())

        serve_assets(host, user_data, assembly)
        apply(host, user_data)
        up = wait_spawned(host, 3)
        assert sorted(up) == [
            "restart-policy-backoff:restart-policy-backoff",
            "worker:worker-0",
            "worker:worker-1",
        ]
        unit = host.path("/etc/systemd/system/restart-policy-supervisord.service").read_text()
        assert "ExecStart=/usr/bin/supervisord --nodaemon" in unit
        assert not host.path("/opt/restart-policy").exists()  # nothing from PyPI
        version = host.run("/usr/bin/supervisord", "--version").stdout.strip()
        assert version.startswith("4.2")  # Debian bookworm's package

        assert host_status() == hosts_before  # same program, same pid, still running
        assert "hostapp" in hosts_before and "worker" not in hosts_before
        assert int(host.path("/run/supervisord.pid").read_text()) == hosts_daemon
        assert os.path.exists(f"/proc/{hosts_daemon}")
        hosts_log = host.path("/var/log/supervisor/supervisord.log").read_text()
        assert "worker" not in hosts_log  # each supervisord writes a log of its own
        ours = host.path("/var/log/supervisor/restart-policy-supervisord.log").read_text()
        assert "hostapp" not in ours and "worker-0" in ours


# --- the host around the programs (Debian's supervisor from the root file system, no network) ---

DEBIAN_SUPERVISOR = "/usr/bin/supervisord"


def synth_user_data(programs: list[Any], **props: Any) -> str:
    """The user data of a launch template for ``programs``, without monitoring."""
    return synth_assembly(programs, **props)[0]


def synth_assembly(programs: list[Any], **props: Any) -> tuple[str, Path]:
    """The user data of a launch template for ``programs``, without monitoring, and the cloud
    assembly folder holding the back-off agent's asset."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_ec2 as ec2

    from restart_policy import SupervisorPrograms

    app = App()
    stack = Stack(app, "Hosts")
    construct = SupervisorPrograms(stack, "Programs", programs=programs, monitoring=False, **props)
    ec2.LaunchTemplate(stack, "Template", user_data=construct.user_data)
    assembly = app.synth()
    return launch_template_user_data(assembly.get_stack_by_name("Hosts").template), Path(
        assembly.directory
    )


def apply_served(host: Chroot, programs: list[Any], **props: Any) -> str:
    """Synthesizes, serves the agent's asset to the host's stand-in AWS CLI, runs the user data."""
    user_data, assembly = synth_assembly(programs, **props)
    serve_assets(host, user_data, assembly)
    apply(host, user_data)
    return user_data


def local_bin_supervisor(host: Chroot) -> Any:
    """supervisor baked into /usr/local/bin (links to Debian's), as `preinstalled` expects."""
    from restart_policy import SupervisorInstall

    for name in ("supervisord", "supervisorctl"):
        host.path(f"/usr/local/bin/{name}").symlink_to(f"/usr/bin/{name}")
    return SupervisorInstall.preinstalled(bin_dir="/usr/local/bin")


def apply(host: Chroot, user_data: str) -> None:
    host.write("/root/user-data.sh", user_data, mode=0o755)
    result = host.run("/bin/bash", "/root/user-data.sh", check=False)
    assert result.returncode == 0, result.stderr


def supervisord_pid(host: Chroot) -> int:
    return int(host.path("/run/restart-policy-supervisord.pid").read_text())


def wait_for(condition: Any, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def test_program_changes_restart_only_the_changed_programs(tmp_path: Path) -> None:
    """Add one program, remove one, change one: the others, the agent and supervisord keep
    their pids; the agent rereads its settings on SIGHUP."""
    from restart_policy import Program

    def programs(version: int) -> list[Program]:
        run = f"{SCRIPTS}/run.sh"
        keep = Program(name="keep", command=run)
        changed = Program(name="changed", command=run, environment={"VERSION": str(version)})
        extra = (
            Program(name="gone", command=run) if version == 1 else Program(name="new", command=run)
        )
        return [keep, changed, extra]

    agent = "restart-policy-backoff:restart-policy-backoff"
    with chroot(tmp_path) as host:
        host.write(f"{SCRIPTS}/run.sh", "#!/bin/sh\nexec sleep 100000\n", mode=0o755)
        install = local_bin_supervisor(host)
        apply_served(host, programs(1), install=install)
        before = wait_spawned(host, 4)
        assert set(before) == {"changed:changed-0", agent, "gone:gone-0", "keep:keep-0"}
        daemon = supervisord_pid(host)

        apply_served(host, programs(2), install=install)

        def settled() -> bool:
            now = statuses(host)
            return set(now) == {"changed:changed-0", "keep:keep-0", "new:new-0", agent} and all(
                pid for _, pid in now.values()
            )

        wait_for(settled, f"programs not applied: {statuses(host)}")
        after = statuses(host)
        assert after["keep:keep-0"][1] == before["keep:keep-0"][1]
        assert after[agent][1] == before[agent][1]
        assert after["changed:changed-0"][1] != before["changed:changed-0"][1]
        assert supervisord_pid(host) == daemon
        calls = host.path("/run/systemctl-standin/calls.log").read_text()
        assert calls.count("systemctl restart") == 1  # the first run's start only
        agent_log = host.path("/var/log/supervisor/restart-policy-backoff.log")
        wait_for(lambda: "settings-reloaded" in agent_log.read_text(), agent_log.read_text())


def test_wrapper_and_file_modes_on_a_host(tmp_path: Path) -> None:
    """rp-supervisorctl over a supervisor in /usr/local/bin answers (no loop) and routes hold
    and release to the agent; program files and logs are not world-readable."""
    from restart_policy import Program

    with chroot(tmp_path) as host:
        host.write(f"{SCRIPTS}/run.sh", "#!/bin/sh\nexec sleep 100000\n", mode=0o755)
        install = local_bin_supervisor(host)
        program = Program(name="worker", command=f"{SCRIPTS}/run.sh", environment={"TOKEN": "x"})
        apply_served(host, [program], install=install)
        wait_spawned(host, 2)
        listed = host.run(CTL, "status", check=False, timeout=30)
        assert "worker:worker-0" in listed.stdout, listed
        assert host.run(CTL, "hold", "worker", check=False, timeout=30).returncode == 0
        assert host.run(CTL, "release", "worker", check=False, timeout=30).returncode == 0
        unknown = host.run(CTL, "hold", "nosuch", check=False, timeout=30)
        assert unknown.returncode == 2, unknown

        def mode(inside: str) -> int:
            return host.path(inside).stat().st_mode & 0o7777

        assert mode("/etc/restart-policy/programs/worker.conf") == 0o600
        assert mode("/etc/restart-policy/programs") == 0o700
        assert mode("/var/log/supervisor") == 0o2750
        log = "/var/log/supervisor/restart-policy-supervisord.log"
        assert mode(log) == 0o640
        assert mode("/var/log/supervisor/worker-0.log") == 0o640
        group = host.run("stat", "-c", "%G", log).stdout.strip()
        assert group == "adm"
        umask = host.run("grep", "Umask", f"/proc/{statuses(host)['worker:worker-0'][1]}/status")
        assert umask.stdout.split() == ["Umask:", "0022"]  # the program keeps the usual mask


def test_stopping_supervisord_stops_every_program_at_once_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    """10 programs that ignore their stop signal, each killed after its 5 s stop timeout: one
    after another they would take 50 s, past the unit's 40 s TimeoutStopSec; the unit's stop
    takes them down together and nothing is left for KillMode to kill."""
    from restart_policy import Program, RestartPolicy

    stubborn = "#!/bin/sh\ntrap '' TERM INT\nwhile :; do sleep 1; done\n"
    slow = RestartPolicy(stop_timeout=5)
    programs = [Program(name=f"slow{n}", command=f"{SCRIPTS}/stubborn.sh") for n in range(10)]
    with chroot(tmp_path) as host:
        host.write(f"{SCRIPTS}/stubborn.sh", stubborn, mode=0o755)
        install = local_bin_supervisor(host)
        apply_served(host, programs, install=install, restart_policy=slow)
        first = wait_spawned(host, 11)
        unit = host.path("/etc/systemd/system/restart-policy-supervisord.service").read_text()
        assert "TimeoutStopSec=40\n" in unit and "KillMode=mixed\n" in unit

        started = time.monotonic()
        host.run("systemctl", "restart", "restart-policy-supervisord.service", timeout=120)
        took = time.monotonic() - started
        leftovers = host.path("/run/systemctl-standin/restart-policy-supervisord.service.leftovers")
        assert leftovers.read_text().split() == ["0"]  # nothing left for KillMode to kill
        assert took < 40, took  # all at once: about 5 s; one after another: 50 s or more
        second = wait_spawned(host, 11)
        assert not set(pid for _, pid in first.values()) & set(pid for _, pid in second.values())

        # Every stubborn shell alive is one of the new supervisord's: no orphans, no duplicates.
        def shells() -> list[int]:
            parents: dict[int, int] = {}
            for entry in Path("/proc").iterdir():
                try:
                    if b"stubborn.sh" in (entry / "cmdline").read_bytes():
                        stat = (entry / "stat").read_text()
                        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):  # not a process, or gone
                    continue
            # A shell's child between its fork and its exec of `sleep 1` still shows the
            # script's command line: a loaded machine makes that moment long enough to count.
            return sorted(pid for pid, parent in parents.items() if parent not in parents)

        wait_for(lambda: len(shells()) >= 10, f"shells: {shells()}")
        time.sleep(2)
        assert len(shells()) == 10, shells()


# What the stand-in AWS CLI (tests/e2e/aws, which logs its arguments) answers besides
# `s3 cp`: get-parameter and get-secret-value for the ARNs it knows, in the CLI's text output.
FAKE_AWS = """#!/bin/sh
case "$*" in
*"ssm get-parameter --with-decryption --name arn:aws:ssm:eu-west-1:123456789012:parameter/db"*)
  echo 's3cr3t pass' ;;
*"secretsmanager get-secret-value --secret-id arn:aws:secretsmanager:eu-west-1:"*)
  echo '{"username": "app", "token": "t0k"}' ;;
*) echo "unexpected: $*" >&2; exit 254 ;;
esac
"""


def test_secrets_are_fetched_at_start_and_never_written_on_the_host(tmp_path: Path) -> None:
    """The wrapper asks the AWS CLI for each secret (region from the ARN), exports it to the
    program only; the values are in no file the user data or supervisor wrote."""
    from restart_policy import Program
    from restart_policy.program import SecretField

    class Parameter:  # the attributes of an ssm.IStringParameter
        parameter_name = "/db"
        parameter_arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/db"

    class Secret:  # the attribute of a secretsmanager.ISecret
        secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-AbCdEf"

    program = Program(
        name="app",
        command=f"{SCRIPTS}/env.sh",
        user="nobody",
        secrets={"DB_PASSWORD": Parameter(), "API_USER": SecretField(Secret(), "username")},
    )
    env_script = "#!/bin/sh\nenv > /tmp/app-env.txt\nexec sleep 100000\n"
    with chroot(tmp_path) as host:
        host.write(f"{SCRIPTS}/env.sh", env_script, mode=0o755)
        host.write("/usr/local/lib/fake-aws/other", FAKE_AWS, mode=0o755)
        host.path("/tmp").chmod(0o1777)
        install = local_bin_supervisor(host)
        user_data, assembly = synth_assembly([program], install=install)
        assert "s3cr3t" not in user_data
        serve_assets(host, user_data, assembly)
        apply(host, user_data)
        wait_spawned(host, 2)
        env_file = host.path("/tmp/app-env.txt")
        wait_for(env_file.exists, "the program did not start")
        environment = dict(
            line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line
        )
        assert environment["DB_PASSWORD"] == "s3cr3t pass"
        assert environment["API_USER"] == "app"
        calls = host.path("/tmp/aws-calls.log").read_text()
        assert "--region eu-west-1 ssm get-parameter" in calls
        written = host.run(
            "grep", "-rl", "s3cr3t", "/etc/restart-policy", "/var/log/supervisor", check=False
        )
        assert written.stdout == "", written.stdout


def test_a_failed_agent_download_leaves_the_programs_running_and_says_so(tmp_path: Path) -> None:
    """Nothing served (no grant, no AWS CLI, no network): the user data still succeeds,
    supervisord runs the programs without the agent, and the failure is in the user data's
    output and in the agent's log as a line the ``backoff`` alarm counts. Served the next time,
    the agent starts and the programs keep their pids."""
    from restart_policy import Program

    program = Program(name="worker", command=f"{SCRIPTS}/run.sh", numprocs=2)
    user_data, assembly = synth_assembly([program])
    agent = "restart-policy-backoff:restart-policy-backoff"
    with chroot(tmp_path) as host:
        host.write(f"{SCRIPTS}/run.sh", "#!/bin/sh\nexec sleep 100000\n", mode=0o755)
        host.write("/root/user-data.sh", user_data, mode=0o755)
        first = host.run("/bin/bash", "/root/user-data.sh", check=False)
        assert first.returncode == 0, first.stderr
        assert "ERROR agent-download-failed: could not download the back-off agent" in first.stderr
        assert "404" in first.stderr  # the CLI's own error, in the same log
        assert not host.path("/etc/restart-policy/backoff_agent.py").exists()
        workers = ["worker:worker-0", "worker:worker-1"]

        def workers_up() -> bool:  # started (RUNNING only after the 120 s start window)
            now = statuses(host)
            return all(
                now.get(name, ("", 0))[0] in ("STARTING", "RUNNING") and now[name][1]
                for name in workers
            )

        wait_for(workers_up, "programs not up without the agent")
        assert statuses(host)[agent][0] != "RUNNING"  # the listener alone cannot start
        log = host.path("/var/log/supervisor/restart-policy-backoff.log").read_text()
        (line,) = [json.loads(entry) for entry in log.splitlines() if "download" in entry]
        assert line["agent"] == "restart-policy-backoff" and line["decision"] == "give-up"
        assert line["reason"] == "agent-download-failed"
        pids = {name: statuses(host)[name][1] for name in workers}

        served = serve_assets(host, user_data, assembly)
        apply(host, user_data)
        wait_for(lambda: statuses(host)[agent][0] == "RUNNING", "the agent did not start")
        assert {name: statuses(host)[name][1] for name in workers} == pids

        # Failing again later: the installed agent keeps running, untouched.
        agent_pid = statuses(host)[agent][1]
        bucket_and_key = agent_object(user_data)
        host.path(f"/srv/fake-s3/{bucket_and_key[0]}/{bucket_and_key[1]}").unlink()
        again = host.run("/bin/bash", "/root/user-data.sh", check=False)
        assert again.returncode == 0, again.stderr
        assert "agent-download-failed" in again.stderr
        assert statuses(host)[agent] == ("RUNNING", agent_pid)
        installed = host.path("/etc/restart-policy/backoff_agent.py").read_text()
        assert installed == served.read_text()
        log = host.path("/var/log/supervisor/restart-policy-backoff.log").read_text()
        assert log.count('"reason": "agent-download-failed"') == 2
