"""``SupervisorPrograms``: supervisor and the policy's program configs, through EC2 user data."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import jsii
from aws_cdk import RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct, IValidation

from ._errors import PolicyError, Problems
from ._host_files import HostFiles, build_host_files
from ._policy_props import check_policies
from ._policy_record import record_policy
from ._supervisor_alarms import supervisor_alarms
from ._user_data_script import USER_DATA_LIMIT_BYTES, script_lines
from .log_policy import LogPolicy
from .policy import RestartPolicy
from .program import Program, check_renderable
from .supervisor_install import SupervisorInstall


class SupervisorPrograms(Construct):
    """Installs supervisor on EC2 hosts and runs ``programs`` by the policy, through user data.

    The user data installs a pinned supervisor, writes ``/etc/restart-policy/supervisord.conf``
    and one file per program under ``/etc/restart-policy/programs/``, and runs supervisord under
    systemd (enabled at boot, restarted on failure). Running it again applies changes: removed
    programs stop, changed ones restart. Give ``user_data`` to an ``ec2.Instance``,
    ``ec2.LaunchTemplate`` or ``autoscaling.AutoScalingGroup``.

    :param scope: The parent construct.
    :param construct_id: The construct id.
    :param programs: The programs, at least one, with distinct names.
    :param restart_policy: Policy for programs that have none of their own.
        Default: ``RestartPolicy()``.
    :param log_policy: Log policy for programs that have none of their own, and for supervisord's
        own log. Default: ``LogPolicy()``.
    :param install: How supervisor gets onto the host. Default:
        ``SupervisorInstall.pip_venv()``, supervisor 4.3.0 in a virtual environment, which works
        on Amazon Linux 2023 (no supervisor package there) as on Debian and Ubuntu.
    :param user_data: Linux user data to add to. Default: a new ``UserData.for_linux()``.
    :param monitoring: Ship supervisord's, the back-off agent's and every process's log files to
        a log group of this construct (the CloudWatch agent, installed with ``dnf`` where it is
        missing), and alarm on FATAL states and back-off decisions. The hosts' role needs
        ``grant_monitoring``. Default: true, so that a crash loop is seen by someone.
    :param alarm_actions: Actions of the alarms (alarm and back to OK). Default: none.
    :param alarm_topic: An SNS topic to notify, in addition to ``alarm_actions``. Default: none.
    :param log_removal_policy: What happens to the log group when it leaves the stack.
        Default: ``RemovalPolicy.RETAIN``; the log policy's retention bounds its cost.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        programs: Sequence[Program],
        restart_policy: RestartPolicy | None = None,
        log_policy: LogPolicy | None = None,
        install: SupervisorInstall | None = None,
        user_data: ec2.UserData | None = None,
        monitoring: bool | None = None,
        alarm_actions: Sequence[cloudwatch.IAlarmAction] | None = None,
        alarm_topic: sns.ITopic | None = None,
        log_removal_policy: RemovalPolicy | None = None,
    ) -> None:
        path = "/".join(part for part in (scope.node.path, construct_id) if part)
        problems = Problems(f"SupervisorPrograms {path}")
        policy = restart_policy if isinstance(restart_policy, RestartPolicy) else RestartPolicy()
        log_policy_ = log_policy if isinstance(log_policy, LogPolicy) else LogPolicy()
        install_ = (
            install if isinstance(install, SupervisorInstall) else SupervisorInstall.pip_venv()
        )
        checked = _check_props(problems, programs, restart_policy, log_policy, install)
        check_renderable(problems, policy)
        monitoring_on = True if monitoring is None else monitoring
        files: HostFiles | None = None
        lines: list[str] = []
        if not problems:
            files = build_host_files(checked, policy, log_policy_, install_)
            # The log group's name is only known at deploy time: count it at its longest.
            longest_name = "x" * LOG_GROUP_NAME_MAX if monitoring_on else None
            lines = script_lines(files, install_, longest_name)
            size = _rendered_size(user_data, lines)
            if size > USER_DATA_LIMIT_BYTES:
                problems.add(
                    "programs",
                    f"{len(checked)} programs",
                    f"make user data of {size:,} bytes, above EC2's limit of "
                    f"{USER_DATA_LIMIT_BYTES:,} bytes",
                    "split the programs over several host groups, or bake supervisor and its "
                    "files into the AMI",
                )
        problems.raise_if_any()
        assert files is not None

        super().__init__(scope, construct_id)
        self._programs = tuple(checked)
        self._files = files
        self._alarms: dict[str, cloudwatch.Alarm] = {}
        self._log_group: logs.LogGroup | None = None
        if monitoring_on:
            self._log_group = logs.LogGroup(
                self,
                "Logs",
                retention=getattr(logs.RetentionDays, log_policy_.retention_name),
                removal_policy=(
                    RemovalPolicy.RETAIN if log_removal_policy is None else log_removal_policy
                ),
            )
            lines = script_lines(files, install_, self._log_group.log_group_name)
            actions = list(alarm_actions or [])
            if alarm_topic is not None:
                actions.append(cloudwatch_actions.SnsAction(alarm_topic))
            self._alarms = supervisor_alarms(self, self._log_group, actions)
        self._script = "\n".join(lines) + "\n"
        self._user_data = ec2.UserData.for_linux() if user_data is None else user_data
        self._user_data.add_commands(*lines)
        # Others may add to the same user data after us: judge the final size at synth.
        self.node.add_validation(_UserDataSize(self._user_data, path))
        record_policy(self, policy, programs=self._programs, user_data=self._user_data)

    def grant_monitoring(self, grantee: iam.IGrantable) -> iam.Grant:
        """Lets the hosts' role (the CloudWatch agent) write to the log group."""
        if self._log_group is None:
            raise PolicyError(
                f"SupervisorPrograms {self.node.path}: monitoring=False, so there is no log "
                "group to grant. Fix: leave monitoring on, or do not call grant_monitoring."
            )
        return self._log_group.grant(
            grantee, "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"
        )

    @property
    def log_group(self) -> logs.ILogGroup | None:
        """The log group the hosts' logs go to; None when ``monitoring`` is false."""
        return self._log_group

    @property
    def alarms(self) -> Mapping[str, cloudwatch.Alarm]:
        """The alarms by name (``fatal``, ``backoff``); empty when ``monitoring`` is false."""
        return dict(self._alarms)

    @property
    def user_data(self) -> ec2.UserData:
        """The user data that carries the programs."""
        return self._user_data

    @property
    def programs(self) -> tuple[Program, ...]:
        """The programs, in the order given."""
        return self._programs

    @property
    def supervisord_conf(self) -> str:
        """The ``supervisord.conf`` the hosts get."""
        return self._files.supervisord_conf

    @property
    def program_configs(self) -> Mapping[str, str]:
        """The rendered ``[program:...]`` file of each program, by name."""
        return dict(self._files.programs)

    @property
    def systemd_unit(self) -> str:
        """The systemd unit that runs supervisord."""
        return self._files.unit

    @property
    def script(self) -> str:
        """The shell block this construct added to the user data."""
        return self._script


@jsii.implements(IValidation)
class _UserDataSize:
    """Fails synth when the whole user data is over EC2's limit."""

    def __init__(self, user_data: ec2.UserData, path: str) -> None:
        self._user_data = user_data
        self._path = path

    def validate(self) -> list[str]:
        size = worst_case_size(self._user_data.render())
        if size <= USER_DATA_LIMIT_BYTES:
            return []
        return [
            f"SupervisorPrograms {self._path}: the user data is {size:,} bytes, above EC2's "
            f"limit of {USER_DATA_LIMIT_BYTES:,} bytes (raw, before base64). Fix: add less to it, "
            "or split the programs over several host groups."
        ]


def _rendered_size(user_data: ec2.UserData | None, lines: list[str]) -> int:
    base = ec2.UserData.for_linux().render() if user_data is None else user_data.render()
    return worst_case_size(base + "\n" + "\n".join(lines))


def worst_case_size(rendered: str) -> int:
    """Bytes of a rendered user data, each deploy-time token counted at the longest a
    CloudFormation name can be."""
    return len(_TOKEN.sub("x" * LOG_GROUP_NAME_MAX, rendered).encode("utf-8"))


_TOKEN = re.compile(r"\$\{Token\[[^\]]*\]\}")
LOG_GROUP_NAME_MAX = 512


def _check_props(
    problems: Problems,
    programs: object,
    restart_policy: object,
    log_policy: object,
    install: object,
) -> list[Program]:
    check_policies(problems, restart_policy, log_policy)
    if install is not None and not isinstance(install, SupervisorInstall):
        problems.add(
            "install", install, "is not a SupervisorInstall", "give SupervisorInstall.pip_venv()"
        )
    if isinstance(programs, str | bytes) or not isinstance(programs, Sequence):
        problems.add("programs", programs, "is not a list of Program", "give [Program(...), ...]")
        return []
    checked = [program for program in programs if isinstance(program, Program)]
    for index, program in enumerate(programs):
        if not isinstance(program, Program):
            problems.add(f"programs[{index}]", program, "is not a Program", "give Program(...)")
    if not programs:
        problems.add("programs", [], "is empty", "give at least one Program")
    seen: set[str] = set()
    for program in checked:
        if program.name in seen:
            problems.add(
                "programs",
                program.name,
                "names two programs; supervisor keeps one and their log files would collide",
                "give every program a distinct name",
            )
        seen.add(program.name)
    return checked
