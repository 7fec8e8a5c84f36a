"""Supervisor sections read the way supervisor reads them, checked against supervisor's own
parser (``supervisor.options``) as the oracle; configs written by here-documents, echo, printf,
tee and CloudFormationInit; the start window and stop timeout rules."""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import CfnParameter, Stack
from aws_cdk import aws_ec2 as ec2
from hypothesis import given, settings
from hypothesis import strategies as st
from supervisor import datatypes
from supervisor.options import ServerOptions, UnhosedConfigParser

from restart_policy import RestartPolicy
from restart_policy._rules._model import Judged, ProcessSection
from restart_policy._rules._process import NotJudged, setting
from restart_policy._rules._shell import command_writes, shell_texts
from restart_policy._rules._supervisor_reader import CONVERTERS, read_config
from tests.test_checks import check, check_messages, rules

# --- the oracle: supervisor's own parser -----------------------------------------------------


def supervisor_reads(text: str) -> dict[str, dict[str, Any] | str]:
    """Per process section: the judged settings as supervisor converts them, or its error."""
    parser = UnhosedConfigParser()
    parser.read_string(text)
    options = ServerOptions()
    options.configfile = "/etc/supervisor/conf.d/test.conf"
    options.here = "/etc/supervisor/conf.d"
    read: dict[str, dict[str, Any] | str] = {}
    for section in parser.sections():
        kind, _, name = section.partition(":")
        if kind not in ("program", "fcgi-program", "eventlistener"):
            continue
        try:
            config = options.processes_from_section(parser, section, name)[0]
        except ValueError as error:
            read[section] = f"error: {error}"
            continue
        read[section] = {key: _plain(getattr(config, key)) for key in CONVERTERS}
    return read


def _plain(value: object) -> object:
    if value is datatypes.RestartUnconditionally:
        return True
    if value is datatypes.RestartWhenExitUnexpected:
        return "unexpected"
    return value


def we_read(text: str) -> dict[str, dict[str, Any] | str]:
    """The same, as the checks read it; a value they do not judge is reported as unreadable."""
    read: dict[str, dict[str, Any] | str] = {}
    for header, values in read_config(text).sections:
        section = ProcessSection("Id", "where", header, values, Judged(120, 5, 120))
        try:
            read[header] = {key: setting(section, key) for key in CONVERTERS}
        except NotJudged as error:
            read[header] = f"unreadable: {error.finding.message}"
    return read


def agrees(text: str) -> None:
    ours, theirs = we_read(text), supervisor_reads(text)
    assert set(ours) == set(theirs), (ours, theirs)
    for header, value in theirs.items():
        if isinstance(value, str):  # supervisor refuses it: the checks must not judge it
            mine = ours[header]
            assert isinstance(mine, str) and mine.startswith("unreadable"), (header, value)
        elif isinstance(ours[header], str):  # only an expansion may be left to the host
            assert "%(" in text, (header, ours[header])
        else:
            assert ours[header] == value, header


CORPUS = [
    "[program:a]\ncommand=/bin/a\n",
    "[program:a] ; the worker\ncommand=/bin/a\nautorestart=yes\nstartsecs=120\n",
    "[program:a]\ncommand=/bin/a\nautorestart=On ; always\nstartretries = 5\n",
    "[program:a]\ncommand=/bin/a\n  --verbose\n  --queue=q\nautorestart=1\nstopwaitsecs: 60\n",
    "[program:a]\ncommand=/bin/a\nautorestart=FALSE\nredirect_stderr=yes\n",
    "[program:a]\ncommand=/bin/a\nstdout_logfile_maxbytes=5mb\nstdout_logfile_backups=0\n",
    "[program:a]\ncommand=/bin/a\nstderr_logfile_maxbytes=1GB\nstartsecs=%%5\n",
    "[program:a]\ncommand=/bin/a\nstartsecs=%(ENV_START)s\n",
    "[program:a]\ncommand=/bin/a\nautorestart=sometimes\n",
    "[program:a]\ncommand=/bin/a\nstartsecs=1 # inline\nstartsecs=30\n",
    "[DEFAULT]\nstartsecs=60\n[program:a]\ncommand=/bin/a\n",
    "[supervisord]\nlogfile=/tmp/x\n[fcgi-program:f]\ncommand=/bin/f\nsocket=unix:///tmp/f\n"
    "autorestart=true\n[eventlistener:e]\ncommand=/bin/e\nevents=TICK_5\nstartsecs=0\n",
    "[program:a]\ncommand=/bin/a\nstartsecs=ten\n",
    "[program:a]\ncommand=/bin/a\nstopwaitsecs=  300  \n",
    "; comment\n# another\n[program:a]\ncommand=/bin/a\n\n[group:g]\nprograms=a\n",
]


@pytest.mark.parametrize("text", CORPUS)
def test_hand_written_configs_read_as_supervisor_reads_them(text: str) -> None:
    agrees(text)


WORDS = ["yes", "Yes", "on", "ON", "1", "true", "True", "no", "off", "0", "false", "unexpected"]
WORDS += ["5MB", "5mb", "10kb", "1GB", "0", "120", " 7 ", "-1", "1_0", "0x10", "abc", "%%", "5%%"]


@settings(max_examples=150, deadline=None)
@given(
    key=st.sampled_from(sorted(CONVERTERS)),
    value=st.sampled_from(WORDS) | st.integers(-5, 10**6).map(str),
    delimiter=st.sampled_from(["=", " = ", ":", " : "]),
    comment=st.sampled_from(["", " ; note", " # note", ";not-a-comment"]),
)
def test_every_judged_setting_converts_as_supervisor_converts_it(
    key: str, value: str, delimiter: str, comment: str
) -> None:
    agrees(f"[program:a]\ncommand=/bin/a\n{key}{delimiter}{value}{comment}\n")


# --- hand-written configs in user data ------------------------------------------------------

GOOD = """[program:worker]
command=/srv/worker.sh
autorestart=true
startsecs=120
startretries=5
stopwaitsecs=60"""


def host(script: str) -> Callable[[Stack], None]:
    def build(stack: Stack) -> None:
        user_data = ec2.UserData.for_linux()
        user_data.add_commands(script)
        ec2.LaunchTemplate(stack, "Hosts", user_data=user_data)

    return build


def heredoc(section: str) -> Callable[[Stack], None]:
    return host(f"cat > /etc/supervisor/conf.d/w.conf <<'EOF'\n{section}\nEOF")


@pytest.mark.parametrize(
    "change",
    [
        ("autorestart=true", "autorestart=yes"),
        ("autorestart=true", "autorestart=On"),
        ("autorestart=true", "autorestart=1"),
        ("command=/srv/worker.sh", "command=/srv/worker.sh\n  --queue orders"),
        ("[program:worker]", "[program:worker] ; the orders worker"),
        ("stopwaitsecs=60", "stopwaitsecs : 120"),
    ],
    ids=["yes", "On", "1", "continuation", "header-comment", "colon"],
)
def test_section_supervisor_accepts_passes(change: tuple[str, str]) -> None:
    assert check(heredoc(GOOD.replace(*change))) == (True, [])


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ([("startsecs=120", "startsecs=1")], "RP-SUP-STARTSECS"),
        ([("stopwaitsecs=60", "stopwaitsecs=300")], "RP-SUP-STOPWAIT"),
        ([("stopwaitsecs=60", "stopwaitsecs=0")], "RP-SUP-STOPWAIT"),
        ([("autorestart=true", "autorestart=off")], "RP-SUP-AUTORESTART"),
        (
            [
                ("[program:worker]", "[fcgi-program:worker]\nsocket=unix:///tmp/w"),
                ("startsecs=120", "startsecs=0"),
            ],
            "RP-SUP-STARTSECS",
        ),
        (
            [
                ("[program:worker]", "[eventlistener:worker]\nevents=TICK_5"),
                ("startsecs=120", "startsecs=0"),
            ],
            "RP-SUP-STARTSECS",
        ),
    ],
    ids=["startsecs-1", "stopwait-300", "stopwait-0", "autorestart-off", "fcgi", "listener"],
)
def test_section_breaking_the_policy_fails(changes: list[tuple[str, str]], rule: str) -> None:
    section = GOOD
    for change in changes:
        section = section.replace(*change)
    passed, findings = check(heredoc(section))
    assert not passed and findings == [(rule, "Test/Hosts/Resource", "error")]


def test_start_window_and_stop_timeout_come_from_the_policy() -> None:
    policy = RestartPolicy(start_window=60, stop_timeout=30)
    section = GOOD.replace("startsecs=120", "startsecs=60")
    _, findings, messages = check_messages(heredoc(section), restart_policy=policy)
    assert rules(findings) == {"RP-SUP-STOPWAIT"}
    assert "stopwaitsecs=60, not 1..30 s" in messages


def test_expansion_in_a_judged_value_is_a_warning() -> None:
    passed, findings = check(heredoc(GOOD.replace("startsecs=120", "startsecs=%(ENV_START)s")))
    assert passed and findings == [("RP-UNREADABLE", "Test/Hosts/Resource", "warning")]


def test_deploy_time_value_in_a_judged_setting_is_a_warning() -> None:
    def build(stack: Stack) -> None:
        start = CfnParameter(stack, "Start").value_as_string
        heredoc(GOOD.replace("startsecs=120", f"startsecs={start}"))(stack)

    passed, findings = check(build)
    assert passed and findings == [("RP-UNREADABLE", "Test/Hosts/Resource", "warning")]


def test_shell_variable_in_an_unquoted_here_document_is_a_warning() -> None:
    script = f"cat > /etc/w.conf <<EOF\n{GOOD.replace('startsecs=120', 'startsecs=$START')}\nEOF"
    passed, findings = check(host(script))
    assert passed and findings == [("RP-UNREADABLE", "Test/Hosts/Resource", "warning")]


# --- configs written by echo, printf, tee ---------------------------------------------------


def echo_lines(section: str) -> str:
    lines = section.splitlines()
    first = f"echo '{lines[0]}' > /etc/supervisor/conf.d/w.conf"
    return "\n".join(
        [first, *(f"echo '{line}' >> /etc/supervisor/conf.d/w.conf" for line in lines[1:])]
    )


def test_config_written_by_echo_is_judged() -> None:
    passed, findings = check(host(echo_lines(GOOD.replace("startsecs=120", "startsecs=0"))))
    assert not passed and rules(findings) == {"RP-SUP-STARTSECS"}


def test_compliant_config_written_by_echo_passes() -> None:
    assert check(host(echo_lines(GOOD))) == (True, [])


def test_config_written_by_printf_and_tee_is_judged() -> None:
    escaped = GOOD.replace("autorestart=true", "autorestart=false").replace("\n", "\\n")
    script = f"printf '{escaped}\\n' | sudo tee /etc/supervisor/conf.d/w.conf > /dev/null"
    assert rules(check(host(script))[1]) == {"RP-SUP-AUTORESTART"}


def test_compliant_config_written_by_printf_passes() -> None:
    escaped = GOOD.replace("\n", "\\n")
    assert check(host(f"printf '{escaped}\\n' > /etc/supervisor/conf.d/w.conf")) == (True, [])


def test_section_the_checks_cannot_follow_is_a_warning_not_silence() -> None:
    script = f'python3 -c \'open("/etc/w.conf", "w").write("""\n{GOOD}\n""")\''
    passed, findings = check(host(script))
    assert passed and ("RP-UNREADABLE", "Test/Hosts/Resource", "warning") in findings


# --- CloudFormationInit ----------------------------------------------------------------------


def init_host(content: str) -> Callable[[Stack], None]:
    def build(stack: Stack) -> None:
        vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
        ec2.Instance(
            stack, "Host", vpc=vpc, instance_type=ec2.InstanceType("t3.micro"),
            machine_image=ec2.MachineImage.latest_amazon_linux2023(),
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            init=ec2.CloudFormationInit.from_elements(
                ec2.InitFile.from_string("/etc/supervisord.d/w.ini", content)
            ),
        )  # fmt: skip

    return build


def test_cloudformation_init_file_is_judged() -> None:
    passed, findings = check(init_host(GOOD.replace("startretries=5", "startretries=100")))
    assert not passed and findings == [("RP-SUP-RETRIES", "Test/Host/Resource", "error")]


def test_compliant_cloudformation_init_file_passes() -> None:
    assert check(init_host(GOOD + "\n")) == (True, [])


# --- the shell reader against bash itself ----------------------------------------------------

LINE = st.sampled_from(
    ["[program:w]", "command=/srv/w --queue orders", "autorestart=yes", "startsecs = 120",
     "stopwaitsecs: 60", "; a comment", "  --continued", "environment=A=\"x\"", "", "50%% done"]
)  # fmt: skip


def write_with(style: str, lines: list[str], path: str) -> str:
    if style == "heredoc":
        return "\n".join([f"cat > {path} <<'EOF'", *lines, "EOF"])
    if style == "echo":
        quoted = [shlex.quote(line) for line in lines]
        first, rest = quoted[0], quoted[1:]
        return "\n".join([f"echo {first} > {path}", *(f"echo {q} >> {path}" for q in rest)])
    if style == "printf":
        args = " ".join(shlex.quote(line) for line in lines)
        return f"printf '%s\\n' {args} | tee {path} > /dev/null"
    escaped = "\\n".join(line.replace("\\", "\\\\").replace("%", "%%") for line in lines)
    return f"printf {shlex.quote(escaped + chr(92) + 'n')} > {path}"


@settings(max_examples=60, deadline=None)
@given(
    style=st.sampled_from(["heredoc", "echo", "printf", "printf-format"]),
    lines=st.lists(LINE, min_size=1, max_size=6),
)
def test_shell_written_text_is_what_bash_writes(style: str, lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/w.conf"
        script = write_with(style, lines, path)
        subprocess.run(["bash", "-c", script], check=True, timeout=60)
        written = Path(path).read_text()
    heredocs = list(shell_texts(script))
    skip = {number for _, _, numbers in heredocs for number in numbers}
    texts = [text for text, _, _ in heredocs] + [
        text for text, _, _ in command_writes(script, skip)
    ]
    assert texts == [written]


def test_unset_startretries_is_supervisors_bounded_default() -> None:
    assert check(heredoc(GOOD.replace("startretries=5\n", ""))) == (True, [])


def test_autorestart_unexpected_is_judged_by_the_policys_restart_mode() -> None:
    build = heredoc(GOOD.replace("autorestart=true", "autorestart=unexpected"))
    assert rules(check(build)[1]) == {"RP-SUP-AUTORESTART"}  # the default policy: always
    assert check(build, restart_policy=RestartPolicy(restart="on-failure")) == (True, [])
