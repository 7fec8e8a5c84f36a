"""WorkerService's props: checked together (every problem in one PolicyError), then resolved."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import RemovalPolicy, Size
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from . import _worker_checks as checks
from ._ecs_alarms import CrashAlarmShape
from ._ecs_limits import check_policy_for_ecs
from ._errors import Problems
from ._policy_props import check_policies
from ._units import is_unresolved
from .log_policy import LogPolicy
from .policy import RestartPolicy
from .worker_capacity import WorkerCapacity, resolve_capacity
from .worker_scaling import WorkerScaling

DEFAULT_CPU = 256
DEFAULT_MEMORY_MIB = 512
DEFAULT_MIN_HEALTHY_PERCENT = 100
_DEFAULT_POLICY = RestartPolicy()
_DEFAULT_LOG_POLICY = LogPolicy()
_CAPACITY_KWARGS = (
    "launch_type",
    "capacity_provider_strategies",
    "network_mode",
    "platform_version",
)


@dataclass(frozen=True)
class Resolved:
    """The props with defaults resolved; types as WorkerService declares them."""

    image: ecs.ContainerImage
    cluster: ecs.ICluster | None
    vpc: ec2.IVpc | None
    command: Sequence[str] | None
    environment: Mapping[str, str] | None
    secrets: Mapping[str, ecs.Secret] | None
    cpu: int
    memory: int
    memory_reservation_mib: int | None
    desired_count: int | None
    scaling: WorkerScaling | None
    capacity: WorkerCapacity
    policy: RestartPolicy
    log_policy: LogPolicy
    ignored_exit_codes: Sequence[int]
    breaker_threshold: int
    min_healthy_percent: int
    deployment_alarms: Sequence[cloudwatch.IAlarm]
    log_group: logs.ILogGroup | None
    log_buffer_size: Size | None
    log_removal_policy: RemovalPolicy
    container_name: str
    service_name: str | None
    vpc_subnets: ec2.SubnetSelection | None
    security_groups: Sequence[ec2.ISecurityGroup] | None
    assign_public_ip: bool
    task_role: iam.IRole | None
    execution_role: iam.IRole | None
    enable_execute_command: bool
    health_check: ecs.HealthCheck | None
    heartbeat_max_age: float | None
    health_start_period: float
    runtime_platform: ecs.RuntimePlatform | None
    ephemeral_storage_gib: int | None
    alarms_on: bool
    alarm_actions: Sequence[cloudwatch.IAlarmAction]
    alarm_topic: sns.ITopic | None
    crash_alarm: CrashAlarmShape | None
    dashboard: bool


def _path(scope: Construct, construct_id: str) -> str:
    return "/".join(part for part in (scope.node.path, construct_id) if part)


def resolve(scope: Construct, construct_id: str, props: Mapping[str, Any]) -> Resolved:
    """Check every prop, raise one PolicyError naming all problems, or return them resolved."""
    p = props
    problems = checks.ReadableProblems(lambda: f"WorkerService {_path(scope, construct_id)}")
    # A wrong type is reported below; the defaults stand in so that the other checks still run.
    given_policy = p["restart_policy"]
    policy = given_policy if isinstance(given_policy, RestartPolicy) else _DEFAULT_POLICY
    given_logs = p["log_policy"]
    log_policy = given_logs if isinstance(given_logs, LogPolicy) else _DEFAULT_LOG_POLICY
    check_policies(problems, given_policy, given_logs)

    capacity = checks.read_cluster_default(
        problems, p["cluster"], _capacity(problems, p), _capacity_field(p)
    )
    cpu = DEFAULT_CPU if p["cpu"] is None else p["cpu"]
    memory = DEFAULT_MEMORY_MIB if p["memory_limit_mib"] is None else p["memory_limit_mib"]
    scaling = p["scaling"]
    if isinstance(scaling, WorkerScaling):
        problems.extend(scaling.problems, prefix="scaling.")
    desired = p["desired_count"]
    if scaling is None and desired is None:
        desired = 1
    alarms_on = True if p["crash_loop_alarms"] is None else bool(p["crash_loop_alarms"])
    crash_threshold = (
        policy.start_retries if p["crash_alarm_threshold"] is None else p["crash_alarm_threshold"]
    )
    if p["ignored_exit_codes"] is None:
        ignored = list(policy.exit_codes) if policy.restart == "on-failure" else []
    else:
        ignored = list(p["ignored_exit_codes"])
    threshold = (
        policy.start_retries
        if p["circuit_breaker_failure_threshold"] is None
        else p["circuit_breaker_failure_threshold"]
    )
    min_healthy = (
        DEFAULT_MIN_HEALTHY_PERCENT
        if p["min_healthy_percent"] is None
        else p["min_healthy_percent"]
    )

    if (p["cluster"] is None) == (p["vpc"] is None):
        problems.add(
            "cluster/vpc",
            "both" if p["cluster"] is not None else "neither",
            "exactly one is needed to know where the tasks run",
            "give cluster=an ICluster, or vpc=an IVpc to make a cluster in",
        )
    check_policy_for_ecs(problems, policy, fargate=capacity.fargate)
    if desired is not None:
        checks.check_count(problems, "desired_count", desired, minimum=0)
    checks.check_scaling_count(problems, p["desired_count"], scaling, p["cluster"])
    checks.check_count(problems, "circuit_breaker_failure_threshold", threshold, minimum=1)
    if capacity.fargate:
        checks.check_fargate_size(problems, cpu, memory)
    else:
        checks.check_count(problems, "memory_limit_mib", memory, minimum=6)
    checks.check_memory_reservation(problems, p["memory_reservation_mib"], memory)
    checks.check_exit_codes(problems, ignored)
    if p["log_buffer_size"] is not None:
        checks.check_buffer(problems, p["log_buffer_size"])
    if p["log_group"] is not None and p["log_removal_policy"] is not None:
        problems.add(
            "log_removal_policy",
            p["log_removal_policy"],
            "only applies to the log group WorkerService makes, and log_group is given",
            "leave log_removal_policy unset with an existing log group",
        )
    checks.check_min_healthy_percent(problems, min_healthy)
    checks.check_network(
        problems, capacity, p["vpc_subnets"], p["security_groups"], p["assign_public_ip"]
    )
    checks.check_cluster_capacity(problems, p["cluster"], capacity, _capacity_field(p))
    checks.check_platform(problems, p["runtime_platform"], capacity, p["ephemeral_storage_gib"])
    window_s = policy.start_window_seconds
    max_age = checks.check_health(problems, p["health_check"], p["heartbeat_max_age"], window_s)
    if p["dashboard"] and not alarms_on:
        problems.add(
            "dashboard",
            True,
            "shows the crash metric, and crash_loop_alarms=False makes none",
            "leave crash_loop_alarms on, or dashboard unset",
        )
    checks.check_count(problems, "crash_alarm_threshold", crash_threshold, minimum=1)
    shape = (
        checks.check_crash_alarm(problems, policy, crash_threshold, p["crash_alarm_window"])
        if alarms_on
        else None
    )
    problems.raise_if_any()

    health = p["health_check"]
    return Resolved(
        image=p["image"],
        cluster=p["cluster"],
        vpc=p["vpc"],
        command=p["command"],
        environment=p["environment"],
        secrets=p["secrets"],
        cpu=cpu,
        memory=memory,
        memory_reservation_mib=p["memory_reservation_mib"],
        desired_count=desired,
        scaling=scaling,
        capacity=capacity,
        policy=policy,
        log_policy=log_policy,
        ignored_exit_codes=ignored,
        breaker_threshold=threshold,
        min_healthy_percent=min_healthy,
        deployment_alarms=list(p["deployment_alarms"] or []),
        log_group=p["log_group"],
        log_buffer_size=p["log_buffer_size"],
        log_removal_policy=RemovalPolicy.RETAIN
        if p["log_removal_policy"] is None
        else p["log_removal_policy"],
        container_name="worker" if p["container_name"] is None else p["container_name"],
        service_name=p["service_name"],
        vpc_subnets=p["vpc_subnets"],
        security_groups=p["security_groups"],
        assign_public_ip=bool(p["assign_public_ip"]),
        task_role=p["task_role"],
        execution_role=p["execution_role"],
        enable_execute_command=bool(p["enable_execute_command"]),
        health_check=health if isinstance(health, ecs.HealthCheck) else None,
        heartbeat_max_age=max_age,
        health_start_period=window_s
        if is_unresolved(window_s)
        else min(window_s, checks.HEALTH_START_PERIOD_MAX),
        runtime_platform=p["runtime_platform"],
        ephemeral_storage_gib=p["ephemeral_storage_gib"],
        alarms_on=alarms_on,
        alarm_actions=list(p["alarm_actions"] or []),
        alarm_topic=p["alarm_topic"],
        crash_alarm=shape,
        dashboard=bool(p["dashboard"]),
    )


def _capacity_field(p: Mapping[str, Any]) -> str:
    return "capacity" if p["capacity"] is not None else "capacity_provider_strategies"


def _capacity(problems: Problems, p: Mapping[str, Any]) -> WorkerCapacity:
    given = p["capacity"]
    kwargs = {name: p[name] for name in _CAPACITY_KWARGS if p[name] is not None}
    if given is not None:
        if not isinstance(given, WorkerCapacity):
            problems.add(
                "capacity",
                given,
                "is not a WorkerCapacity",
                "give e.g. WorkerCapacity.fargate_spot()",
            )
        elif kwargs:
            problems.add(
                "capacity",
                given,
                f"is given together with {', '.join(kwargs)}",
                "give capacity=WorkerCapacity(...) or the keyword arguments, not both",
            )
        else:
            problems.extend(given.problems, prefix="capacity.")
            return given
    capacity = WorkerCapacity.__new__(WorkerCapacity)
    capacity.problems = Problems("WorkerCapacity")
    resolve_capacity(
        problems,
        capacity,
        launch_type=p["launch_type"],
        capacity_provider_strategies=p["capacity_provider_strategies"],
        network_mode=p["network_mode"],
        platform_version=p["platform_version"],
    )
    return capacity
