"""The task definition and the daemon's container of a WorkerService."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_cdk import Duration, Size, Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from ._ecs_limits import RESTART_PERIOD_MIN
from ._units import is_unresolved
from ._worker_roles import shared_execution_role
from .policy import RestartPolicy
from .worker_capacity import WorkerCapacity

if TYPE_CHECKING:
    from ._worker_props import Resolved

HEARTBEAT_ENV = "RESTART_POLICY_HEARTBEAT"
HOLD_ENV = "RESTART_POLICY_HOLD"
#: In /tmp so that it works with any user the image runs as.
HEARTBEAT_PATH = "/tmp/restart-policy-heartbeat"
#: Tasks of a service that crashed together must not all restart into a recovering dependency in
#: the same second.
HOLD_JITTER = 0.2
DEFAULT_HEARTBEAT_MAX_AGE_SECONDS = 300
HEALTH_INTERVAL_SECONDS = 30
HEALTH_TIMEOUT_SECONDS = 5
HEALTH_RETRIES = 3
DEFAULT_BUFFER_BYTES = 25 * 1024 * 1024


@dataclass(frozen=True)
class TaskSpec:
    """Everything the task needs, checked and with defaults resolved."""

    stream_prefix: str
    image: ecs.ContainerImage
    command: Sequence[str] | None
    environment: Mapping[str, str] | None
    secrets: Mapping[str, ecs.Secret] | None
    capacity: WorkerCapacity
    cpu: int
    memory_mib: int
    memory_reservation_mib: int | None
    policy: RestartPolicy
    ignored_exit_codes: Sequence[int]
    log_group: logs.ILogGroup
    log_buffer_size: Size | None
    container_name: str
    task_role: iam.IRole | None
    execution_role: iam.IRole
    runtime_platform: ecs.RuntimePlatform | None
    ephemeral_storage_gib: int | None
    health_check: ecs.HealthCheck | None
    heartbeat: bool


def hold_settings(policy: RestartPolicy) -> dict[str, float] | None:
    """The crash hold's settings (``RESTART_POLICY_HOLD``), or None when the policy has no
    back-off."""
    if not policy.backoff:
        return None
    return {
        "start_window": _number(policy.start_window_seconds),
        "initial": _number(policy.backoff_initial_seconds),
        "maximum": _number(policy.backoff_max_seconds),
        "healthy_reset": _number(policy.healthy_reset_seconds),
        "jitter": HOLD_JITTER,
    }


@functools.lru_cache(maxsize=64)
def heartbeat_health_check(max_age_seconds: float, start_period_seconds: float) -> ecs.HealthCheck:
    """The container health check that reads the runtime's heartbeat file (cached: each
    ``Duration`` is a jsii round trip, and the check is the same for most workers)."""
    return ecs.HealthCheck(
        command=[
            "CMD",
            "python3",
            "-m",
            "restart_policy.health",
            "--max-age",
            str(int(max_age_seconds)),
        ],
        interval=Duration.seconds(HEALTH_INTERVAL_SECONDS),
        timeout=Duration.seconds(HEALTH_TIMEOUT_SECONDS),
        retries=HEALTH_RETRIES,
        start_period=Duration.seconds(start_period_seconds),
    )


def task_spec(scope: Construct, r: Resolved, log_group: logs.ILogGroup) -> TaskSpec:
    """The task's spec from WorkerService's resolved props."""
    health = r.health_check
    if r.heartbeat_max_age is not None:
        health = heartbeat_health_check(r.heartbeat_max_age, r.health_start_period)
    return TaskSpec(
        stream_prefix=scope.node.id,
        image=r.image,
        command=r.command,
        environment=r.environment,
        secrets=r.secrets,
        capacity=r.capacity,
        cpu=r.cpu,
        memory_mib=r.memory,
        memory_reservation_mib=r.memory_reservation_mib,
        policy=r.policy,
        ignored_exit_codes=r.ignored_exit_codes,
        log_group=log_group,
        log_buffer_size=r.log_buffer_size,
        container_name=r.container_name,
        task_role=r.task_role,
        execution_role=shared_execution_role(scope)
        if r.execution_role is None
        else r.execution_role,
        runtime_platform=r.runtime_platform,
        ephemeral_storage_gib=r.ephemeral_storage_gib,
        health_check=health,
        heartbeat=r.heartbeat_max_age is not None,
    )


def build_task(
    scope: Construct, spec: TaskSpec
) -> tuple[ecs.TaskDefinition, ecs.ContainerDefinition]:
    fargate = spec.capacity.fargate
    task_definition: ecs.TaskDefinition
    if fargate:
        task_definition = ecs.FargateTaskDefinition(
            scope,
            "TaskDefinition",
            cpu=spec.cpu,
            memory_limit_mib=spec.memory_mib,
            task_role=spec.task_role,
            execution_role=spec.execution_role,
            runtime_platform=spec.runtime_platform,
            ephemeral_storage_gib=spec.ephemeral_storage_gib,
        )
    else:
        task_definition = ecs.Ec2TaskDefinition(
            scope,
            "TaskDefinition",
            network_mode=spec.capacity.network_mode,
            task_role=spec.task_role,
            execution_role=spec.execution_role,
        )
        if spec.runtime_platform is not None:
            cfn = task_definition.node.default_child
            assert isinstance(cfn, ecs.CfnTaskDefinition)
            platform = spec.runtime_platform
            cfn.runtime_platform = ecs.CfnTaskDefinition.RuntimePlatformProperty(
                cpu_architecture=None
                if platform.cpu_architecture is None
                else _architecture_name(platform.cpu_architecture),
                operating_system_family=None
                if platform.operating_system_family is None
                else "LINUX",
            )

    policy = spec.policy
    window_is_token = is_unresolved(policy.start_window_seconds)
    container = task_definition.add_container(
        "Container",
        container_name=spec.container_name,
        image=spec.image,
        command=None if spec.command is None else list(spec.command),
        environment=_environment(scope, spec),
        secrets=None if spec.secrets is None else dict(spec.secrets),
        essential=True,
        memory_limit_mib=None if fargate else spec.memory_mib,
        memory_reservation_mib=spec.memory_reservation_mib,
        cpu=None if fargate else spec.cpu,
        stop_timeout=Duration.seconds(policy.stop_timeout_seconds),
        enable_restart_policy=True,
        # CDK checks the period eagerly and refuses tokens; a token is set on the L1 below.
        restart_attempt_period=Duration.seconds(
            RESTART_PERIOD_MIN if window_is_token else policy.start_window_seconds
        ),
        restart_ignored_exit_codes=list(spec.ignored_exit_codes) or None,
        health_check=spec.health_check,
        logging=ecs.LogDrivers.aws_logs(
            stream_prefix=spec.stream_prefix,
            log_group=spec.log_group,
            mode=ecs.AwsLogDriverMode.NON_BLOCKING,
            max_buffer_size=(
                Size.bytes(DEFAULT_BUFFER_BYTES)
                if spec.log_buffer_size is None
                else spec.log_buffer_size
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
    return task_definition, container


def _environment(scope: Construct, spec: TaskSpec) -> dict[str, str] | None:
    env: dict[str, str] = {}
    hold = hold_settings(spec.policy)
    if hold is not None:
        if any(is_unresolved(value) for value in hold.values()):
            env[HOLD_ENV] = Stack.of(scope).to_json_string(hold)
        else:
            env[HOLD_ENV] = json.dumps(hold, separators=(",", ":"))
    if spec.heartbeat:
        env[HEARTBEAT_ENV] = HEARTBEAT_PATH
    # The user's own values win: they may point the heartbeat elsewhere or tune the hold.
    env.update(spec.environment or {})
    return env or None


def same_object(first: object, second: object) -> bool:
    """jsii hands out a new proxy for the same JavaScript object (CDK's enum-like classes such
    as ``CpuArchitecture.ARM64``), so identity is judged by the kernel's reference."""
    refs = [getattr(getattr(item, "__jsii_ref__", None), "ref", None) for item in (first, second)]
    return first is second or (refs[0] is not None and refs[0] == refs[1])


def _number(value: float) -> Any:
    if is_unresolved(value):
        return value
    return int(value) if value == int(value) else value


def _architecture_name(architecture: ecs.CpuArchitecture) -> str:
    return "ARM64" if same_object(architecture, ecs.CpuArchitecture.ARM64) else "X86_64"
