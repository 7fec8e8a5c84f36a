"""RP-ECS-BREAKER: a rolling ECS service needs a breaker that can trip on a crash-looping daemon."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ._model import Finding, Options, Rule, Service, intrinsic, number, unreadable

WHERE = "Properties/DeploymentConfiguration/DeploymentCircuitBreaker"


def check(service: Service, options: Options) -> Iterator[Finding]:
    props = service.props
    controller = props.get("DeploymentController")
    if isinstance(controller, Mapping) and controller.get("Type") not in (None, "ECS"):
        return  # the breaker exists for rolling (ECS) deployments only
    config = props.get("DeploymentConfiguration")
    breaker = config.get("DeploymentCircuitBreaker") if isinstance(config, Mapping) else None
    if intrinsic(config) or intrinsic(breaker):
        yield unreadable(service.logical_id, WHERE, "the circuit breaker")
        return
    if not isinstance(breaker, Mapping):
        yield Finding(RULE.id, service.logical_id, WHERE, "no deployment circuit breaker")
        return
    values = [breaker.get(key) for key in ("Enable", "Rollback", "ResetOnHealthyTask")]
    threshold = breaker.get("ThresholdConfiguration")
    if any(intrinsic(value) for value in [*values, threshold]) or (
        isinstance(threshold, Mapping) and any(intrinsic(v) for v in threshold.values())
    ):
        yield unreadable(service.logical_id, WHERE, "the circuit breaker's settings")
        return
    enable, rollback, reset = values
    limit = max(options.max_start_retries, service.policy.start_retries)
    missing: list[str] = []
    if enable is not True:
        missing.append(f"Enable is {enable!r}, not true")
    if rollback is not True:
        missing.append(f"Rollback is {rollback!r}, not true")
    kind = threshold.get("Type") if isinstance(threshold, Mapping) else None
    count = threshold.get("Value") if isinstance(threshold, Mapping) else None
    if kind != "COUNT":
        missing.append(f"ThresholdConfiguration.Type is {kind!r}, not COUNT")
    elif not (number(count) and isinstance(count, int | float) and 1 <= count <= limit):
        missing.append(f"ThresholdConfiguration.Value is {count!r}, not 1..{limit}")
    if reset is not False:
        missing.append(
            f"ResetOnHealthyTask is {reset!r}, not false (a daemon that starts, passes as "
            "healthy and then dies would reset the count and never trip the breaker)"
        )
    if missing:
        yield Finding(RULE.id, service.logical_id, WHERE, "; ".join(missing))


RULE = Rule(
    id="RP-ECS-BREAKER",
    title="ECS service without a circuit breaker that counts every failed task and rolls back",
    fix="set DeploymentConfiguration.DeploymentCircuitBreaker to Enable: true, Rollback: true, "
    "ThresholdConfiguration {Type: COUNT, Value: 1..max_start_retries} and "
    "ResetOnHealthyTask: false (the last two with CfnService.add_property_override; or use "
    "WorkerService)",
    subject="service",
    check=check,
)
