"""``SupervisorPrograms``: supervisor and the policy's program configs, through EC2 user data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from constructs import Construct

from ._backoff_listener import agent_asset_file
from ._errors import PolicyError, Problems
from ._host_checks import SynthChecks, check_log_reader_group
from ._host_files import DEFAULT_LOG_READER_GROUP, HostFiles, build_host_files
from ._policy_props import check_policies
from ._policy_record import record_policy
from ._supervisor_alarms import supervisor_alarms
from ._user_data_script import USER_DATA_LIMIT_BYTES, AgentDownload, script_lines
from ._user_data_size import BUCKET_NAME_MAX, REFERENCE_MAX, REGION_MAX, resolved_size
from .log_policy import LogPolicy
from .policy import RestartPolicy
from .program import Program, SecretField, check_renderable
from .supervisor_install import SupervisorInstall


class SupervisorPrograms(Construct):
    """Installs supervisor on EC2 hosts and runs ``programs`` by the policy, through user data.

    The user data installs a pinned supervisor, writes ``/etc/restart-policy/supervisord.conf``
    and one file per program under ``/etc/restart-policy/programs/`` (0600), and runs
    supervisord as the systemd unit ``restart-policy-supervisord.service`` (enabled at boot,
    restarted on failure), beside any supervisor the host already has. ``rp-supervisorctl``
    on the host talks to it. Running the user data again applies changes: added programs start,
    removed ones stop, changed ones restart, the others keep running. Give ``user_data`` to an
    ``ec2.Instance``, ``ec2.LaunchTemplate`` or ``autoscaling.AutoScalingGroup``.

    When programs use the back-off, the back-off agent is an S3 asset (``agent_asset``) that the
    user data downloads at boot with the AWS CLI (``aws s3 cp``): the hosts need the AWS CLI and
    their role ``grant_agent`` (or ``grant_host``), or synth warns. A failed download is logged
    and the programs run without the agent.

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
        Synth warns when it is on and ``grant_monitoring`` was never called.
    :param alarm_actions: Actions of the alarms (alarm and back to OK). Default: none; synth
        warns when the alarms end up with no action at all.
    :param alarm_topic: An SNS topic to notify, in addition to ``alarm_actions``. Default: none.
    :param log_removal_policy: What happens to the log group when it leaves the stack.
        Default: ``RemovalPolicy.RETAIN``; the log policy's retention bounds its cost.
    :param log_reader_group: The group that may read the log files on the hosts (the log
        folders are ``root:<group>`` 2750, the files 0640; created as a system group where
        missing). Default: ``adm``, the log readers' group of Debian, Ubuntu and Amazon Linux.
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
        log_reader_group: str | None = None,
    ) -> None:
        """Build the host files and user data in ``scope`` under ``construct_id``; the props are
        documented on the class. Raises ``PolicyError`` listing every problem before building."""
        path = "/".join(part for part in (scope.node.path, construct_id) if part)
        problems = Problems(f"SupervisorPrograms {path}")
        policy = restart_policy if isinstance(restart_policy, RestartPolicy) else RestartPolicy()
        log_policy_ = log_policy if isinstance(log_policy, LogPolicy) else LogPolicy()
        install_ = (
            install if isinstance(install, SupervisorInstall) else SupervisorInstall.pip_venv()
        )
        checked = _check_props(problems, programs, restart_policy, log_policy, install)
        check_renderable(problems, policy)
        check_log_reader_group(problems, log_reader_group)
        monitoring_on = True if monitoring is None else monitoring
        reader_group = DEFAULT_LOG_READER_GROUP if log_reader_group is None else log_reader_group
        files: HostFiles | None = None
        lines: list[str] = []
        if not problems:
            files = build_host_files(checked, policy, log_policy_, install_, reader_group)
            # The log group's name is only known at deploy time: count it at its longest, and
            # the agent's bucket and region too (its object key is the asset hash and a suffix).
            longest_name = "x" * REFERENCE_MAX if monitoring_on else None
            longest_download = (
                None
                if files.agent is None
                else AgentDownload("x" * BUCKET_NAME_MAX, "x" * _ASSET_KEY_SIZE, "x" * REGION_MAX)
            )
            lines = script_lines(files, install_, longest_name, longest_download)
            size = _rendered_size(scope, user_data, lines)
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
        self._checks = SynthChecks(self, path)
        # The agent is too big for user data (most of its 16 KB): hosts download it from S3.
        self._agent_asset: s3_assets.Asset | None = None
        download: AgentDownload | None = None
        if files.agent is not None:
            self._agent_asset = s3_assets.Asset(self, "BackoffAgent", path=str(agent_asset_file()))
            download = AgentDownload(
                self._agent_asset.s3_bucket_name,
                self._agent_asset.s3_object_key,
                Stack.of(self).region,
            )
        lines = script_lines(files, install_, None, download)
        if monitoring_on:
            self._log_group = logs.LogGroup(
                self,
                "Logs",
                retention=getattr(logs.RetentionDays, log_policy_.retention_name),
                removal_policy=(
                    RemovalPolicy.RETAIN if log_removal_policy is None else log_removal_policy
                ),
            )
            lines = script_lines(files, install_, self._log_group.log_group_name, download)
            actions = list(alarm_actions or [])
            if alarm_topic is not None:
                actions.append(cloudwatch_actions.SnsAction(alarm_topic))
            unmanaged = [
                f"{program.name}-{number}"
                for program in checked
                if not program.restart_policy_under(policy).backoff
                for number in range(program.numprocs)
            ]
            self._alarms = supervisor_alarms(self, self._log_group, actions, unmanaged)
        self._script = "\n".join(lines) + "\n"
        self._user_data = ec2.UserData.for_linux() if user_data is None else user_data
        self._user_data.add_commands(*lines)
        # Others may add to the same user data after us, or wrap it in a MultipartUserData:
        # judge the final size, the grants and the alarm actions at synth.
        self._checks.watch(
            self._user_data,
            monitoring=monitoring_on,
            secrets=any(program.secrets for program in checked),
            agent=self._agent_asset is not None,
            alarms=list(self._alarms.values()),
            block=self._script,
        )
        self.node.add_validation(self._checks)
        record_policy(self, policy, programs=self._programs, user_data=self._user_data)

    def grant_monitoring(self, grantee: iam.IGrantable) -> iam.Grant:
        """Lets the hosts' role (the CloudWatch agent) write to the log group."""
        if self._log_group is None:
            raise PolicyError(
                f"SupervisorPrograms {self.node.path}: monitoring=False, so there is no log "
                "group to grant. Fix: leave monitoring on, or do not call grant_monitoring."
            )
        self._checks.monitoring_granted = True
        return self._log_group.grant(
            grantee, "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"
        )

    def grant_agent(self, grantee: iam.IGrantable) -> iam.Grant:
        """Lets the hosts' role download the back-off agent at boot: ``s3:GetObject`` on its
        asset's object, and nothing else of the assets bucket."""
        if self._agent_asset is None:
            raise PolicyError(
                f"SupervisorPrograms {self.node.path}: no program uses the back-off, so there is "
                "no agent to grant. Fix: leave RestartPolicy(backoff=...) on, or do not call "
                "grant_agent."
            )
        self._checks.agent_granted = True
        asset = self._agent_asset
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:GetObject"],
            resource_arns=[asset.bucket.arn_for_objects(asset.s3_object_key)],
        )

    def grant_host(self, grantee: iam.IGrantable) -> list[iam.Grant]:
        """Everything the hosts' role needs, in one call: ``grant_agent`` when programs use the
        back-off, ``grant_monitoring`` when monitoring is on, ``grant_secrets`` when programs
        have secrets. Counts as each of them for synth's warnings."""
        grants: list[iam.Grant] = []
        if self._agent_asset is not None:
            grants.append(self.grant_agent(grantee))
        if self._log_group is not None:
            grants.append(self.grant_monitoring(grantee))
        if any(program.secrets for program in self._programs):
            grants.extend(self.grant_secrets(grantee))
        return grants

    def grant_secrets(self, grantee: iam.IGrantable) -> list[iam.Grant]:
        """Lets the hosts' role read every program's secrets (``ssm:GetParameter*`` or
        ``secretsmanager:GetSecretValue``, and decryption with their KMS keys)."""
        sources = [source for program in self._programs for source in program.secrets.values()]
        if not sources:
            raise PolicyError(
                f"SupervisorPrograms {self.node.path}: no program has secrets, so there is "
                "nothing to grant. Fix: give Program(secrets=...), or do not call grant_secrets."
            )
        self._checks.secrets_granted = True
        grants: list[iam.Grant] = []
        seen: set[int] = set()
        for source in sources:
            target = source.secret if isinstance(source, SecretField) else source
            if id(target) in seen:
                continue
            seen.add(id(target))
            grants.append(target.grant_read(grantee))
        return grants

    @property
    def agent_asset(self) -> s3_assets.Asset | None:
        """The back-off agent the hosts download at boot; None when no program uses the
        back-off."""
        return self._agent_asset

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


# A default synthesizer's object key: the asset's SHA-256 in hex and the file's suffix.
_ASSET_KEY_SIZE = 64 + len(".py")


def _rendered_size(scope: Construct, user_data: ec2.UserData | None, lines: list[str]) -> int:
    base = ec2.UserData.for_linux().render() if user_data is None else user_data.render()
    return resolved_size(Stack.of(scope).resolve(base + "\n" + "\n".join(lines)))


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
