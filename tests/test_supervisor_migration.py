"""Hosts set up by 0.1.0 (unit supervisord.service, wrapper /usr/local/bin/supervisorctl): the
apply script takes them over only when the files are the library's own. The files judged here
are the ones 0.1.0 itself wrote (its rendered user data, tests/e2e/user_data_0_1_0.sh) and the
ones a host's own supervisor has; grep itself is the judge. tests/test_e2e_migration.py runs
the take-over on a Debian host."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from restart_policy import SupervisorInstall
from restart_policy._user_data_script import (
    V1_CTL,
    V1_CTL_LINE,
    V1_UNIT_LINE,
    V1_UNIT_PATH,
    extract_payloads,
)
from tests.test_supervisor_host import apply_sh
from tests.test_supervisor_programs import RECON, shellcheck, synth

V010_USER_DATA = Path(__file__).parent / "e2e" / "user_data_0_1_0.sh"

# 0.1.0's wrapper for its default install (a virtual environment from PyPI), as it rendered it.
V010_PIP_WRAPPER = (
    "#!/bin/sh\nexec /opt/restart-policy/supervisor/bin/supervisorctl"
    ' --configuration /etc/restart-policy/supervisord.conf "$@"\n'
)
# Debian bookworm's supervisor package.
DEBIAN_UNIT = """[Unit]
Description=Supervisor process control system for UNIX
Documentation=http://supervisord.org
After=network.target

[Service]
ExecStart=/usr/bin/supervisord -n -c /etc/supervisor/supervisord.conf
ExecStop=/usr/bin/supervisorctl $OPTIONS shutdown
ExecReload=/usr/bin/supervisorctl -c /etc/supervisor/supervisord.conf $OPTIONS reload
KillMode=process
Restart=on-failure
RestartSec=50s

[Install]
WantedBy=multi-user.target
"""
DEBIAN_CTL = """#!/usr/bin/python3
# EASY-INSTALL-ENTRY-SCRIPT: 'supervisor==4.2.5','console_scripts','supervisorctl'
import re
import sys
"""
# What people write themselves.
OWN_UNIT = """[Unit]
Description=supervisord
[Service]
ExecStart=/usr/local/bin/supervisord --nodaemon --configuration /etc/supervisord.conf
KillMode=process
[Install]
WantedBy=multi-user.target
"""
OWN_CTLS = [
    '#!/bin/sh\nexec /usr/bin/supervisorctl "$@"\n',
    '#!/bin/sh\nexec /usr/bin/supervisorctl --configuration /etc/supervisord.conf "$@"\n',
    # pip's console script, where `pip install supervisor` puts it as root
    "#!/usr/bin/python3\nimport sys\nfrom supervisor.supervisorctl import main\nsys.exit(main())\n",
]


def v010_payload() -> dict[str, str]:
    (payload,) = extract_payloads(V010_USER_DATA.read_text())
    return payload


def is_v010_unit(text: str, tmp_path: Path) -> bool:
    path = tmp_path / "unit"
    path.write_text(text)
    return subprocess.run(["grep", "-qsxF", V1_UNIT_LINE, str(path)]).returncode == 0


def is_v010_ctl(text: str, tmp_path: Path) -> bool:
    path = tmp_path / "ctl"
    path.write_text(text)
    return subprocess.run(["grep", "-qsx", V1_CTL_LINE, str(path)]).returncode == 0


def test_the_fixture_is_0_1_0s_own_layout() -> None:
    payload = v010_payload()
    assert "KillMode=process\n" in payload["supervisord.service"]
    assert "ExecReload=/usr/local/bin/supervisorctl update\n" in payload["supervisord.service"]
    assert (
        'install -m 0755 "$rp_stage/supervisorctl" /usr/local/bin/supervisorctl\n'
        in (payload["apply.sh"])
    )
    assert "/etc/systemd/system/supervisord.service" in payload["apply.sh"]


def test_0_1_0s_unit_is_recognised(tmp_path: Path) -> None:
    assert is_v010_unit(v010_payload()["supervisord.service"], tmp_path)


@pytest.mark.parametrize("text", [v010_payload()["supervisorctl"], V010_PIP_WRAPPER])
def test_0_1_0s_wrapper_is_recognised_for_any_supervisor_folder(text: str, tmp_path: Path) -> None:
    assert is_v010_ctl(text, tmp_path)


@pytest.mark.parametrize("text", [DEBIAN_UNIT, OWN_UNIT], ids=["debian", "own"])
def test_a_hosts_own_unit_is_not_taken_for_0_1_0s(text: str, tmp_path: Path) -> None:
    assert not is_v010_unit(text, tmp_path)


@pytest.mark.parametrize("text", [DEBIAN_CTL, *OWN_CTLS], ids=["debian", "plain", "conf", "pip"])
def test_a_hosts_own_supervisorctl_is_not_taken_for_0_1_0s(text: str, tmp_path: Path) -> None:
    assert not is_v010_ctl(text, tmp_path)


def test_apply_takes_over_0_1_0s_unit_before_starting_its_own() -> None:
    script = apply_sh(synth(programs=[RECON])[0])
    ctl = "/opt/restart-policy/supervisor/bin/supervisorctl"
    block = (
        f"grep -qsx '{V1_CTL_LINE}' {V1_CTL} && rm {V1_CTL}\n"
        f"if grep -qsxF '{V1_UNIT_LINE}' {V1_UNIT_PATH}; then\n"
        f"  {ctl} --configuration /etc/restart-policy/supervisord.conf stop all"
        " > /dev/null 2>&1 || true\n"
        "  systemctl disable --now supervisord.service\n"
        f"  rm {V1_UNIT_PATH}\n"
        "  rp_restart=1\n"
        "fi\n"
    )
    assert block in script
    # 0.1.0's names appear in that block only; its config, programs and agent state are this
    # release's too and stay.
    v010_unit = r"(?<![-\w/])supervisord\.service|/etc/systemd/system/supervisord\.service"
    assert len(re.findall(v010_unit, script)) == 3
    assert len(re.findall(r"/usr/local/bin/supervisorctl\b", script)) == 2
    assert not re.search(r"^\s*rm .*/var/lib/restart-policy", script, re.MULTILINE)
    assert script.index(block) < script.index("systemctl restart restart-policy-supervisord")


def test_apply_stops_0_1_0s_programs_with_the_installed_supervisorctl() -> None:
    install = SupervisorInstall.os_package()
    script = apply_sh(synth(programs=[RECON], install=install)[0])
    assert (
        "  /usr/bin/supervisorctl --configuration /etc/restart-policy/supervisord.conf stop all"
        in script
    )


def test_apply_with_the_take_over_is_shellcheck_clean(tmp_path: Path) -> None:
    result = shellcheck(apply_sh(synth(programs=[RECON])[0]), tmp_path)
    assert result.returncode == 0, result.stdout
