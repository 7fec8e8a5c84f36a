"""Where a construct leaves the policy it was built with, so that ``RestartPolicyChecks`` judges
its resources by that policy and not by the app-wide one.

The record is CloudFormation resource metadata (``restart-policy:policy``): it travels with the
synthesized template, which is all a validation plugin sees, and CloudFormation ignores it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jsii
from aws_cdk import Aspects, CfnResource, IAspect, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from constructs import Construct, IConstruct

from .policy import RestartPolicy
from .program import Program

METADATA_KEY = "restart-policy:policy"

_ECS_TYPES = ("AWS::ECS::Service", "AWS::ECS::TaskDefinition")
_HOST_TYPES = (
    "AWS::EC2::Instance",
    "AWS::EC2::LaunchTemplate",
    "AWS::AutoScaling::LaunchConfiguration",
)


def policy_fields(policy: RestartPolicy) -> dict[str, Any]:
    """The policy's values that the checks judge by, as plain JSON."""
    return {
        "start_window": policy.start_window_seconds,
        "start_retries": policy.start_retries,
        "stop_timeout": policy.stop_timeout_seconds,
        "restart": policy.restart,
        "exit_codes": list(policy.exit_codes),
    }


def record_policy(
    construct: Construct,
    policy: RestartPolicy,
    *,
    programs: Iterable[Program] | None = None,
    user_data: ec2.UserData | None = None,
) -> None:
    """Record ``policy`` on ``construct``'s ECS service and task definitions; with ``user_data``,
    record each program's policy on every instance, launch template and launch configuration
    of the stack that is given that user data (found at synth, as they may be made later)."""
    record: dict[str, Any] = {"policy": policy_fields(policy)}
    if programs is not None:
        record["programs"] = {
            program.name: policy_fields(program.restart_policy or policy) for program in programs
        }
    for child in construct.node.find_all():
        if isinstance(child, CfnResource) and child.cfn_resource_type in _ECS_TYPES:
            child.add_metadata(METADATA_KEY, record)
    if user_data is not None:
        Aspects.of(Stack.of(construct)).add(_RecordOnHosts(user_data, record))


@jsii.implements(IAspect)
class _RecordOnHosts:
    """Finds the hosts that run a user data and leaves the record on their resources."""

    def __init__(self, user_data: ec2.UserData, record: dict[str, Any]) -> None:
        self._user_data = user_data
        self._record = record

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, ec2.Instance | ec2.LaunchTemplate | autoscaling.AutoScalingGroup):
            return
        if _jsii_ref(getattr(node, "user_data", None)) != _jsii_ref(self._user_data):
            return
        for child in node.node.find_all():
            if isinstance(child, CfnResource) and child.cfn_resource_type in _HOST_TYPES:
                _merge(child, self._record)


def _jsii_ref(value: object) -> object:
    # jsii hands back a new proxy for the same object: compare the kernel's references.
    reference = getattr(value, "__jsii_ref__", None)
    return getattr(reference, "ref", None) if reference is not None else id(value)


def _merge(resource: CfnResource, record: dict[str, Any]) -> None:
    # Several SupervisorPrograms may share one user data: keep every program's policy.
    existing = resource.get_metadata(METADATA_KEY)
    merged = dict(record)
    if isinstance(existing, dict):
        merged["programs"] = {**existing.get("programs", {}), **record.get("programs", {})}
    resource.add_metadata(METADATA_KEY, merged)
