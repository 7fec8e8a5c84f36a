"""RP-ECS-HEALTHY: a deployment must not take down the replicas a worker fleet needs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ._model import Finding, Options, Rule, Service, intrinsic, unreadable

WHERE = "Properties/DeploymentConfiguration/MinimumHealthyPercent"


def check(service: Service, options: Options) -> Iterator[Finding]:
    config = service.props.get("DeploymentConfiguration")
    minimum = config.get("MinimumHealthyPercent") if isinstance(config, Mapping) else None
    maximum = config.get("MaximumPercent") if isinstance(config, Mapping) else None
    if intrinsic(minimum):
        yield unreadable(service.logical_id, WHERE, "MinimumHealthyPercent")
    elif service.daemon:
        # A DAEMON service runs one task per instance and its MaximumPercent stays at 100
        # (CloudFormation's DeploymentConfiguration reference; ECS's default minimum for a
        # daemon is 0): with a minimum of 100 no old task may stop before its replacement
        # starts, so a deployment can replace nothing.
        stuck = isinstance(minimum, int | float) and minimum >= 100
        if stuck and not (isinstance(maximum, int | float) and maximum > 100):
            yield Finding(
                RULE.id, service.logical_id, WHERE,
                f"MinimumHealthyPercent is {minimum:g} on a DAEMON service, whose MaximumPercent "
                "stays at 100: no task can be replaced, so every deployment stalls",
            )  # fmt: skip
    elif isinstance(minimum, int | float) and minimum < options.min_healthy_percent:
        yield Finding(
            RULE.id,
            service.logical_id,
            WHERE,
            f"MinimumHealthyPercent is {minimum:g}, below {options.min_healthy_percent}",
        )


RULE = Rule(
    id="RP-ECS-HEALTHY",
    title="replica ECS service whose minimum healthy percent is below the checks' minimum, or "
    "DAEMON service whose minimum of 100 % stalls its deployments",
    fix="set DeploymentConfiguration.MinimumHealthyPercent (the L2 service's "
    "min_healthy_percent) to at least min_healthy_percent (WorkerService uses 100); on a "
    "DAEMON service below 100 (ECS's default for a daemon: 0)",
    subject="service",
    check=check,
)
