"""SupervisorPrograms on a host: its own names beside a host's supervisor, program changes
without a supervisord restart, the unit's stop and open-files limits, file permissions."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from restart_policy import (
    PolicyError,
    Program,
    RestartPolicy,
    SupervisorInstall,
    SupervisorPrograms,
)
from restart_policy._host_files import min_fds
from restart_policy._user_data_script import extract_payloads
from tests.test_supervisor_programs import MONITOR, RECON, shellcheck, synth

MANY = Program(name="many", command="/srv/many.sh", numprocs=400)


def apply_sh(construct: SupervisorPrograms) -> str:
    (payload,) = extract_payloads(construct.script)
    return payload["apply.sh"]


def wrapper(construct: SupervisorPrograms) -> str:
    (payload,) = extract_payloads(construct.script)
    return payload["supervisorctl"]


# --- an existing supervisor is left alone ---------------------------------------------------


def test_unit_has_a_name_of_its_own() -> None:
    construct, _ = synth(programs=[RECON])
    script = apply_sh(construct)
    assert 'install -m 0644 "$rp_stage/supervisord.service" ' in script
    assert "/etc/systemd/system/restart-policy-supervisord.service" in script
    assert "systemctl enable restart-policy-supervisord.service" in script
    assert "systemctl restart restart-policy-supervisord.service" in script
    # Only 0.1.0's own unit, inside its guard (tests/test_supervisor_migration.py).
    takeover = "  systemctl disable --now supervisord.service\n"
    assert script.count(takeover) == 1
    assert not re.search(
        r"systemctl \S+ (--now )?supervisord?\.service", script.replace(takeover, "")
    )


def test_supervisord_log_socket_and_pidfile_are_its_own() -> None:
    conf = synth(programs=[RECON])[0].supervisord_conf
    assert "logfile=/var/log/supervisor/restart-policy-supervisord.log\n" in conf
    assert "file=/run/restart-policy-supervisor.sock\n" in conf
    assert "pidfile=/run/restart-policy-supervisord.pid\n" in conf


def test_wrapper_is_rp_supervisorctl_and_never_shadows_supervisorctl() -> None:
    construct, _ = synth(programs=[RECON])
    script = apply_sh(construct)
    assert 'install -m 0755 "$rp_stage/supervisorctl" /usr/local/bin/rp-supervisorctl' in script
    assert not re.search(r"install .* /usr/local/bin/supervisorctl\b", script)


def test_preinstalled_in_usr_local_bin_wrapper_calls_the_real_supervisorctl() -> None:
    install = SupervisorInstall.preinstalled(bin_dir="/usr/local/bin")
    text = wrapper(synth(programs=[RECON], install=install)[0])
    conf = "/etc/restart-policy/supervisord.conf"
    assert text.rstrip().endswith(f'exec /usr/local/bin/supervisorctl --configuration {conf} "$@"')
    assert "rp-supervisorctl" not in text.split("\n", 2)[2]  # it never calls itself


def test_wrapper_routes_hold_and_release_to_the_agent() -> None:
    text = wrapper(synth(programs=[RECON])[0])
    agent = (
        "/opt/restart-policy/supervisor/bin/python /etc/restart-policy/backoff_agent.py "
        "--config /etc/restart-policy/backoff.json "
        "--state /var/lib/restart-policy/backoff-state.json"
    )
    assert f'hold | release)\n  exec {agent} "$@"\n' in text
    # the agent hears of a stop before supervisorctl stops: a probe cannot slip in between
    ctl = "/opt/restart-policy/supervisor/bin/supervisorctl"
    assert f'stop)\n  {agent} "$@" || true\n  exec {ctl} ' in text


def test_wrapper_without_the_agent_is_plain_supervisorctl() -> None:
    text = wrapper(synth(programs=[RECON], restart_policy=RestartPolicy(backoff=None))[0])
    assert "backoff_agent" not in text and "hold" not in text


def test_wrapper_is_shellcheck_clean(tmp_path: object) -> None:
    result = shellcheck(wrapper(synth(programs=[RECON])[0]), tmp_path)  # type: ignore[arg-type]
    assert result.returncode == 0, result.stdout


# --- program changes restart only what changed ----------------------------------------------


def test_program_list_is_not_part_of_the_supervisord_restart_decision() -> None:
    script = apply_sh(synth(programs=[RECON, MONITOR])[0])
    restart_lines = [line for line in script.splitlines() if "rp_restart=1" in line]
    assert not any("backoff.json" in line or "programs" in line for line in restart_lines)
    assert 'cmp -s "$rp_stage/backoff.json" /etc/restart-policy/backoff.json || rp_settings=1' in (
        script
    )


def test_minfds_and_stop_timeout_changes_do_not_restart_supervisord() -> None:
    script = apply_sh(synth(programs=[RECON])[0])
    assert (
        'rp_same "$rp_stage/supervisord.conf" /etc/restart-policy/supervisord.conf '
        "'^minfds=' || rp_restart=1"
    ) in script
    assert "'^(TimeoutStopSec|LimitNOFILE)=' || rp_restart=1" in script


def test_program_changes_go_through_supervisorctl_update_then_sighup_to_the_agent() -> None:
    script = apply_sh(synth(programs=[RECON])[0])
    ctl = (
        "/opt/restart-policy/supervisor/bin/supervisorctl "
        "--configuration /etc/restart-policy/supervisord.conf"
    )
    update = script.index(f"  until {ctl} update; do\n")
    hup = script.index(f"    {ctl} signal HUP restart-policy-backoff")
    assert update < hup
    assert f'  if [ "$rp_agent" = 1 ]; then\n    {ctl} restart restart-policy-backoff\n' in script


@pytest.mark.parametrize(("failures", "status", "calls"), [(0, 0, 1), (2, 0, 3), (5, 1, 3)])
def test_an_update_that_fails_is_tried_three_times(
    tmp_path: Path, failures: int, status: int, calls: int
) -> None:
    # supervisorctl update fails (STILL_RUNNING) when the agent starts a program of a changed
    # group between update's stop and its removal; the apply script must not give up at once
    script = apply_sh(synth(programs=[RECON])[0])
    ctl = (
        "/opt/restart-policy/supervisor/bin/supervisorctl "
        "--configuration /etc/restart-policy/supervisord.conf"
    )
    lines = script.splitlines()
    first = lines.index("  rp_try=1")
    loop = lines[first : lines.index("  done", first) + 1]
    fake = tmp_path / "supervisorctl"
    fake.write_text(
        f'#!/bin/sh\necho x >> {tmp_path}/calls\n[ "$(wc -l < {tmp_path}/calls)" -gt {failures} ]\n'
    )
    fake.chmod(0o755)
    body = "\n".join(loop).replace(ctl, str(fake)).replace("sleep 2", "sleep 0")
    done = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{body}\n"], capture_output=True, text=True, check=False
    )
    assert done.returncode == status, done.stderr
    assert len((tmp_path / "calls").read_text().splitlines()) == calls


def test_a_running_supervisord_gets_a_bigger_open_files_limit_in_place() -> None:
    script = apply_sh(synth(programs=[MANY])[0])
    assert 'prlimit --pid "$rp_pid" --nofile=4096:' in script


# --- the systemd unit -------------------------------------------------------------------------


def test_unit_stops_every_program_at_once_within_the_slowest_stop_timeout() -> None:
    slow = Program(name="slow", command="/bin/slow", restart_policy=RestartPolicy(stop_timeout=600))
    unit = synth(programs=[RECON, slow, MONITOR])[0].systemd_unit
    assert (
        "ExecStop=-/opt/restart-policy/supervisor/bin/supervisorctl "
        "--configuration /etc/restart-policy/supervisord.conf stop all\n"
    ) in unit
    assert "TimeoutStopSec=630\n" in unit  # 600 s, the slowest, plus a 30 s margin


def test_unit_stop_timeout_covers_the_agent_when_programs_stop_fast() -> None:
    quick = RestartPolicy(stop_timeout=2)
    unit = synth(programs=[RECON], restart_policy=quick)[0].systemd_unit
    assert "TimeoutStopSec=40\n" in unit  # the agent's 10 s stop timeout, plus 30 s


def test_unit_kill_mode_leaves_no_orphans() -> None:
    unit = synth(programs=[RECON])[0].systemd_unit
    assert "KillMode=mixed\n" in unit
    assert "KillMode=process" not in unit


@pytest.mark.parametrize(
    ("processes", "expected"), [(0, 1024), (1, 1024), (120, 1024), (121, 2048), (390 * 2, 7168)]
)
def test_min_fds_grows_with_the_process_count_in_steps_of_1024(
    processes: int, expected: int
) -> None:
    assert min_fds(processes) == expected


def test_minfds_and_limit_nofile_are_sized_from_every_process() -> None:
    construct, _ = synth(programs=[MANY, RECON])  # 403 processes and the agent
    assert "minfds=4096\n" in construct.supervisord_conf
    assert "LimitNOFILE=4096:524288\n" in construct.systemd_unit


def test_small_hosts_keep_supervisords_default_of_1024() -> None:
    construct, _ = synth(programs=[RECON])
    assert "minfds=1024\n" in construct.supervisord_conf
    assert "LimitNOFILE=1024:524288\n" in construct.systemd_unit


# --- permissions ------------------------------------------------------------------------------


def test_program_files_are_root_only() -> None:
    script = apply_sh(synth(programs=[RECON])[0])
    assert "install -d -m 0700 /etc/restart-policy/programs.new" in script
    assert 'install -m 0600 "$rp_stage"/programs/*.conf /etc/restart-policy/programs.new/' in script


def test_log_folders_are_not_world_readable_and_belong_to_adm_by_default() -> None:
    construct, _ = synth(programs=[RECON])
    script = apply_sh(construct)
    assert "install -d -m 2750 -g adm /var/log/supervisor" in script
    assert "getent group adm > /dev/null || groupadd --system adm" in script
    assert "UMask=0027\n" in construct.systemd_unit


def test_programs_keep_the_usual_umask() -> None:
    construct, _ = synth(programs=[RECON])
    assert "umask=022\n" in construct.program_configs["recon"]


def test_log_reader_group_is_configurable() -> None:
    construct, _ = synth(programs=[RECON], log_reader_group="cwagent")
    assert "install -d -m 2750 -g cwagent /var/log/supervisor" in apply_sh(construct)


@pytest.mark.parametrize("group", ["Bad Group", "x;rm -rf /", "", 7])
def test_bad_log_reader_group_is_refused(group: object) -> None:
    with pytest.raises(PolicyError, match=r"log_reader_group=.*is not a Linux group name"):
        synth(programs=[RECON], log_reader_group=group)


def test_the_hosts_copy_of_the_agent_is_the_same_program() -> None:
    """Docstrings and type hints cut, one space per indentation level: the same syntax tree."""
    import ast

    from restart_policy._backoff_listener import agent_for_hosts, stripped_agent

    host_copy = agent_for_hosts()
    assert ast.dump(ast.parse(host_copy)) == ast.dump(stripped_agent())
    assert len(host_copy) < len(ast.unparse(stripped_agent()))  # the indentation is cut
