"""Where a construct leaves the policy it was built with, so that ``RestartPolicyChecks`` judges
its resources by that policy and not by the app-wide one.

The record is CloudFormation resource metadata (``restart-policy:policy``): it travels with the
synthesized template, which is all a validation plugin sees, and CloudFormation ignores it.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import jsii
from aws_cdk import Aspects, CfnResource, IAspect, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from constructs import Construct, IConstruct

from .policy import RestartPolicy
from .program import Program

METADATA_KEY = "restart-policy:policy"
#: A shell no-op line that carries the record inside the user data, right after the library's
#: payload, so that user data rendered by hand onto another resource (``Fn.base64(
#: user_data.render())`` on an L1 launch template) still carries it.
USER_DATA_RECORD = ": restart-policy:policy"
_USER_DATA_RECORD_LINE = re.compile(r"^: restart-policy:policy ([A-Za-z0-9+/=]+)\s*$", re.M)

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
            program.name: policy_fields(program.restart_policy_under(policy))
            for program in programs
        }
    for child in construct.node.find_all():
        if isinstance(child, CfnResource) and child.cfn_resource_type in _ECS_TYPES:
            child.add_metadata(METADATA_KEY, record)
    if user_data is not None:
        Aspects.of(Stack.of(construct)).add(_RecordOnHosts(user_data, record))
        user_data.add_commands(user_data_record(policy, programs or ()))


def user_data_record(policy: RestartPolicy, programs: Iterable[Program]) -> str:
    """The record as one user-data line: only the programs whose policy is their own, gzip'd,
    so that 200 programs still fit EC2's 16 KB."""
    fields = policy_fields(policy)
    own = {
        program.name: policy_fields(program.restart_policy)
        for program in programs
        if program.restart_policy is not None and policy_fields(program.restart_policy) != fields
    }
    record: dict[str, Any] = {"policy": fields, **({"programs": own} if own else {})}
    packed = gzip.compress(json.dumps(record, separators=(",", ":")).encode(), mtime=0)
    return f"{USER_DATA_RECORD} {base64.b64encode(packed).decode('ascii')}"


def read_user_data_records(script: str) -> list[Mapping[str, Any] | None]:
    """Each record line of a user data script, in order (None for one that does not decode)."""
    records: list[Mapping[str, Any] | None] = []
    for match in _USER_DATA_RECORD_LINE.finditer(script):
        try:
            value = json.loads(gzip.decompress(base64.b64decode(match.group(1), validate=True)))
        except (binascii.Error, ValueError, OSError, EOFError, zlib.error):
            value = None
        records.append(value if isinstance(value, Mapping) else None)
    return records


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
