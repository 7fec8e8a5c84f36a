"""The checks of WorkerService's props: each adds problems, none raises."""

from __future__ import annotations

import enum
from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from ._ecs_alarms import (
    ALARM_PERIOD_SECONDS,
    EVALUATION_RANGE_MAX_SECONDS,
    CrashAlarmShape,
    crash_alarm_shape,
    longest_crash_gap,
)
from ._ecs_limits import FARGATE_SIZES, MAX_IGNORED_EXIT_CODES, RESTART_PERIOD_MAX
from ._errors import Problems
from ._units import UnitError, describe_seconds, is_unresolved, to_bytes, to_seconds
from ._worker_task import DEFAULT_HEARTBEAT_MAX_AGE_SECONDS, HOLD_JITTER, same_object
from .policy import RestartPolicy
from .worker_capacity import WorkerCapacity
from .worker_scaling import WorkerScaling

#: ECS's limits of a container health check (startPeriod 0..300 s).
HEALTH_START_PERIOD_MAX = 300
FARGATE_EPHEMERAL_GIB = (21, 200)
_FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


class Shown(str):
    """A value as the message shows it: without the quotes ``repr`` would add."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def readable(value: object) -> object:
    """``Duration.seconds(1)`` as ``1 s``, ``OperatingSystemFamily.WINDOWS_SERVER_2022_CORE`` and
    ``NetworkMode.BRIDGE`` by name, rather than jsii's ``<aws_cdk.Duration object at 0x..>``."""
    if isinstance(value, Duration):
        try:
            return Shown(f"{to_seconds(value):g} s")
        except UnitError:
            return Shown("a Duration token")
    if isinstance(value, enum.Enum):
        return Shown(f"{type(value).__name__}.{value.name}")
    kind = type(value)
    if getattr(value, "__jsii_ref__", None) is not None and kind.__module__.startswith("aws_cdk"):
        for name in dir(kind):
            if name.isupper() and same_object(getattr(kind, name, None), value):
                return Shown(f"{kind.__name__}.{name}")
    return value


class ReadableProblems(Problems):
    """WorkerService's problems, each value shown as ``readable`` shows it."""

    def add(self, field_name: str, value: object, reason: str, fix: str) -> None:
        super().add(field_name, readable(value), reason, fix)

    def extend(self, other: Problems, prefix: str = "") -> None:
        for item in other.items:
            self.add(f"{prefix}{item.field}", item.value, item.reason, item.fix)


def provider_names(cluster: object, names: Sequence[str]) -> list[object]:
    """Capacity provider names for a message: an ``AsgCapacityProvider``'s name is a token
    until deploy, so it is shown by the construct's path."""
    if not any(is_unresolved(name) for name in names) or not isinstance(cluster, Construct):
        return list(names)
    by_token = {
        child.capacity_provider_name: child.node.path
        for child in cluster.node.root.node.find_all()
        if isinstance(child, ecs.AsgCapacityProvider)
    }
    return [
        Shown(f"AsgCapacityProvider {by_token[name]}") if name in by_token else name
        for name in names
    ]


def check_count(problems: Problems, name: str, value: object, *, minimum: int) -> None:
    if is_unresolved(value):
        return
    if not isinstance(value, int) or isinstance(value, bool):
        problems.add(name, value, "is not a whole number", f"give a whole number >= {minimum}")
    elif value < minimum:
        problems.add(name, value, f"is below {minimum}", f"give a whole number >= {minimum}")


def check_fargate_size(problems: Problems, cpu: object, memory: object) -> None:
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
            f"give one of {', '.join(str(size) for size in memories)} (MiB), or another cpu",
        )


def check_exit_codes(problems: Problems, codes: Sequence[object]) -> None:
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


def check_crash_alarm(
    problems: Problems, policy: RestartPolicy, threshold: object, window: object
) -> CrashAlarmShape | None:
    """The crash alarm's M of N: N from the policy's slowest crash loop, or from
    ``crash_alarm_window`` when it is long enough to keep that loop in ALARM."""
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
        return None  # check_count reports it
    start_window = policy.start_window_seconds
    if is_unresolved(start_window):
        start_window = RESTART_PERIOD_MAX  # ECS accepts no longer restart attempt period
    if is_unresolved(policy.backoff_max_seconds):
        if window is None:
            problems.add(
                "crash_alarm_window",
                None,
                "cannot be derived from a restart policy whose backoff_max is a token",
                "give crash_alarm_window=Duration.minutes(...), at least crash_alarm_threshold x "
                "(backoff_max x 1.2 + start_window + 60 s) + crash_alarm_threshold minutes",
            )
            return None
        backoff_max = float(RESTART_PERIOD_MAX)  # only names a length in the messages below
    else:
        backoff_max = float(policy.backoff_max_seconds)
    gap = longest_crash_gap(
        start_window=float(start_window),
        backoff_max=backoff_max,
        jitter=HOLD_JITTER if policy.backoff else 0.0,
    )
    needed = crash_alarm_shape(threshold=threshold, longest_gap_seconds=gap)
    if window is None:
        if needed.range_seconds > EVALUATION_RANGE_MAX_SECONDS:
            problems.add(
                "crash_alarm_threshold",
                threshold,
                f"crash-loop crashes up to {describe_seconds(gap)} apart need "
                f"{needed.periods} minutes of evaluation, above CloudWatch's one day",
                "give a smaller crash_alarm_threshold or backoff_max, or crash_loop_alarms=False",
            )
            return None
        return needed
    try:
        seconds = to_seconds(window)
    except UnitError as exc:
        problems.add("crash_alarm_window", window, exc.reason, exc.fix)
        return None
    if is_unresolved(seconds):
        problems.add(
            "crash_alarm_window",
            "a deploy-time token",
            "sets the alarm's number of evaluation periods, which CDK must know at synth",
            f"give e.g. Duration.minutes({needed.periods})",
        )
        return None
    if (
        seconds < threshold * ALARM_PERIOD_SECONDS
        or seconds % ALARM_PERIOD_SECONDS
        or seconds > EVALUATION_RANGE_MAX_SECONDS
    ):
        problems.add(
            "crash_alarm_window",
            describe_seconds(seconds),
            "is not a whole number of minutes from 1 minute to 1 day (CloudWatch's evaluation "
            "range)",
            f"give e.g. Duration.minutes({needed.periods})",
        )
        return None
    if seconds < needed.range_seconds and not is_unresolved(policy.backoff_max_seconds):
        reason = (
            f"is shorter than {threshold} crashes of a loop at the back-off maximum (up to "
            f"{describe_seconds(gap)} apart), so the alarm would return to OK while the loop "
            "goes on"
        )
        if needed.range_seconds <= EVALUATION_RANGE_MAX_SECONDS:
            problems.add(
                "crash_alarm_window",
                describe_seconds(seconds),
                reason,
                f"give at least Duration.minutes({needed.periods}), or leave it unset",
            )
        else:  # a longer window cannot mend a loop that needs more than CloudWatch's one day
            problems.add(
                "crash_alarm_window",
                describe_seconds(seconds),
                reason,
                "give a smaller crash_alarm_threshold or backoff_max, or crash_loop_alarms=False",
            )
        return None
    return CrashAlarmShape(
        datapoints=threshold,
        periods=int(seconds) // ALARM_PERIOD_SECONDS,
        longest_gap_seconds=gap,
    )


def check_buffer(problems: Problems, size: object) -> None:
    try:
        size_bytes = to_bytes(size)
    except UnitError as exc:
        problems.add("log_buffer_size", size, exc.reason, exc.fix)
        return
    if not is_unresolved(size_bytes) and size_bytes <= 0:
        problems.add(
            "log_buffer_size", size_bytes, "is not positive", "give e.g. Size.mebibytes(25)"
        )


def read_cluster_default(
    problems: Problems, cluster: object, capacity: WorkerCapacity, field: str
) -> WorkerCapacity:
    """``cluster_default()`` runs on whatever the cluster's default strategy names: read Fargate
    or EC2 from it (the task definition's compatibility and every Fargate check follow)."""
    if not capacity.uses_cluster_default or not isinstance(cluster, ecs.Cluster):
        return capacity
    strategies = list(cluster.default_capacity_provider_strategy)
    if not strategies:
        return capacity  # check_cluster_capacity reports it
    derived = capacity.on_cluster_default(strategies)
    declared = capacity.declared_fargate
    if declared is not None and declared != derived.fargate:
        problems.add(
            field,
            f"cluster_default(fargate={declared})",
            "contradicts the cluster's default strategy, which holds "
            + ("Fargate providers" if derived.fargate else "Auto Scaling group providers"),
            "leave fargate unset: it is read from the cluster",
        )
    if derived.fargate and derived.network_mode != ecs.NetworkMode.AWS_VPC:
        problems.add(
            "network_mode",
            readable(derived.network_mode),
            "is not awsvpc, and the cluster's default strategy runs the tasks on Fargate",
            "leave network_mode unset on Fargate, or give the cluster an EC2 default strategy",
        )
    return derived


def check_cluster_capacity(
    problems: Problems, cluster: object, capacity: WorkerCapacity, field: str
) -> None:
    """Capacity providers must be on the cluster before a service can use them (CDK only
    adds the cluster's provider associations for providers it was told about)."""
    if not isinstance(cluster, ecs.Cluster):
        return  # an imported cluster: its providers are unknown here
    known = set(cluster.capacity_provider_names) | set(
        cluster.cluster_scoped_capacity_provider_names
    )
    if capacity.uses_cluster_default:
        if not cluster.default_capacity_provider_strategy:
            problems.add(
                field,
                "cluster_default",
                "asks for the cluster's default capacity provider strategy, and the cluster has "
                "none",
                "call cluster.add_default_capacity_provider_strategy([...]) first, or give "
                "capacity providers or a launch type",
            )
        return
    missing = [
        strategy.capacity_provider
        for strategy in capacity.capacity_provider_strategies or ()
        if strategy.capacity_provider not in known
    ]
    if missing:
        fargate = all(name in _FARGATE_PROVIDERS for name in missing)
        problems.add(
            field,
            provider_names(cluster, missing),
            "are not capacity providers of the cluster",
            "create the cluster with enable_fargate_capacity_providers=True"
            if fargate
            else "add them with cluster.add_asg_capacity_provider(...) before the WorkerService",
        )


def check_platform(
    problems: Problems,
    platform: object,
    capacity: WorkerCapacity,
    ephemeral_storage_gib: object,
) -> None:
    if platform is not None:
        if not isinstance(platform, ecs.RuntimePlatform):
            problems.add(
                "runtime_platform",
                platform,
                "is not a RuntimePlatform",
                "give ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.ARM64)",
            )
        else:
            family = platform.operating_system_family
            if family is not None and not same_object(family, ecs.OperatingSystemFamily.LINUX):
                problems.add(
                    "runtime_platform.operating_system_family",
                    family,
                    "is not Linux; the crash hold and the health check run python3 on Linux",
                    "give OperatingSystemFamily.LINUX or leave it unset",
                )
            spot = any(
                strategy.capacity_provider == "FARGATE_SPOT"
                for strategy in (
                    *(capacity.capacity_provider_strategies or ()),
                    *capacity.default_strategies,
                )
            )
            if spot and same_object(platform.cpu_architecture, ecs.CpuArchitecture.ARM64):
                problems.add(
                    "runtime_platform.cpu_architecture",
                    "ARM64",
                    "is not supported by Fargate Spot, which runs X86_64 tasks only",
                    "use FARGATE instead of FARGATE_SPOT for ARM64 (on the service, or in the "
                    "cluster's default strategy for cluster_default()), or an X86_64 image",
                )
    if ephemeral_storage_gib is not None and not is_unresolved(ephemeral_storage_gib):
        low, high = FARGATE_EPHEMERAL_GIB
        if not capacity.fargate:
            problems.add(
                "ephemeral_storage_gib",
                ephemeral_storage_gib,
                "is a Fargate setting and the tasks run on EC2 (the instance's disk serves them)",
                "leave ephemeral_storage_gib unset on EC2",
            )
        elif (
            isinstance(ephemeral_storage_gib, bool)
            or not isinstance(ephemeral_storage_gib, int)
            or not low <= ephemeral_storage_gib <= high
        ):
            problems.add(
                "ephemeral_storage_gib",
                ephemeral_storage_gib,
                f"is not a whole number of GiB from {low} to {high}, what Fargate accepts",
                f"give {low}..{high}",
            )


def check_network(
    problems: Problems,
    capacity: WorkerCapacity,
    vpc_subnets: object,
    security_groups: object,
    assign_public_ip: object,
) -> None:
    if capacity.network_mode == ecs.NetworkMode.AWS_VPC:
        return
    given = [
        name
        for name, value in (
            ("vpc_subnets", vpc_subnets),
            ("security_groups", security_groups),
            ("assign_public_ip", assign_public_ip),
        )
        if value is not None
    ]
    if given:
        problems.add(
            "/".join(given),
            "given",
            f"only apply to the awsvpc network mode, and this is {capacity.network_mode}",
            "leave them unset in bridge or host mode (the instance's network is used)",
        )


def check_memory_reservation(problems: Problems, reservation: object, memory: object) -> None:
    if reservation is None or is_unresolved(reservation):
        return
    check_count(problems, "memory_reservation_mib", reservation, minimum=6)
    if (
        isinstance(reservation, int)
        and isinstance(memory, int)
        and not is_unresolved(memory)
        and reservation > memory
    ):
        problems.add(
            "memory_reservation_mib",
            reservation,
            f"is above memory_limit_mib ({memory}), the hard limit",
            "give a reservation at most memory_limit_mib",
        )


def check_min_healthy_percent(problems: Problems, value: object) -> None:
    if is_unresolved(value):
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        problems.add(
            "min_healthy_percent",
            value,
            "is not a whole percentage from 0 to 100 (the maximum is 200)",
            "give e.g. 100 (the default) or 50",
        )


def check_health(
    problems: Problems,
    health_check: object,
    heartbeat_max_age: object,
    start_window_seconds: float,
) -> float | None:
    """The heartbeat's max age in seconds (None when no heartbeat check is made)."""
    if health_check is not None and health_check is not False:
        if not isinstance(health_check, ecs.HealthCheck):
            problems.add(
                "health_check",
                health_check,
                "is not a HealthCheck",
                "give ecs.HealthCheck(command=[...]), or False for none",
            )
        elif health_check.start_period is not None:
            _check_start_period(problems, health_check.start_period, start_window_seconds)
    if heartbeat_max_age is not None and health_check is not None:
        problems.add(
            "heartbeat_max_age",
            heartbeat_max_age,
            "only applies to the default heartbeat health check, and health_check is given",
            "leave heartbeat_max_age unset, or leave health_check unset",
        )
        return None
    if health_check is not None:
        return None
    if heartbeat_max_age is None:
        return float(DEFAULT_HEARTBEAT_MAX_AGE_SECONDS)
    try:
        seconds = to_seconds(heartbeat_max_age)
    except UnitError as exc:
        problems.add("heartbeat_max_age", heartbeat_max_age, exc.reason, exc.fix)
        return None
    if seconds < 2 or seconds != int(seconds):
        problems.add(
            "heartbeat_max_age",
            describe_seconds(seconds),
            "is not a whole number of seconds of at least 2 (the heartbeat is written at most "
            "once a second)",
            "give e.g. Duration.minutes(5)",
        )
        return None
    return seconds


def _check_start_period(problems: Problems, period: object, window: float) -> None:
    try:
        seconds = to_seconds(period)
    except UnitError as exc:
        problems.add("health_check.start_period", period, exc.reason, exc.fix)
        return
    if is_unresolved(seconds):
        return
    if seconds > HEALTH_START_PERIOD_MAX:
        problems.add(
            "health_check.start_period",
            describe_seconds(seconds),
            f"is above ECS's maximum of {HEALTH_START_PERIOD_MAX} seconds",
            f"give at most Duration.seconds({HEALTH_START_PERIOD_MAX})",
        )
    if not is_unresolved(window) and seconds > window:
        problems.add(
            "health_check.start_period",
            describe_seconds(seconds),
            f"is longer than the policy's start window ({describe_seconds(window)}): a daemon "
            "would count as started before its health is judged",
            "give a start_period at most the start window, or a longer start_window",
        )


def check_scaling_count(
    problems: Problems, desired_count: object, scaling: object, cluster: object
) -> None:
    if scaling is None:
        return
    if not isinstance(scaling, WorkerScaling):
        problems.add(
            "scaling",
            scaling,
            "is not a WorkerScaling",
            "give e.g. WorkerScaling.queue_depth(queue, max_capacity=10)",
        )
        return
    if scaling.target_backlog_per_task is not None and not _insights_on(cluster):
        problems.add(
            "scaling.target_backlog_per_task",
            scaling.target_backlog_per_task,
            "divides by ECS/ContainerInsights RunningTaskCount, and the cluster does not turn "
            "Container Insights on",
            "create the cluster with container_insights_v2=ecs.ContainerInsights.ENABLED, or "
            "use WorkerScaling.queue_depth (steps, no Container Insights needed)",
        )
    if desired_count is not None:
        problems.add(
            "desired_count",
            desired_count,
            "is given together with scaling: every deploy would reset the task count that "
            "scaling reached",
            "leave desired_count unset; scaling's min_capacity sets the floor",
        )


def _insights_on(cluster: object) -> bool:
    """Container Insights as the cluster's settings say; an imported cluster is trusted."""
    if not isinstance(cluster, ecs.Cluster):
        return True
    cfn = cluster.node.default_child
    settings = cfn.cluster_settings if isinstance(cfn, ecs.CfnCluster) else None
    for setting in settings if isinstance(settings, list) else []:
        name = getattr(setting, "name", None)
        value = getattr(setting, "value", None)
        if name == "containerInsights" and value in ("enabled", "enhanced"):
            return True
    return False
