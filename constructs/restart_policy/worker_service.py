"""``WorkerService``: an ECS service for a long-running daemon, restarted by the policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from aws_cdk import Annotations, Duration, RemovalPolicy, Size
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from . import _ecs_alarms
from ._errors import Problems
from ._worker_deploy import (
    build_service,
    deployment_alarm_name,
    deployment_alarm_names,
    service_spec,
    set_deployment_alarms,
)
from ._worker_props import Resolved, resolve
from ._worker_scaling import apply_scaling
from ._worker_task import build_task, task_spec
from .log_policy import LogPolicy
from .policy import RestartPolicy
from .worker_capacity import WorkerCapacity
from .worker_scaling import WorkerScaling

__all__ = ["WorkerService"]

NO_ALARM_ACTION_WARNING = "restart-policy:workerAlarmsNotifyNobody"


class WorkerService(Construct):
    """An ECS service that runs a long-running daemon (a queue consumer, a poller) by the policy.

    By default: a circuit breaker with rollback that counts every failed task, the container
    restart policy with the policy's start window, the crash hold (``RESTART_POLICY_HOLD``) and a
    heartbeat health check (``RESTART_POLICY_HEARTBEAT``), the policy's stop timeout, awslogs in
    non-blocking mode into a log group of its own, 100/200 healthy percent, and crash-loop alarms
    (a metric filter and an alarm on the daemon's crash lines, also the deployment's rollback
    alarm, and a composite "unhealthy" alarm that notifies). The README lists every prop; the
    option objects ``WorkerCapacity`` and ``WorkerScaling`` group capacity and scaling.

    :param image: The container image of the daemon.
    :param cluster: The cluster to run in. Give ``cluster`` or ``vpc``, not both.
    :param vpc: A VPC in which a new cluster is made. Give ``cluster`` or ``vpc``, not both.
    :param command: The daemon's command. Default: the image's own ``CMD``.
    :param environment: Environment variables; they win over the library's
        ``RESTART_POLICY_HOLD`` and ``RESTART_POLICY_HEARTBEAT``. Default: none.
    :param secrets: Secrets given to the container as environment variables. Default: none.
    :param cpu: CPU units of the task. Default: 256 (a quarter vCPU), Fargate's smallest.
    :param memory_limit_mib: Memory of the task in MiB (the container's hard limit on EC2).
        Default: 512, Fargate's smallest.
    :param memory_reservation_mib: The container's soft memory limit. Default: none.
    :param desired_count: How many tasks run. Default: 1 without ``scaling``; with ``scaling``
        the service sets none, so that a deploy never resets the count scaling reached.
    :param scaling: A ``WorkerScaling`` (queue depth, CPU, memory, schedules). Default: none.
    :param capacity: A ``WorkerCapacity``, instead of the four keyword arguments below.
        Default: Fargate by launch type.
    :param launch_type: ``LaunchType.FARGATE`` or ``LaunchType.EC2``. Default: Fargate, unless
        ``capacity_provider_strategies`` are given.
    :param capacity_provider_strategies: Capacity providers (Fargate, Fargate Spot, an ASG
        capacity provider of the cluster); the service then has no launch type. Default: none.
    :param network_mode: ``AWS_VPC``, or ``BRIDGE``/``HOST`` on EC2. Default: ``AWS_VPC``.
    :param platform_version: Fargate platform version. Default: ``LATEST``.
    :param restart_policy: The restart policy. Default: ``RestartPolicy()``.
    :param log_policy: The log policy (its ``retention`` applies). Default: ``LogPolicy()``.
    :param ignored_exit_codes: Exit codes after which the container is not restarted in place.
        Default: none when the policy restarts always; its ``exit_codes`` when on failure only.
    :param circuit_breaker_failure_threshold: Failed tasks after which a deployment fails and is
        rolled back. Default: the policy's ``start_retries``.
    :param min_healthy_percent: Lowest share of tasks kept running during a deployment.
        Default: 100 (a worker keeps its full count).
    :param deployment_alarms: More alarms that fail and roll back a deployment. Default: none
        (the crash-loop alarm always does, while alarms are on).
    :param log_group: An existing log group. Default: a new one with the log policy's retention.
    :param log_buffer_size: Buffer of the non-blocking awslogs driver. Default: 25 MiB.
    :param log_removal_policy: What happens to the new log group when it leaves the stack.
        Default: ``RemovalPolicy.RETAIN``.
    :param container_name: Name of the daemon's container. Default: ``worker``.
    :param service_name: Name of the service. Default: a CloudFormation-generated name.
    :param vpc_subnets: Subnets of the tasks (awsvpc). Default: the cluster VPC's private ones.
    :param security_groups: Security groups of the tasks (awsvpc). Default: a new one, no ingress.
    :param assign_public_ip: Give tasks a public IP (awsvpc). Default: false.
    :param task_role: The daemon's role. Default: a new role with no permissions.
    :param execution_role: The ECS agent's role. Default: one role per stack shared by its
        workers, with the grants each needs (only the agent assumes it).
    :param enable_execute_command: ECS Exec into the container, with the permissions AWS
        documents on the task role and session logs in the service's log group. Default: false.
    :param health_check: The container health check, or ``False`` for none. Default: the
        runtime's heartbeat (``python3 -m restart_policy.health``), start period = start window.
    :param heartbeat_max_age: How old the heartbeat may get before the container is unhealthy.
        Default: 5 minutes.
    :param runtime_platform: CPU architecture (e.g. ARM64). Default: the platform's (X86_64).
    :param ephemeral_storage_gib: Fargate ephemeral storage (21..200 GiB). Default: Fargate's 20.
    :param crash_loop_alarms: Make the alarms. Default: true.
    :param alarm_actions: Actions of the unhealthy alarm (alarm and OK). Default: none (a
        synth-time warning says so).
    :param alarm_topic: An SNS topic to notify, in addition to ``alarm_actions``. Default: none.
    :param crash_alarm_threshold: Minutes with a crash that make a crash loop (M of an M-of-N
        alarm on 1-minute periods). Default: ``start_retries``.
    :param crash_alarm_window: The N minutes they are counted in; at least what a loop at the
        back-off maximum needs to stay in ALARM (else a ``PolicyError``). Default: that least,
        ``threshold x (floor((backoff_max x 1.2 + start_window + 60 s) / 60 s) + 1)`` minutes:
        50 minutes for the defaults.
    :param dashboard: Add a row for this worker to its cluster's CloudWatch dashboard (one per
        cluster and stack). Default: false.
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
        memory_reservation_mib: int | None = None,
        desired_count: int | None = None,
        scaling: WorkerScaling | None = None,
        capacity: WorkerCapacity | None = None,
        launch_type: ecs.LaunchType | None = None,
        capacity_provider_strategies: Sequence[ecs.CapacityProviderStrategy] | None = None,
        network_mode: ecs.NetworkMode | None = None,
        platform_version: ecs.FargatePlatformVersion | None = None,
        restart_policy: RestartPolicy | None = None,
        log_policy: LogPolicy | None = None,
        ignored_exit_codes: Sequence[int] | None = None,
        circuit_breaker_failure_threshold: int | None = None,
        min_healthy_percent: int | None = None,
        deployment_alarms: Sequence[cloudwatch.IAlarm] | None = None,
        log_group: logs.ILogGroup | None = None,
        log_buffer_size: Size | None = None,
        log_removal_policy: RemovalPolicy | None = None,
        container_name: str | None = None,
        service_name: str | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        assign_public_ip: bool | None = None,
        task_role: iam.IRole | None = None,
        execution_role: iam.IRole | None = None,
        enable_execute_command: bool | None = None,
        health_check: ecs.HealthCheck | Literal[False] | None = None,
        heartbeat_max_age: Duration | None = None,
        runtime_platform: ecs.RuntimePlatform | None = None,
        ephemeral_storage_gib: int | None = None,
        crash_loop_alarms: bool | None = None,
        alarm_actions: Sequence[cloudwatch.IAlarmAction] | None = None,
        alarm_topic: sns.ITopic | None = None,
        crash_alarm_threshold: int | None = None,
        crash_alarm_window: Duration | None = None,
        dashboard: bool | None = None,
    ) -> None:
        """Build the worker service in ``scope`` under ``construct_id``; the props are
        documented on the class. Raises ``PolicyError`` listing every problem before building."""
        r = resolve(scope, construct_id, dict(locals()))  # every problem in one PolicyError
        super().__init__(scope, construct_id)
        self._restart_policy, self._log_policy = r.policy, r.log_policy
        cluster_ = ecs.Cluster(self, "Cluster", vpc=r.vpc) if r.cluster is None else r.cluster
        self._log_group: logs.ILogGroup = (
            logs.LogGroup(
                self,
                "LogGroup",
                retention=getattr(logs.RetentionDays, r.log_policy.retention_name),
                removal_policy=r.log_removal_policy,
            )
            if r.log_group is None
            else r.log_group
        )
        crash_metric = crash_alarm = None
        if r.crash_alarm is not None:
            crash_metric, crash_alarm = _ecs_alarms.crash_alarm(
                self,
                log_group=self._log_group,
                metric_name=_ecs_alarms.crash_metric_name(self),
                shape=r.crash_alarm,
            )
        self._task_definition, self._container = build_task(
            self, task_spec(self, r, self._log_group)
        )
        self._service = build_service(
            self, service_spec(r, cluster_, self._task_definition, self._log_group, crash_alarm)
        )
        self._deployment_alarm_names = deployment_alarm_names(crash_alarm, r.deployment_alarms)
        self._scaling = None if r.scaling is None else apply_scaling(self._service, r.scaling)
        self._alarms: dict[str, cloudwatch.AlarmBase] = {}
        if crash_alarm is not None and crash_metric is not None:
            self._alarms = self._notify(r, crash_alarm)
            if r.dashboard:
                _ecs_alarms.add_to_dashboard(
                    self,
                    cluster=cluster_,
                    service=self._service,
                    crash_metric=crash_metric,
                    log_group=self._log_group,
                    title=self.node.path,
                )

    def _notify(
        self, r: Resolved, crash_alarm: cloudwatch.Alarm
    ) -> dict[str, cloudwatch.AlarmBase]:
        actions = list(r.alarm_actions)
        if r.alarm_topic is not None:
            actions.append(cloudwatch_actions.SnsAction(r.alarm_topic))
        unhealthy = _ecs_alarms.unhealthy_alarm(
            self, children=[crash_alarm, *r.deployment_alarms], actions=actions
        )
        if not actions:
            Annotations.of(self).add_warning_v2(
                NO_ALARM_ACTION_WARNING,
                "The crash-loop alarms notify nobody: give alarm_topic= or alarm_actions=, "
                "or crash_loop_alarms=False to make none.",
            )
        return {"crash_loop": crash_alarm, "unhealthy": unhealthy}

    def add_deployment_alarm(self, alarm: cloudwatch.IAlarm | str) -> None:
        """Fail and roll back a deployment also when ``alarm`` (or the alarm of that name)
        fires, e.g. one on this service's own metrics, made after it. Use this rather than
        ``service.enable_deployment_alarms``, which drops the names once the crash alarm is on.
        An alarm with a fixed ``alarm_name`` is listed by that name; one that watches this
        service with a CloudFormation-made name would make a circular dependency and is
        refused with a ``PolicyError``."""
        name = deployment_alarm_name(alarm, self._service)
        if name is None:
            problems = Problems(f"WorkerService {self.node.path}")
            problems.add(
                "add_deployment_alarm",
                alarm.node.path if not isinstance(alarm, str) else alarm,
                "watches this service and its name is made by CloudFormation: the service "
                "would need the alarm's name and the alarm the service's, a circular dependency",
                "give the alarm a fixed alarm_name=... (it is then listed by that name)",
            )
            problems.raise_if_any()
            return
        self._deployment_alarm_names.append(name)
        set_deployment_alarms(self._service, self._deployment_alarm_names)

    @property
    def alarms(self) -> Mapping[str, cloudwatch.AlarmBase]:
        """The alarms by name: ``crash_loop`` (the crash count; also the deployment's rollback
        alarm) and ``unhealthy`` (the composite that notifies); empty when alarms are off."""
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
    def log_group(self) -> logs.ILogGroup:
        """The log group the daemon's output goes to."""
        return self._log_group

    @property
    def scalable_task_count(self) -> ecs.ScalableTaskCount | None:
        """The scalable task count when ``scaling`` is given, for more policies."""
        return self._scaling

    @property
    def restart_policy(self) -> RestartPolicy:
        """The restart policy in force for this service."""
        return self._restart_policy

    @property
    def log_policy(self) -> LogPolicy:
        """The log policy in force for this service."""
        return self._log_policy
