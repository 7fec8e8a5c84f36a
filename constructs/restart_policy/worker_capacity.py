"""``WorkerCapacity``: where the tasks of a ``WorkerService`` run.

Pure data and checks; ``WorkerService`` builds from it and reports the problems kept in
``problems`` with its own, under its construct path, in one ``PolicyError``. ECS rules out a
launch type together with a capacity provider strategy ("If a capacityProviderStrategy is
specified, the launchType parameter must be omitted"), so a strategy always omits the launch
type.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_ecs as ecs

from ._errors import Problems

__all__ = ["WorkerCapacity"]

_FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")
#: "A capacity provider strategy may contain a maximum of 6 capacity providers" (ECS API).
MAX_STRATEGY_PROVIDERS = 6
_NETWORK_MODES = (ecs.NetworkMode.AWS_VPC, ecs.NetworkMode.BRIDGE, ecs.NetworkMode.HOST)


class WorkerCapacity:
    """Launch type or capacity providers, network mode and Fargate platform of a worker.

    The keyword arguments of ``WorkerService`` (``launch_type=``, ``capacity_provider_strategies=``,
    ``network_mode=``, ``platform_version=``) are the common path; this object groups them for
    platform teams that share one choice between many workers, with constructors for the usual
    ones (``fargate_on_demand()``, ``fargate_spot()``, ``ec2()``, ``providers()``,
    ``cluster_default()``).

    :param launch_type: ``LaunchType.FARGATE`` or ``LaunchType.EC2``. Default: Fargate, unless
        capacity providers are given (then no launch type: ECS forbids both).
    :param capacity_provider_strategies: Capacity providers and their weights (``FARGATE``,
        ``FARGATE_SPOT``, or the name of an ASG capacity provider of the cluster). All Fargate or
        all EC2, at most one with a ``base``. Default: none (the launch type).
    :param network_mode: ``AWS_VPC``, or ``BRIDGE``/``HOST`` on EC2. Default: ``AWS_VPC``, the only
        mode Fargate runs.
    :param platform_version: Fargate platform version. Default: ``LATEST`` on Fargate; the
        container restart policy needs 1.4.0 or newer.
    """

    __slots__ = (
        "capacity_provider_strategies",
        "declared_fargate",
        "default_strategies",
        "fargate",
        "launch_type",
        "network_mode",
        "platform_version",
        "problems",
        "uses_cluster_default",
    )

    launch_type: ecs.LaunchType | None
    capacity_provider_strategies: tuple[ecs.CapacityProviderStrategy, ...] | None
    uses_cluster_default: bool
    #: ``cluster_default(fargate=...)`` as given (None: read it from the cluster).
    declared_fargate: bool | None
    #: The cluster's default strategy, once read from a cluster made in the app.
    default_strategies: tuple[ecs.CapacityProviderStrategy, ...]
    fargate: bool
    network_mode: ecs.NetworkMode
    platform_version: ecs.FargatePlatformVersion | None
    #: What is wrong with these settings; the ``WorkerService`` that uses them reports it with
    #: its own problems, under its path, in one ``PolicyError``.
    problems: Problems

    def __init__(
        self,
        *,
        launch_type: ecs.LaunchType | None = None,
        capacity_provider_strategies: Sequence[ecs.CapacityProviderStrategy] | None = None,
        network_mode: ecs.NetworkMode | None = None,
        platform_version: ecs.FargatePlatformVersion | None = None,
        _cluster_default: bool = False,
        _cluster_default_fargate: bool | None = None,
    ) -> None:
        problems = Problems("WorkerCapacity")
        resolve_capacity(
            problems,
            self,
            launch_type=launch_type,
            capacity_provider_strategies=capacity_provider_strategies,
            network_mode=network_mode,
            platform_version=platform_version,
            cluster_default=_cluster_default,
            cluster_default_fargate=_cluster_default_fargate,
        )
        self.problems = problems

    @classmethod
    def fargate_on_demand(
        cls, *, platform_version: ecs.FargatePlatformVersion | None = None
    ) -> WorkerCapacity:
        """Fargate by launch type (the default of ``WorkerService``)."""
        return cls(launch_type=ecs.LaunchType.FARGATE, platform_version=platform_version)

    @classmethod
    def fargate_spot(
        cls,
        *,
        on_demand_base: int = 0,
        on_demand_weight: int = 0,
        spot_weight: int = 1,
        platform_version: ecs.FargatePlatformVersion | None = None,
    ) -> WorkerCapacity:
        """Fargate Spot, with ``on_demand_base`` tasks (and ``on_demand_weight``) on regular
        Fargate. The cluster needs ``enable_fargate_capacity_providers=True``."""
        strategies = [
            ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=spot_weight)
        ]
        if on_demand_base or on_demand_weight:
            strategies.append(
                ecs.CapacityProviderStrategy(
                    capacity_provider="FARGATE",
                    base=on_demand_base or None,
                    weight=on_demand_weight,
                )
            )
        return cls(capacity_provider_strategies=strategies, platform_version=platform_version)

    @classmethod
    def ec2(cls, *, network_mode: ecs.NetworkMode | None = None) -> WorkerCapacity:
        """The cluster's EC2 capacity by launch type."""
        return cls(launch_type=ecs.LaunchType.EC2, network_mode=network_mode)

    @classmethod
    def providers(
        cls,
        *strategies: ecs.CapacityProviderStrategy,
        network_mode: ecs.NetworkMode | None = None,
    ) -> WorkerCapacity:
        """Capacity providers by strategy, e.g. an ``AsgCapacityProvider`` of the cluster:
        ``CapacityProviderStrategy(capacity_provider=provider.capacity_provider_name,
        weight=1)``."""
        return cls(capacity_provider_strategies=list(strategies), network_mode=network_mode)

    @classmethod
    def cluster_default(
        cls, *, fargate: bool | None = None, network_mode: ecs.NetworkMode | None = None
    ) -> WorkerCapacity:
        """The cluster's default capacity provider strategy (no launch type, no strategy on the
        service). ``fargate`` says which kind of providers it holds, for the task definition.
        Default: read from the cluster's default strategy when the cluster is made in the app
        (a ``PolicyError`` when ``fargate`` contradicts it); Fargate for an imported cluster."""
        return cls(
            network_mode=network_mode, _cluster_default=True, _cluster_default_fargate=fargate
        )

    def on_cluster_default(
        self, strategies: Sequence[ecs.CapacityProviderStrategy]
    ) -> WorkerCapacity:
        """This ``cluster_default()`` capacity with the kind read from the cluster's default
        ``strategies`` (a copy: one capacity object may serve workers on several clusters)."""
        copy = WorkerCapacity.__new__(WorkerCapacity)
        for name in self.__slots__:
            setattr(copy, name, getattr(self, name))
        copy.default_strategies = tuple(strategies)
        if strategies:
            copy.fargate = strategies[0].capacity_provider in _FARGATE_PROVIDERS
        return copy

    def __repr__(self) -> str:
        if self.uses_cluster_default:
            return f"WorkerCapacity.cluster_default(fargate={self.declared_fargate})"
        if self.capacity_provider_strategies is not None:
            names = [s.capacity_provider for s in self.capacity_provider_strategies]
            return f"WorkerCapacity(capacity_provider_strategies={names})"
        return f"WorkerCapacity(launch_type={self.launch_type})"


def resolve_capacity(
    problems: Problems,
    target: WorkerCapacity,
    *,
    launch_type: object,
    capacity_provider_strategies: object,
    network_mode: object,
    platform_version: object,
    cluster_default: bool = False,
    cluster_default_fargate: bool | None = None,
) -> None:
    """Check the capacity props and set ``target``'s fields; problems go to ``problems``."""
    strategies: tuple[ecs.CapacityProviderStrategy, ...] | None = None
    if capacity_provider_strategies is not None:
        strategies = _check_strategies(problems, capacity_provider_strategies)
    if launch_type is not None and strategies is not None:
        problems.add(
            "launch_type",
            launch_type,
            "is given together with capacity_provider_strategies, and ECS refuses a launch type "
            "with a capacity provider strategy",
            "give one of them (a strategy omits the launch type)",
        )
    if launch_type is not None and launch_type not in (ecs.LaunchType.FARGATE, ecs.LaunchType.EC2):
        problems.add(
            "launch_type",
            launch_type,
            "is not supported",
            "give LaunchType.FARGATE or LaunchType.EC2",
        )
    if cluster_default:
        fargate = cluster_default_fargate is not False
    elif strategies:
        fargate = strategies[0].capacity_provider in _FARGATE_PROVIDERS
    else:
        fargate = launch_type in (None, ecs.LaunchType.FARGATE)
    mode = ecs.NetworkMode.AWS_VPC if network_mode is None else network_mode
    if mode not in _NETWORK_MODES:
        problems.add(
            "network_mode", mode, "is not supported", "give NetworkMode.AWS_VPC, BRIDGE or HOST"
        )
    elif fargate and mode != ecs.NetworkMode.AWS_VPC:
        problems.add(
            "network_mode",
            mode,
            "is not awsvpc, the only network mode Fargate runs",
            "leave network_mode unset on Fargate, or run on EC2 capacity",
        )
    if platform_version is not None and not fargate:
        problems.add(
            "platform_version",
            platform_version,
            "is a Fargate setting and the tasks run on EC2",
            "leave platform_version unset on EC2",
        )
    target.launch_type = (
        None
        if strategies is not None or cluster_default
        else (ecs.LaunchType.FARGATE if launch_type is None else launch_type)  # type: ignore[assignment]
    )
    target.capacity_provider_strategies = strategies
    target.uses_cluster_default = cluster_default
    target.declared_fargate = cluster_default_fargate if cluster_default else None
    target.default_strategies = ()
    target.fargate = fargate
    target.network_mode = mode  # type: ignore[assignment]
    target.platform_version = platform_version  # type: ignore[assignment]


def _check_strategies(
    problems: Problems, value: object
) -> tuple[ecs.CapacityProviderStrategy, ...] | None:
    field = "capacity_provider_strategies"
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        problems.add(field, value, "is not a list", "give [ecs.CapacityProviderStrategy(...)]")
        return None
    strategies = tuple(value)
    if not strategies:
        problems.add(
            field,
            [],
            "is empty",
            "give at least one strategy, or WorkerCapacity.cluster_default() for the cluster's",
        )
        return None
    if not all(isinstance(item, ecs.CapacityProviderStrategy) for item in strategies):
        problems.add(field, value, "holds items that are not CapacityProviderStrategy", "give "
                     "ecs.CapacityProviderStrategy(capacity_provider=..., weight=...)")  # fmt: skip
        return None
    kinds = {item.capacity_provider in _FARGATE_PROVIDERS for item in strategies}
    if len(kinds) > 1:
        problems.add(
            field,
            [item.capacity_provider for item in strategies],
            "mixes Fargate and Auto Scaling group providers, which ECS refuses",
            "give Fargate providers only, or ASG providers only",
        )
    names = [item.capacity_provider for item in strategies]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        problems.add(
            field,
            names,
            f"lists {', '.join(twice)} more than once; ECS takes each provider once",
            "list each capacity provider once, with its base and weight",
        )
    if len(strategies) > MAX_STRATEGY_PROVIDERS:
        problems.add(
            field,
            names,
            f"lists {len(strategies)} providers; a strategy holds at most {MAX_STRATEGY_PROVIDERS}",
            f"give at most {MAX_STRATEGY_PROVIDERS}",
        )
    if all(not item.weight for item in strategies) and (
        len(strategies) > 1 or not strategies[0].base
    ):
        problems.add(
            field,
            [f"{item.capacity_provider} weight={item.weight or 0}" for item in strategies],
            "gives every provider weight 0 (the default), so ECS can place no task: "
            "CreateService fails with such a strategy",
            "give at least one provider weight=1 or more",
        )
    if sum(1 for item in strategies if item.base) > 1:
        problems.add(
            field,
            [item.capacity_provider for item in strategies],
            "gives a base to more than one provider; ECS allows one",
            "set base on one provider only",
        )
    return strategies
