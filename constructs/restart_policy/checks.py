"""``RestartPolicyChecks``: a CDK validation plugin that holds a whole app to the policy."""

from __future__ import annotations

from importlib import metadata

import jsii
from aws_cdk import (
    Duration,
    IPolicyValidationContext,
    IPolicyValidationPlugin,
    PolicyValidationPluginReport,
    PolicyViolatingResource,
    PolicyViolation,
)

from ._errors import Problems
from ._policy_props import check_policies
from ._rules import RULES, RULES_BY_ID, Finding, Options
from ._rules._engine import judge_assembly
from .log_policy import LogPolicy
from .policy import RestartPolicy

#: The plugin's name: findings are acknowledged as ``restart-policy::<rule id>``.
PLUGIN_NAME = "restart-policy"


@jsii.implements(IPolicyValidationPlugin)
class RestartPolicyChecks:
    """Checks every template of an app's cloud assembly against the restart policy.

    ``Validations.of(app).add_plugins(RestartPolicyChecks())``: ``cdk synth`` then fails on a
    resource that breaks the policy, whoever wrote it (``WorkerService``, a hand-written
    ``FargateService``, an L1 ``CfnService``, user data with supervisor sections), in every stage
    and nested stack, naming the rule, the resource's construct path and the fix. A resource
    whose construct recorded the policy it was built with (``WorkerService``,
    ``SupervisorPrograms``) is judged by that policy. Waive a finding on a scope, with a reason::

        Validations.of(legacy_service).acknowledge(
            Acknowledgment(id="restart-policy::RP-ECS-BREAKER", reason="blue/green via CodeDeploy")
        )

    :param restart_policy: The policy that judges resources without a recorded policy of
        their own (start window, start retries, stop timeout). Default: ``RestartPolicy()``.
    :param log_policy: The log policy to judge against. Default: ``LogPolicy()``.
    :param min_healthy_percent: Lowest minimum healthy percent an ECS service may have.
        Default: 100, what ``WorkerService`` uses, so that a deployment never halves a worker fleet.
    :param max_start_retries: Highest ``startretries`` a supervisor program, and highest
        failed-task count an ECS circuit breaker, may have, whatever a resource's recorded
        policy says (a recorded ``start_retries`` above it is a ``RP-POLICY-RECORD`` finding).
        Default: 10, twice the policy's 5, or the app-wide policy's ``start_retries`` when that
        is higher.
    :param max_stop_timeout: Longest stop timeout a resource's recorded policy may give it (a
        recorded ``stop_timeout`` above it is an ``RP-POLICY-RECORD`` finding, and the resource is
        judged by this limit). Default: 10 minutes, or the app-wide policy's ``stop_timeout``
        when that is longer.
    :param strict: Ignore recorded policies (``restart-policy:policy`` metadata) and judge every
        resource by the app-wide policy: for running the checks over apps whose metadata you do
        not trust (third-party code). Default: false, each construct's recorded policy is used.
    """

    def __init__(
        self,
        restart_policy: RestartPolicy | None = None,
        log_policy: LogPolicy | None = None,
        *,
        min_healthy_percent: int | None = None,
        max_start_retries: int | None = None,
        max_stop_timeout: Duration | None = None,
        strict: bool | None = None,
    ) -> None:
        problems = Problems("RestartPolicyChecks")
        minimum = 100 if min_healthy_percent is None else min_healthy_percent
        retries = 10 if max_start_retries is None else max_start_retries
        check_policies(problems, restart_policy, log_policy)
        if not isinstance(minimum, int) or isinstance(minimum, bool) or not 0 <= minimum <= 100:
            problems.add(
                "min_healthy_percent", minimum, "is not a percentage 0..100", "give e.g. 100"
            )
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 1:
            problems.add("max_start_retries", retries, "is not a whole number >= 1", "give e.g. 10")
        stop_limit = 600.0
        if max_stop_timeout is not None:
            if not isinstance(max_stop_timeout, Duration) or max_stop_timeout.is_unresolved():
                problems.add(
                    "max_stop_timeout", max_stop_timeout, "is not a concrete Duration",
                    "give e.g. Duration.minutes(10)",
                )  # fmt: skip
            else:
                stop_limit = max_stop_timeout.to_milliseconds() / 1000
                if stop_limit < 1:
                    problems.add(
                        "max_stop_timeout", max_stop_timeout.to_human_string(), "is below 1 s",
                        "give e.g. Duration.minutes(10)",
                    )  # fmt: skip
        is_strict = False if strict is None else strict
        if not isinstance(is_strict, bool):
            problems.add("strict", is_strict, "is not a boolean", "give True or False")
        problems.raise_if_any()
        self._options = Options(
            policy=RestartPolicy() if restart_policy is None else restart_policy,
            log_policy=LogPolicy() if log_policy is None else log_policy,
            min_healthy_percent=minimum,
            max_start_retries=retries,
            max_stop_timeout=stop_limit,
            strict=is_strict,
        )

    @property
    def name(self) -> str:
        """The plugin's name, ``restart-policy``: acknowledge ``restart-policy::<rule id>``."""
        return PLUGIN_NAME

    @property
    def version(self) -> str:
        """The installed ``cdk-restart-policy`` version (``0.0.0`` from a source tree)."""
        try:
            return metadata.version("cdk-restart-policy")
        except metadata.PackageNotFoundError:
            return "0.0.0"

    @property
    def rule_ids(self) -> list[str]:
        """The id of every rule the plugin runs, in the README's table order."""
        return [rule.id for rule in RULES]

    def validate(self, context: IPolicyValidationContext) -> PolicyValidationPluginReport:
        """Judges every template of the assembly (nested ones too); called by the CDK at synth.
        Fails on any error finding; RP-UNREADABLE findings are warnings."""
        violations: list[PolicyViolation] = []
        errors = 0
        for finding, template_path in judge_assembly(context.template_paths, self._options):
            violations.append(_violation(finding, template_path))
            errors += 0 if finding.warning else 1
        return PolicyValidationPluginReport(
            success=errors == 0, violations=violations, plugin_version=self.version
        )


def _violation(finding: Finding, template_path: str) -> PolicyViolation:
    rule = RULES_BY_ID[finding.rule]
    return PolicyViolation(
        rule_name=finding.rule,
        description=f"[{finding.rule}] {rule.title}: {finding.message}",
        fix=rule.fix,
        severity="warning" if finding.warning else "error",
        violating_resources=[
            PolicyViolatingResource(
                locations=[finding.location],
                resource_logical_id=finding.logical_id,
                template_path=template_path,
            )
        ],
    )
