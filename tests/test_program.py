"""render_program, judged by supervisor's own parser (ServerOptions.realize)."""

from __future__ import annotations

import signal
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from supervisor.datatypes import RestartUnconditionally, RestartWhenExitUnexpected

from restart_policy import LogPolicy, PolicyError, Program, RestartPolicy, render_program
from restart_policy._supervisor_syntax import has_expansion
from tests.supervisor_harness import load_programs

RECON = Program(
    name="daemon_recon_client_funds_consumer",
    command="/srv/bos/scripts/celery/%(program_name)s.sh",
    numprocs=3,
    user="root",
    autostart=False,
)


# supervisor refuses a log file whose folder does not exist: tests log under a folder they own.
LOGS = LogPolicy(directory=tempfile.mkdtemp(prefix="rp-logs-"))


def load_one(program: Program, **kwargs: object) -> object:
    kwargs.setdefault("log_policy", LOGS)
    configs = load_programs(render_program(program, **kwargs))  # type: ignore[arg-type]
    return next(iter(configs.values()))


def test_policy_document_program_loads_with_the_policys_settings() -> None:
    configs = load_programs(render_program(RECON, log_policy=LOGS))
    assert sorted(configs) == [f"daemon_recon_client_funds_consumer-{n}" for n in range(3)]
    config = configs["daemon_recon_client_funds_consumer-1"]
    assert config.command == "/srv/bos/scripts/celery/daemon_recon_client_funds_consumer.sh"
    assert config.startsecs == 120
    assert config.startretries == 5
    assert config.autorestart is RestartUnconditionally
    assert config.autostart is False
    assert config.stopsignal == signal.SIGINT
    assert config.stopwaitsecs == 120
    assert config.killasgroup is True
    assert config.stopasgroup is False
    assert config.redirect_stderr is False
    assert config.exitcodes == [0]
    assert config.uid == 0


def test_log_files_are_separate_per_process_and_bounded() -> None:
    config = load_programs(render_program(RECON, log_policy=LOGS))[
        "daemon_recon_client_funds_consumer-2"
    ]
    base = f"{LOGS.directory}/daemon_recon_client_funds_consumer-2"
    assert config.stdout_logfile == f"{base}.log"
    assert config.stderr_logfile == f"{base}.err.log"
    for stream in ("stdout", "stderr"):
        assert getattr(config, f"{stream}_logfile_maxbytes") == 5 * 1024 * 1024
        assert getattr(config, f"{stream}_logfile_backups") == 10
        assert getattr(config, f"{stream}_capture_maxbytes") == 0  # capture mode off


def test_policy_override_per_program_wins() -> None:
    program = Program(name="p", command="/bin/true", restart_policy=RestartPolicy(start_retries=2))
    config = load_one(program, policy=RestartPolicy(start_retries=9))
    assert config.startretries == 2  # type: ignore[attr-defined]


def test_policy_argument_applies() -> None:
    policy = RestartPolicy(start_window=30, stop_signal="TERM", stop_timeout=15)
    config = load_one(Program(name="p", command="/bin/true"), policy=policy)
    assert (config.startsecs, config.stopsignal, config.stopwaitsecs) == (30, signal.SIGTERM, 15)  # type: ignore[attr-defined]


def test_on_failure_restarts_only_unexpected_exits() -> None:
    policy = RestartPolicy(restart="on-failure", exit_codes=[0, 3])
    config = load_one(Program(name="p", command="/bin/true"), policy=policy)
    assert config.autorestart is RestartWhenExitUnexpected  # type: ignore[attr-defined]
    assert config.exitcodes == [0, 3]  # type: ignore[attr-defined]


def test_stop_as_group() -> None:
    config = load_one(
        Program(name="p", command="/bin/true"), policy=RestartPolicy(stop_as_group=True)
    )
    assert config.stopasgroup is True and config.killasgroup is True  # type: ignore[attr-defined]


def test_merged_stderr_when_not_separate() -> None:
    log_policy = LOGS.replace(separate_stderr=False)
    config = load_one(Program(name="p", command="/bin/true"), log_policy=log_policy)
    assert config.redirect_stderr is True  # type: ignore[attr-defined]


def test_log_policy_sizes_are_exact() -> None:
    log_policy = LOGS.replace(max_file_size=1500, backups=3)
    config = load_one(Program(name="p", command="/bin/true"), log_policy=log_policy)
    assert config.stdout_logfile_maxbytes == 1500  # type: ignore[attr-defined]
    assert config.stdout_logfile_backups == 3  # type: ignore[attr-defined]
    assert config.stdout_logfile == f"{LOGS.directory}/p-0.log"  # type: ignore[attr-defined]


def test_default_log_folder_is_the_policy_documents() -> None:
    text = render_program(RECON)
    assert "stdout_logfile=/var/log/supervisor/%(program_name)s-%(process_num)s.log\n" in text
    assert "stderr_logfile=/var/log/supervisor/%(program_name)s-%(process_num)s.err.log\n" in text


def test_user_directory_and_environment_load() -> None:
    program = Program(
        name="p",
        command="/bin/true",
        user="root",
        directory="/srv/app",
        environment={"QUEUE": "recon,funds", "QUOTE": 'say "hi" now', "PCT": "50%"},
    )
    config = load_one(program)
    assert config.directory == "/srv/app"  # type: ignore[attr-defined]
    assert config.environment == {"QUEUE": "recon,funds", "QUOTE": 'say "hi" now', "PCT": "50%"}  # type: ignore[attr-defined]


def test_supervisor_expansions_still_expand() -> None:
    program = Program(name="p", command="/bin/run %(program_name)s-%(process_num)02d --rate 5%")
    assert load_one(program).command == "/bin/run p-00 --rate 5%"  # type: ignore[attr-defined]


def test_rendering_is_deterministic() -> None:
    first = Program(name="p", command="/bin/true", environment={"B": "2", "A": "1"})
    second = Program(name="p", command="/bin/true", environment={"A": "1", "B": "2"})
    assert render_program(first) == render_program(second)
    assert 'environment=A="1",B="2"\n' in render_program(first)


# --- programs the back-off agent restarts ----------------------------------------------------

DEFAULT_SECTION = """[program:p]
command=/bin/p
process_name=%(program_name)s-%(process_num)s
numprocs=1
umask=022
autostart=true
autorestart=true
startsecs=120
startretries=5
exitcodes=0
stopsignal=INT
stopwaitsecs=120
stopasgroup=false
killasgroup=true
redirect_stderr=false
stdout_logfile=/var/log/supervisor/%(program_name)s-%(process_num)s.log
stdout_logfile_maxbytes=5MB
stdout_logfile_backups=10
stderr_logfile=/var/log/supervisor/%(program_name)s-%(process_num)s.err.log
stderr_logfile_maxbytes=5MB
stderr_logfile_backups=10
"""


def test_without_the_agent_the_section_is_the_policy_documents_byte_for_byte() -> None:
    assert render_program(Program(name="p", command="/bin/p"), backoff_agent=False) == (
        DEFAULT_SECTION
    )


def test_under_the_agent_supervisor_never_restarts_an_exit() -> None:
    config = load_one(RECON, backoff_agent=True)
    assert config.autorestart is False  # type: ignore[attr-defined]


def test_under_the_agent_a_failed_start_is_not_retried_by_supervisor() -> None:
    config = load_one(RECON, backoff_agent=True)
    assert config.startretries == 0  # type: ignore[attr-defined]


def test_under_the_agent_the_start_window_is_still_the_policys() -> None:
    config = load_one(RECON, policy=RestartPolicy(start_window=45), backoff_agent=True)
    assert config.startsecs == 45  # type: ignore[attr-defined]


def test_under_the_agent_on_failure_still_renders_autorestart_false() -> None:
    on_failure = RestartPolicy(restart="on-failure")
    config = load_one(RECON, policy=on_failure, backoff_agent=True)
    assert config.autorestart is False  # type: ignore[attr-defined]


def test_under_the_agent_a_comment_line_says_why() -> None:
    text = render_program(RECON, backoff_agent=True)
    comment = "; restarted by the back-off agent, not by supervisor (see the README)\n"
    assert comment + "autorestart=false\n" in text


def test_under_the_agent_only_autorestart_startretries_and_the_comment_change() -> None:
    plain = render_program(RECON).splitlines()
    agent = render_program(RECON, backoff_agent=True).splitlines()
    assert sorted(set(agent) - set(plain)) == [
        "; restarted by the back-off agent, not by supervisor (see the README)",
        "autorestart=false",
        "startretries=0",
    ]
    assert sorted(set(plain) - set(agent)) == ["autorestart=true", "startretries=5"]


# --- property-based: what is rendered reads back exactly, or is refused -------------------

TRICKY = string.ascii_letters + string.digits + " %\"',;#$=:\\/()[]{}-_.!?*&|<>~`\t" + "éü中€ß"
texts = st.text(alphabet=TRICKY, min_size=1, max_size=40)


def _no_expansion(value: str) -> bool:
    return not has_expansion(value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=texts)
def test_environment_values_read_back_exactly_or_are_refused(value: str) -> None:
    assume(_no_expansion(value))
    try:
        program = Program(name="p", command="/bin/true", environment={"VALUE": value})
    except PolicyError as exc:
        assert "environment['VALUE']" in str(exc)
        return
    assert load_one(program).environment == {"VALUE": value}  # type: ignore[attr-defined]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tail=texts)
def test_commands_read_back_exactly_or_are_refused(tail: str) -> None:
    command = f"/bin/echo {tail}"
    assume(_no_expansion(command))
    try:
        program = Program(name="p", command=command)
    except PolicyError as exc:
        assert "command=" in str(exc)
        return
    assert load_one(program).command == command  # type: ignore[attr-defined]


@settings(max_examples=60, deadline=None)
@given(
    name=st.text(
        alphabet=string.ascii_letters + string.digits + "_.@+-:/ %", min_size=1, max_size=20
    )
)
def test_names_load_as_given_or_are_refused(name: str) -> None:
    try:
        program = Program(name=name, command="/bin/true")
    except PolicyError as exc:
        assert "name=" in str(exc)
        return
    assert list(load_programs(render_program(program, log_policy=LOGS))) == [f"{name}-0"]


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["my prog", "a:b", "a/b", "", "50%", "-x"])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(PolicyError, match=r"name=.*is not a program name"):
        Program(name=name, command="/bin/true")


@pytest.mark.parametrize("command", ["", "   "])
def test_empty_command_is_refused(command: str) -> None:
    with pytest.raises(PolicyError, match=r"(?s)Program 'p'.*command=.*is empty"):
        Program(name="p", command=command)


def test_inline_comment_hazard_in_command_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"command=.*inline comment.*no quoting avoids it"):
        Program(name="p", command='sh -c "echo a ; echo b"')


def test_newline_in_command_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"command=.*ends a config line"):
        Program(name="p", command="/bin/true\n/bin/false")


def test_unbalanced_quote_in_command_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"cannot be split into arguments"):
        Program(name="p", command="/bin/echo 'oops")


def test_surrounding_white_space_in_command_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"white space at its start or end"):
        Program(name="p", command="/bin/true ")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a\nb", "ends a config line"),
        ("""it's "x" """.strip() + "y", "both quote kinds"),
        ('"quoted"', "starts or ends with a quote"),
        ("a ;b", "inline comment"),
    ],
)
def test_environment_values_supervisor_cannot_carry_are_refused(value: str, reason: str) -> None:
    with pytest.raises(PolicyError, match=rf"environment\['V'\]=.*{reason}"):
        Program(name="p", command="/bin/true", environment={"V": value})


def test_bad_environment_key_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"is not an environment variable name"):
        Program(name="p", command="/bin/true", environment={"1X": "a"})


@pytest.mark.parametrize("numprocs", [0, -1, 1.5])
def test_numprocs_below_one_is_refused(numprocs: object) -> None:
    with pytest.raises(PolicyError, match=r"numprocs=.*at least 1"):
        Program(name="p", command="/bin/true", numprocs=numprocs)  # type: ignore[arg-type]


def test_bad_user_and_directory_are_refused() -> None:
    with pytest.raises(PolicyError) as caught:
        Program(name="p", command="/bin/true", user="Bad User", directory="relative/dir")
    assert "user='Bad User'" in str(caught.value)
    assert "directory='relative/dir'" in str(caught.value)
    assert "2 problems" in str(caught.value)


def test_token_policy_is_refused_for_supervisor(tmp_path: Path) -> None:
    from aws_cdk import App, CfnParameter, Stack

    window = CfnParameter(Stack(App(), "S"), "W", type="Number").value_as_number
    with pytest.raises(PolicyError, match=r"restart_policy.start_window=.*known at synth time"):
        render_program(
            Program(name="p", command="/bin/true"), policy=RestartPolicy(start_window=window)
        )


def test_program_is_immutable() -> None:
    with pytest.raises(AttributeError):
        RECON.numprocs = 2  # type: ignore[misc]
