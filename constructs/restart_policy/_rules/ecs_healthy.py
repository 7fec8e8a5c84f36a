"""RP-ECS-HEALTHY: a deployment must not take down the replicas a worker fleet needs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ._model import Finding, Options, Rule, Service, intrinsic, unreadable

WHERE = "Properties/DeploymentConfiguration/MinimumHealthyPercent"


def check(service: Service, options: Options) -> Iterator[Finding]:
    if service.daemon:
        # ECS's documented defaults for a DAEMON service: 0 % minimum healthy, and a maximum
        # that stays at 100 %; one task per instance is stopped before its replacement starts,
        # so holding it to 100 % would stall every deployment.
        return
    config = service.props.get("DeploymentConfiguration")
    minimum = config.get("MinimumHealthyPercent") if isinstance(config, Mapping) else None
    if intrinsic(minimum):
        yield unreadable(service.logical_id, WHERE, "MinimumHealthyPercent")
    elif isinstance(minimum, int | float) and minimum < options.min_healthy_percent:
        yield Finding(
            RULE.id,
            service.logical_id,
            WHERE,
            f"MinimumHealthyPercent is {minimum:g}, below {options.min_healthy_percent}",
        )


RULE = Rule(
    id="RP-ECS-HEALTHY",
    title="replica ECS service whose minimum healthy percent is below the checks' minimum",
    fix="set DeploymentConfiguration.MinimumHealthyPercent (the L2 service's "
    "min_healthy_percent) to at least min_healthy_percent (WorkerService uses 100)",
    subject="service",
    check=check,
)
