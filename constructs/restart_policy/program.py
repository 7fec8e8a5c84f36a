"""``Program`` and ``render_program``: a supervisor program section that follows the policy.

Pure Python: no ``aws_cdk`` import, so it renders on any host.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _supervisor_syntax as syntax
from ._errors import Problems
from ._policy_props import check_policies
from ._units import is_unresolved
from .log_policy import LogPolicy
from .policy import RestartPolicy

#: Where ``SupervisorPrograms`` puts the wrapper that fetches a program's secrets at start.
SECRETS_WRAPPER = "/etc/restart-policy/with-secrets"
_FIELD = re.compile(r"^[A-Za-z0-9_.@+-]{1,128}$")


@dataclass(frozen=True)
class SecretField:
    """One field of a Secrets Manager secret that holds a JSON object, e.g.
    ``SecretField(database_secret, "password")`` for an RDS-generated secret.

    :param secret: A ``secretsmanager.ISecret``.
    :param field: The JSON key: letters, digits and ``_ . @ + -``.
    """

    secret: Any
    field: str

    def __post_init__(self) -> None:
        problems = Problems("SecretField")
        if not hasattr(self.secret, "secret_arn"):
            problems.add(
                "secret", self.secret, "is not a Secrets Manager secret", "give an ISecret"
            )
        if not isinstance(self.field, str) or not _FIELD.match(self.field):
            problems.add(
                "field",
                self.field,
                "is not a JSON key the host can name on one line",
                "use letters, digits and _ . @ + -",
            )
        problems.raise_if_any()


def secret_reference(source: object) -> tuple[str, str] | None:
    """(ARN, JSON field or "") of a secret source; None when ``source`` is not one. The ARN
    may be a deploy-time token; the host reads the service and region from it."""
    if isinstance(source, SecretField):
        return str(source.secret.secret_arn), source.field
    if hasattr(source, "parameter_arn") and hasattr(source, "parameter_name"):
        return str(source.parameter_arn), ""
    if hasattr(source, "secret_arn"):
        return str(source.secret_arn), ""
    return None


@dataclass(frozen=True)
class Program:
    """A long-running process run by supervisor.

    :param name: The program name (``[program:NAME]``): letters, digits and ``_ . @ + -``,
        starting with a letter or digit.
    :param command: The command line. A literal ``%`` is kept as given; supervisor's own
        expansions (``%(program_name)s``, ``%(process_num)d``, ``%(ENV_HOME)s`` ...) still expand.
    :param numprocs: How many copies run, named ``NAME-0``, ``NAME-1`` ... Default: 1.
    :param user: The user the program runs as. Default: the user supervisord runs as (root).
    :param directory: Working directory. Default: supervisord's own.
    :param environment: Extra environment variables, written into the program's file on the
        host (0600, root only) and carried in the user data: no passwords here. Default: none.
    :param secrets: Environment variables whose values are fetched on the host each time the
        program starts, by the instance's role, from SSM Parameter Store (an
        ``ssm.IStringParameter``, String or SecureString) or Secrets Manager (a
        ``secretsmanager.ISecret``, or ``SecretField(secret, "key")`` for one key of a JSON
        secret). Only the parameter's or secret's ARN travels in the user data. The host needs
        the AWS CLI (Amazon Linux ships it) and ``SupervisorPrograms.grant_secrets(role)``.
        Default: none.
    :param autostart: Start the program when supervisord starts. Default: true, so that a host
        runs its programs after boot (the policy document's ``autostart=false`` suits a deploy
        tool that starts them itself).
    :param restart_policy: This program's restart policy. Default: the policy given to
        ``render_program`` or ``SupervisorPrograms``.
    :param log_policy: This program's log policy. Default: the one given to ``render_program``
        or ``SupervisorPrograms``.
    """

    name: str
    command: str
    numprocs: int = 1
    user: str | None = None
    directory: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, Any] = field(default_factory=dict)
    autostart: bool = True
    restart_policy: RestartPolicy | None = None
    log_policy: LogPolicy | None = None

    def __post_init__(self) -> None:
        environment = dict(self.environment) if isinstance(self.environment, Mapping) else None
        secrets = dict(self.secrets) if isinstance(self.secrets, Mapping) else None
        problems = Problems(f"Program {self.name!r}")
        _check_program(problems, self, environment)
        _check_secrets(problems, secrets, environment or {})
        problems.raise_if_any()
        object.__setattr__(self, "environment", dict(sorted((environment or {}).items())))
        object.__setattr__(self, "secrets", dict(sorted((secrets or {}).items())))

    def restart_policy_under(self, default: RestartPolicy) -> RestartPolicy:
        """The policy this program runs under: its own, else ``default``."""
        return default if self.restart_policy is None else self.restart_policy

    def log_policy_under(self, default: LogPolicy) -> LogPolicy:
        """The log policy this program's logs follow: its own, else ``default``."""
        return default if self.log_policy is None else self.log_policy


def render_program(
    program: Program,
    policy: RestartPolicy | None = None,
    log_policy: LogPolicy | None = None,
    *,
    backoff_agent: bool = False,
) -> str:
    """One ``[program:NAME]`` section with the policy's settings; deterministic.

    The program's own ``restart_policy``/``log_policy`` win over the ones given here, which
    default to ``RestartPolicy()`` and ``LogPolicy()``.

    :param backoff_agent: The library's back-off agent restarts this program
        (``SupervisorPrograms`` sets it for programs whose policy has ``backoff`` on): the
        section says ``autorestart=false`` and ``startretries=0``, so that supervisor never
        starts the program again by itself and every restart, retry and cool-down is the
        agent's. Default: false, supervisor's own ``autorestart`` and ``startretries`` from the
        policy, as the policy document writes them.
    """
    restart = program.restart_policy_under(RestartPolicy() if policy is None else policy)
    logs = program.log_policy_under(LogPolicy() if log_policy is None else log_policy)
    problems = Problems(f"Program {program.name!r}")
    check_renderable(problems, restart)
    problems.raise_if_any()

    log_base = posixpath.join(logs.directory, "%(program_name)s-%(process_num)s")
    command = syntax.escape_percent(program.command)
    if program.secrets:
        command = f"{SECRETS_WRAPPER} %(program_name)s {command}"
    lines = [
        f"[program:{program.name}]",
        f"command={command}",
        "process_name=%(program_name)s-%(process_num)s",
        f"numprocs={program.numprocs}",
    ]
    if program.user is not None:
        lines.append(f"user={program.user}")
    if program.directory is not None:
        lines.append(f"directory={syntax.escape_percent(program.directory)}")
    lines += [
        # SupervisorPrograms runs supervisord with umask 027 (its log files); programs keep
        # the usual 022.
        "umask=022",
        f"autostart={_bool(program.autostart)}",
    ]
    autorestart = "true" if restart.restart == "always" else "unexpected"
    retries = restart.start_retries
    if backoff_agent:
        # supervisor 4.3 respawns an exit in the same pass that reports it, and retries a failed
        # start a second later, before the agent's decision lands: two daemon starts a round.
        lines.append("; restarted by the back-off agent, not by supervisor (see the README)")
        autorestart, retries = "false", 0
    lines += [
        f"autorestart={autorestart}",
        f"startsecs={int(restart.start_window_seconds)}",
        f"startretries={retries}",
        f"exitcodes={','.join(str(code) for code in restart.exit_codes)}",
        f"stopsignal={restart.stop_signal}",
        f"stopwaitsecs={int(restart.stop_timeout_seconds)}",
        f"stopasgroup={_bool(restart.stop_as_group)}",
        f"killasgroup={_bool(restart.kill_as_group)}",
        f"redirect_stderr={_bool(not logs.separate_stderr)}",
    ]
    # No *_capture_maxbytes, unlike the policy document: capture mode (for communication
    # events, which the policy does not use) makes supervisor 4.3.0 hold back the last bytes a
    # process writes and drop them when it exits (see the README).
    streams = ["stdout", "stderr"] if logs.separate_stderr else ["stdout"]
    size = syntax.byte_size(logs.max_file_size_bytes)
    for stream in streams:
        suffix = ".log" if stream == "stdout" else ".err.log"
        lines += [
            f"{stream}_logfile={log_base}{suffix}",
            f"{stream}_logfile_maxbytes={size}",
            f"{stream}_logfile_backups={logs.backups}",
        ]
    if program.environment:
        pairs = (
            f"{key}={syntax.quote_environment_value(value)}"
            for key, value in program.environment.items()
        )
        lines.append(f"environment={','.join(pairs)}")
    return "\n".join(lines) + "\n"


def check_renderable(problems: Problems, policy: RestartPolicy) -> None:
    """A policy written into files on a host must be known at synth time."""
    for name, value in (
        ("start_window", policy.start_window_seconds),
        ("start_retries", policy.start_retries),
        ("stop_timeout", policy.stop_timeout_seconds),
    ):
        if is_unresolved(value):
            problems.add(
                f"restart_policy.{name}",
                "a deploy-time token",
                "is written into supervisor's files, so it must be known at synth time",
                "give a plain value",
            )


def _check_secrets(
    problems: Problems, secrets: dict[Any, Any] | None, environment: Mapping[str, str]
) -> None:
    if secrets is None:
        problems.add(
            "secrets",
            secrets,
            "is not a mapping",
            "give a dict of variable name to ssm.IStringParameter or secretsmanager.ISecret",
        )
        return
    for key, source in secrets.items():
        if not isinstance(key, str) or not syntax.ENV_KEY.match(key):
            problems.add(
                f"secrets[{key!r}]",
                key,
                "is not an environment variable name",
                "use letters, digits and _, not starting with a digit",
            )
        elif key in environment:
            problems.add(
                f"secrets[{key!r}]",
                key,
                "is also in environment; the secret would override it",
                "keep the name in one of them",
            )
        if secret_reference(source) is None:
            problems.add(
                f"secrets[{key!r}]",
                "a str" if isinstance(source, str) else type(source).__name__,
                "is not an SSM parameter or a Secrets Manager secret (a value written here "
                "would travel in user data)",
                "give an ssm.IStringParameter, a secretsmanager.ISecret or "
                "SecretField(secret, key)",
            )


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _check_program(
    problems: Problems, program: Program, environment: dict[Any, Any] | None
) -> None:
    name = program.name
    if not isinstance(name, str) or not syntax.NAME.match(name):
        problems.add(
            "name",
            name,
            "is not a program name supervisor can carry (no white space, ':', '/', '%' ...)",
            "use letters, digits and _ . @ + -, starting with a letter or digit",
        )
    command = program.command
    if not isinstance(command, str):
        problems.add("command", command, "is not a string", "give the command line as one string")
    else:
        for reason, fix in syntax.command_problems(command):
            problems.add("command", command, reason, fix)
    numprocs = program.numprocs
    if not isinstance(numprocs, int) or isinstance(numprocs, bool) or numprocs < 1:
        problems.add("numprocs", numprocs, "is not a whole number of at least 1", "give e.g. 1")
    if program.user is not None and (
        not isinstance(program.user, str) or not syntax.USER.match(program.user)
    ):
        problems.add("user", program.user, "is not a user name", "give e.g. 'app' or 'root'")
    directory = program.directory
    if directory is not None and (
        not isinstance(directory, str)
        or not posixpath.isabs(directory)
        or syntax.line_problem(directory) is not None
        or directory != directory.strip()
    ):
        problems.add(
            "directory", directory, "is not an absolute path on one line", "give e.g. /srv/app"
        )
    if not isinstance(program.autostart, bool):
        problems.add("autostart", program.autostart, "is not a boolean", "give True or False")
    check_policies(problems, program.restart_policy, program.log_policy)
    if isinstance(program.restart_policy, RestartPolicy):
        check_renderable(problems, program.restart_policy)
    if environment is None:
        problems.add(
            "environment", program.environment, "is not a mapping", "give a dict of str to str"
        )
        return
    for key, value in environment.items():
        if not isinstance(key, str) or not syntax.ENV_KEY.match(key):
            problems.add(
                f"environment[{key!r}]",
                key,
                "is not an environment variable name",
                "use letters, digits and _, not starting with a digit",
            )
            continue
        if not isinstance(value, str):
            problems.add(f"environment[{key!r}]", value, "is not a string", "give a string")
            continue
        problem = syntax.environment_value_problem(value)
        if problem is not None:
            problems.add(
                f"environment[{key!r}]",
                value,
                problem,
                "pass the value through a file or a secret instead",
            )
