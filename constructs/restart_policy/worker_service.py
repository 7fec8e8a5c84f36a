"""``WorkerService``: an ECS service for a long-running daemon, restarted by the policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from ._ecs_alarms import CrashLoopAlarms
from ._ecs_limits import (
    FARGATE_SIZES,
    MAX_IGNORED_EXIT_CODES,
    RESTART_PERIOD_MIN,
    check_policy_for_ecs,
)
from ._errors import Problems
from ._policy_props import check_policies
from ._policy_record import record_policy
from ._units import UnitError, is_unresolved, to_bytes, to_seconds
from .log_policy import LogPolicy
from .policy import RestartPolicy

_DEFAULT_CPU = 256
_DEFAULT_MEMORY_MIB = 512
_DEFAULT_BUFFER_BYTES = 25 * 1024 * 1024
_DEFAULT_ALARM_WINDOW_SECONDS = 15 * 60
_DEFAULT_POLICY = RestartPolicy()
_DEFAULT_LOG_POLICY = LogPolicy()


def _path(scope: Construct, construct_id: str) -> str:
    return "/".join(part for part in (scope.node.path, construct_id) if part)


class WorkerService(Construct):
    """An ECS service that runs a long-running daemon (a queue consumer, a poller) by the policy.

    By default it has a deployment circuit breaker with rollback that counts every failed task
    (no reset on a healthy task, so a daemon that starts and then dies still trips it), a
    container restart policy whose attempt period is the policy's start window, the policy's
    stop timeout, awslogs in non-blocking mode into a log group of its own with the log policy's
    retention, and a minimum/maximum healthy percent of 100/200.

    :param scope: The parent construct.
    :param construct_id: The construct id; it names the CloudFormation logical ids.
    :param image: The container image of the daemon.
    :param cluster: The cluster to run in. Give ``cluster`` or ``vpc``, not both.
    :param vpc: A VPC in which a new cluster is made. Give ``cluster`` or ``vpc``, not both.
    :param command: The daemon's command. Default: the image's own ``CMD``.
    :param environment: Environment variables. Default: none.
    :param secrets: Secrets given to the container as environment variables. Default: none.
    :param cpu: CPU units of the task. Default: 256 (a quarter vCPU), Fargate's smallest.
    :param memory_limit_mib: Memory of the task in MiB. Default: 512, Fargate's smallest.
    :param desired_count: How many tasks run. Default: 1.
    :param launch_type: ``LaunchType.FARGATE`` or ``LaunchType.EC2`` (the cluster then needs
        EC2 capacity). Default: Fargate.
    :param restart_policy: The restart policy. Default: ``RestartPolicy()``, the policy document's
        values.
    :param log_policy: The log policy (its ``retention`` applies). Default: ``LogPolicy()``.
    :param ignored_exit_codes: Exit codes after which the container is not restarted in place.
        Default: none when the policy restarts always; the policy's ``exit_codes`` when it
        restarts on failure only.
    :param circuit_breaker_failure_threshold: Failed tasks after which a deployment fails and is
        rolled back. Default: the policy's ``start_retries``, as supervisor would give up.
    :param deployment_alarms: Alarms that fail and roll back a deployment when they fire.
        Default: none.
    :param log_buffer_size: Buffer of the non-blocking awslogs driver. Default: 25 MiB, so that a
        burst of output before a crash (the traceback) is not dropped.
    :param log_removal_policy: What happens to the log group when it leaves the stack.
        Default: ``RemovalPolicy.RETAIN``, so that the logs of a failed first deployment stay
        readable after the rollback; retention still bounds their cost.
    :param container_name: Name of the daemon's container. Default: ``worker``.
    :param service_name: Name of the service. Default: a CloudFormation-generated name.
    :param vpc_subnets: Subnets of the tasks. Default: the private subnets of the cluster's VPC.
    :param security_groups: Security groups of the tasks. Default: a new one with no ingress.
    :param assign_public_ip: Give tasks a public IP. Default: false.
    :param platform_version: Fargate platform version. Default: ``LATEST``; the container
        restart policy needs 1.4.0 or newer.
    :param crash_loop_alarms: Make the crash-loop alarms: tasks stopping because the essential
        container exited non-zero (``crash_alarm_threshold`` in ``crash_alarm_window``), a failed
        deployment (circuit breaker), and ECS throttling task starts. Default: true, so that a
        crash loop is seen by someone.
    :param alarm_actions: Actions of the alarms (alarm and back to OK). Default: none.
    :param alarm_topic: An SNS topic to notify, in addition to ``alarm_actions``. Default: none.
    :param crash_alarm_threshold: Crashed tasks that make a crash loop. Default: the policy's
        ``start_retries``, the failures supervisor would allow before giving up.
    :param crash_alarm_window: The window in which they are counted. Default: 15 minutes, the
        longest wait of ECS's older start throttle.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        image: ecs.ContainerImage,
        cluster: ecs.ICluster | None = None,
        vpc: ec2.IVpc | None = None,
        command: Sequence[str] | None = None,
        environment: Mapping[str, str] | None = None,
        secrets: Mapping[str, ecs.Secret] | None = None,
        cpu: int | None = None,
        memory_limit_mib: int | None = None,
        desired_count: int | None = None,
        launch_type: ecs.LaunchType | None = None,
        restart_policy: RestartPolicy | None = None,
        log_policy: LogPolicy | None = None,
        ignored_exit_codes: Sequence[int] | None = None,
        circuit_breaker_failure_threshold: int | None = None,
        deployment_alarms: Sequence[cloudwatch.IAlarm] | None = None,
        log_buffer_size: Size | None = None,
        log_removal_policy: RemovalPolicy | None = None,
        container_name: str | None = None,
        service_name: str | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        assign_public_ip: bool | None = None,
        platform_version: ecs.FargatePlatformVersion | None = None,
        crash_loop_alarms: bool | None = None,
        alarm_actions: Sequence[cloudwatch.IAlarmAction] | None = None,
        alarm_topic: sns.ITopic | None = None,
        crash_alarm_threshold: int | None = None,
        crash_alarm_window: Duration | None = None,
    ) -> None:
        problems = Problems(lambda: f"WorkerService {_path(scope, construct_id)}")
        # A wrong type is reported below; the defaults stand in so that the other checks still run.
        policy = restart_policy if isinstance(restart_policy, RestartPolicy) else _DEFAULT_POLICY
        log_policy_ = log_policy if isinstance(log_policy, LogPolicy) else _DEFAULT_LOG_POLICY
        launch = ecs.LaunchType.FARGATE if launch_type is None else launch_type
        fargate = launch == ecs.LaunchType.FARGATE
        cpu_ = _DEFAULT_CPU if cpu is None else cpu
        memory = _DEFAULT_MEMORY_MIB if memory_limit_mib is None else memory_limit_mib
        count = 1 if desired_count is None else desired_count
        alarms_on = True if crash_loop_alarms is None else crash_loop_alarms
        crash_threshold = (
            policy.start_retries if crash_alarm_threshold is None else crash_alarm_threshold
        )
        window = _DEFAULT_ALARM_WINDOW_SECONDS if crash_alarm_window is None else crash_alarm_window
        if ignored_exit_codes is None:
            ignored = list(policy.exit_codes) if policy.restart == "on-failure" else []
        else:
            ignored = list(ignored_exit_codes)
        threshold = (
            policy.start_retries
            if circuit_breaker_failure_threshold is None
            else circuit_breaker_failure_threshold
        )

        _check_types(problems, restart_policy, log_policy, launch)
        if (cluster is None) == (vpc is None):
            problems.add(
                "cluster/vpc",
                "both" if cluster is not None else "neither",
                "exactly one is needed to know where the tasks run",
                "give cluster=an ICluster, or vpc=an IVpc to make a cluster in",
            )
        check_policy_for_ecs(problems, policy, fargate=fargate)
        _check_count(problems, "desired_count", count, minimum=0)
        _check_count(problems, "circuit_breaker_failure_threshold", threshold, minimum=1)
        if fargate:
            _check_fargate_size(problems, cpu_, memory)
        else:
            _check_count(problems, "memory_limit_mib", memory, minimum=6)
        _check_exit_codes(problems, ignored)
        if log_buffer_size is not None:
            _check_buffer(problems, log_buffer_size)
        _check_count(problems, "crash_alarm_threshold", crash_threshold, minimum=1)
        window_seconds = _check_alarm_window(problems, window)
        problems.raise_if_any()

        super().__init__(scope, construct_id)
        self._restart_policy = policy
        self._log_policy = log_policy_

        if cluster is None:
            cluster = ecs.Cluster(self, "Cluster", vpc=vpc)

        self._log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=getattr(logs.RetentionDays, log_policy_.retention_name),
            removal_policy=RemovalPolicy.RETAIN
            if log_removal_policy is None
            else log_removal_policy,
        )

        window_is_token = is_unresolved(policy.start_window_seconds)
        task_definition: ecs.TaskDefinition
        if fargate:
            task_definition = ecs.FargateTaskDefinition(
                self, "TaskDefinition", cpu=cpu_, memory_limit_mib=memory
            )
        else:
            task_definition = ecs.Ec2TaskDefinition(
                self, "TaskDefinition", network_mode=ecs.NetworkMode.AWS_VPC
            )
        self._task_definition = task_definition

        self._container = task_definition.add_container(
            "Container",
            container_name="worker" if container_name is None else container_name,
            image=image,
            command=None if command is None else list(command),
            environment=None if environment is None else dict(environment),
            secrets=None if secrets is None else dict(secrets),
            essential=True,
            memory_limit_mib=None if fargate else memory,
            cpu=None if fargate else cpu_,
            stop_timeout=Duration.seconds(policy.stop_timeout_seconds),
            enable_restart_policy=True,
            # CDK checks the period eagerly and refuses tokens; a token is set on the L1 below.
            restart_attempt_period=Duration.seconds(
                RESTART_PERIOD_MIN if window_is_token else policy.start_window_seconds
            ),
            restart_ignored_exit_codes=ignored or None,
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix=construct_id,
                log_group=self._log_group,
                mode=ecs.AwsLogDriverMode.NON_BLOCKING,
                max_buffer_size=(
                    Size.bytes(_DEFAULT_BUFFER_BYTES)
                    if log_buffer_size is None
                    else log_buffer_size
                ),
            ),
        )

        if window_is_token:
            cfn_task = task_definition.node.default_child
            assert isinstance(cfn_task, ecs.CfnTaskDefinition)
            cfn_task.add_property_override(
                "ContainerDefinitions.0.RestartPolicy.RestartAttemptPeriod",
                policy.start_window_seconds,
            )

        alarm_config = None
        if deployment_alarms:
            alarm_config = ecs.DeploymentAlarmConfig(
                alarm_names=[alarm.alarm_name for alarm in deployment_alarms],
                behavior=ecs.AlarmBehavior.ROLLBACK_ON_ALARM,
            )
        common: dict[str, Any] = {
            "cluster": cluster,
            "task_definition": task_definition,
            "desired_count": count,
            "min_healthy_percent": 100,
            "max_healthy_percent": 200,
            "circuit_breaker": ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            "deployment_alarms": alarm_config,
            "service_name": service_name,
            "vpc_subnets": vpc_subnets,
            "security_groups": None if security_groups is None else list(security_groups),
            "assign_public_ip": False if assign_public_ip is None else assign_public_ip,
            "propagate_tags": ecs.PropagatedTagSource.SERVICE,
        }
        service: ecs.BaseService
        if fargate:
            service = ecs.FargateService(
                self,
                "Service",
                platform_version=(
                    ecs.FargatePlatformVersion.LATEST
                    if platform_version is None
                    else platform_version
                ),
                **common,
            )
        else:
            service = ecs.Ec2Service(self, "Service", **common)
        self._service = service
        record_policy(self, policy)
        cfn_service = service.node.default_child
        assert isinstance(cfn_service, ecs.CfnService)
        # The CDK L2 breaker does not expose these yet (aws-cdk #38243). Without them a daemon
        # that starts, passes as healthy and then dies resets the count and never trips it.
        cfn_service.add_property_override(
            "DeploymentConfiguration.DeploymentCircuitBreaker.ThresholdConfiguration",
            {"Type": "COUNT", "Value": threshold},
        )
        cfn_service.add_property_override(
            "DeploymentConfiguration.DeploymentCircuitBreaker.ResetOnHealthyTask", False
        )

        self._alarms: dict[str, cloudwatch.Alarm] = {}
        if alarms_on:
            actions = list(alarm_actions or [])
            if alarm_topic is not None:
                actions.append(cloudwatch_actions.SnsAction(alarm_topic))
            crash_alarms = CrashLoopAlarms(
                self,
                "Alarms",
                service=service,
                cluster=cluster,
                crash_threshold=int(crash_threshold),
                crash_window_seconds=window_seconds,
                actions=actions,
            )
            self._alarms = {
                "crash_loop": crash_alarms.crash_loop,
                "deployment_failed": crash_alarms.deployment_failed,
                "task_start_impaired": crash_alarms.start_impaired,
            }

    @property
    def alarms(self) -> Mapping[str, cloudwatch.Alarm]:
        """The crash-loop alarms by name (``crash_loop``, ``deployment_failed``,
        ``task_start_impaired``); empty when ``crash_loop_alarms`` is false."""
        return dict(self._alarms)

    @property
    def service(self) -> ecs.BaseService:
        """The ECS service (a ``FargateService`` or an ``Ec2Service``)."""
        return self._service

    @property
    def task_definition(self) -> ecs.TaskDefinition:
        """The task definition of the daemon."""
        return self._task_definition

    @property
    def container(self) -> ecs.ContainerDefinition:
        """The daemon's container."""
        return self._container

    @property
    def log_group(self) -> logs.LogGroup:
        """The log group the daemon's output goes to."""
        return self._log_group

    @property
    def restart_policy(self) -> RestartPolicy:
        """The restart policy in force for this service."""
        return self._restart_policy

    @property
    def log_policy(self) -> LogPolicy:
        """The log policy in force for this service."""
        return self._log_policy


def _check_types(
    problems: Problems,
    restart_policy: object,
    log_policy: object,
    launch: object,
) -> None:
    check_policies(problems, restart_policy, log_policy)
    if launch not in (ecs.LaunchType.FARGATE, ecs.LaunchType.EC2):
        problems.add(
            "launch_type", launch, "is not supported", "give LaunchType.FARGATE or LaunchType.EC2"
        )


def _check_count(problems: Problems, name: str, value: object, *, minimum: int) -> None:
    if is_unresolved(value):
        return
    if not isinstance(value, int) or isinstance(value, bool):
        problems.add(name, value, "is not a whole number", f"give a whole number >= {minimum}")
    elif value < minimum:
        problems.add(name, value, f"is below {minimum}", f"give a whole number >= {minimum}")


def _check_fargate_size(problems: Problems, cpu: object, memory: object) -> None:
    if is_unresolved(cpu) or is_unresolved(memory):
        return
    if cpu not in FARGATE_SIZES:
        problems.add(
            "cpu",
            cpu,
            "is not a Fargate task size",
            f"give one of {', '.join(str(size) for size in FARGATE_SIZES)}",
        )
        return
    assert isinstance(cpu, int)
    memories = FARGATE_SIZES[cpu]
    if memory not in memories:
        problems.add(
            "memory_limit_mib",
            memory,
            f"does not go with cpu={cpu} on Fargate",
            f"give one of {memories[0]}..{memories[-1]} in steps of "
            f"{memories[1] - memories[0]} MiB",
        )


def _check_exit_codes(problems: Problems, codes: Sequence[object]) -> None:
    bad = [
        code
        for code in codes
        if not is_unresolved(code)
        and (not isinstance(code, int) or isinstance(code, bool) or not 0 <= code <= 255)
    ]
    if bad:
        problems.add(
            "ignored_exit_codes",
            codes,
            f"holds {bad!r}, not exit codes",
            "give whole numbers 0..255",
        )
    if len(codes) > MAX_IGNORED_EXIT_CODES:
        problems.add(
            "ignored_exit_codes",
            f"{len(codes)} codes",
            f"is more than the {MAX_IGNORED_EXIT_CODES} ECS accepts",
            f"give at most {MAX_IGNORED_EXIT_CODES}",
        )


def _check_alarm_window(problems: Problems, window: object) -> int:
    try:
        seconds = to_seconds(window)
    except UnitError as exc:
        problems.add("crash_alarm_window", window, exc.reason, exc.fix)
        return 0
    if seconds < 60 or seconds % 60 or seconds > 86400:
        problems.add(
            "crash_alarm_window",
            f"{seconds:g} seconds",
            "is not a whole number of minutes from 1 minute to 1 day (a CloudWatch period)",
            "give e.g. Duration.minutes(15)",
        )
    return int(seconds)


def _check_buffer(problems: Problems, size: object) -> None:
    try:
        size_bytes = to_bytes(size)
    except UnitError as exc:
        problems.add("log_buffer_size", size, exc.reason, exc.fix)
        return
    if not is_unresolved(size_bytes) and size_bytes <= 0:
        problems.add(
            "log_buffer_size", size_bytes, "is not positive", "give e.g. Size.mebibytes(25)"
        )
