"""What ``SupervisorPrograms`` judges at synth, once the app is complete: the size of the user
data EC2 will get, and warnings for monitoring, secrets and alarms that would do nothing."""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import json
import re
import zlib
from collections.abc import Sequence

import jsii
from aws_cdk import Annotations, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from constructs import Construct, IValidation

from ._errors import Problems
from ._user_data_script import MARKER, PAYLOAD_DELIMITER, USER_DATA_LIMIT_BYTES
from ._user_data_size import REFERENCE_MAX, resolved_size

WARN_MONITORING_NOT_GRANTED = "restart-policy:supervisor-monitoring-not-granted"
WARN_SECRETS_NOT_GRANTED = "restart-policy:supervisor-secrets-not-granted"
WARN_AGENT_NOT_GRANTED = "restart-policy:supervisor-agent-not-granted"
WARN_ALARMS_WITHOUT_ACTIONS = "restart-policy:supervisor-alarms-without-actions"
WARN_USER_DATA_UNCOUNTED = "restart-policy:supervisor-user-data-uncounted"

_GROUP = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def check_log_reader_group(problems: Problems, group: object) -> None:
    if group is not None and (not isinstance(group, str) or not _GROUP.match(group)):
        problems.add(
            "log_reader_group",
            group,
            "is not a Linux group name",
            "give e.g. 'adm', or leave it out for the default",
        )


@jsii.implements(IValidation)
class SynthChecks:
    """Fails synth when the user data EC2 gets is over its limit; warns about defaults that
    would silently do nothing."""

    def __init__(self, owner: Construct, path: str) -> None:
        self._owner = owner
        self._path = path
        self._user_data: ec2.UserData | None = None
        self._block = ""
        self._monitoring = False
        self._secrets = False
        self._agent = False
        self._alarms: Sequence[cloudwatch.Alarm] = ()
        self.monitoring_granted = False
        self.secrets_granted = False
        self.agent_granted = False

    def watch(
        self,
        user_data: ec2.UserData,
        *,
        monitoring: bool,
        secrets: bool,
        alarms: Sequence[cloudwatch.Alarm],
        agent: bool = False,
        block: str,
    ) -> None:
        self._user_data = user_data
        self._block = block
        self._monitoring = monitoring
        self._secrets = secrets
        self._agent = agent
        self._alarms = alarms

    def validate(self) -> list[str]:
        self._warn()
        errors = []
        for where, size in self._deployed_sizes():
            if size > USER_DATA_LIMIT_BYTES:
                errors.append(
                    f"SupervisorPrograms {self._path}: the user data{where} is {size:,} bytes, "
                    f"above EC2's limit of {USER_DATA_LIMIT_BYTES:,} bytes (raw, before base64; "
                    "a MIME part counts encoded). Fix: add less to it, or split the programs "
                    "over several host groups."
                )
        return errors

    def _deployed_sizes(self) -> list[tuple[str, int]]:
        """The size of the user data of every instance, launch template, launch configuration
        and spot fleet of the whole app that carries this construct's block (inside a
        MultipartUserData, filled in by hand, in another stack); the construct's own user
        data when none does yet. L1 resources, since every L2 host makes one."""
        assert self._user_data is not None
        found: list[tuple[str, int]] = []
        for node in self._owner.node.root.node.find_all():
            if not isinstance(node, _HOSTS):
                continue
            stack = Stack.of(node)
            for part, value in _user_data_of(node, stack):
                self._judge(found, f"{_host_path(node)}{part}", stack.resolve(value))
        if found:
            return found
        own = Stack.of(self._owner)
        return [("", resolved_size(own.resolve(self._user_data.render())))]

    def _judge(self, found: list[tuple[str, int]], where: str, value: object) -> None:
        text, size, uncounted = _decoded(value)
        if self._fingerprint not in json.dumps(text):
            return
        found.append((f" of {where}", size))
        if uncounted:
            Annotations.of(self._owner).add_warning_v2(
                WARN_USER_DATA_UNCOUNTED,
                f"the user data of {where} has {len(uncounted)} value(s) the size check "
                f"cannot measure at synth ({', '.join(uncounted)}); each is counted "
                f"as {REFERENCE_MAX} bytes, so its {size:,} bytes may be short of what EC2 "
                "gets. Fix: keep the user data to Fn::Join, Fn::Sub, Fn::Base64 and "
                "references, or check its size after deploying.",
            )

    @property
    def _fingerprint(self) -> str:
        """The block from its first line to the end of its payload: no tokens in it, and the
        payload is the programs', so another SupervisorPrograms' block does not match."""
        start = self._block.index(MARKER)
        end = self._block.index(f"\n{PAYLOAD_DELIMITER}\n", start)
        return json.dumps(self._block[start:end])[1:-1]

    def _warn(self) -> None:
        annotations = Annotations.of(self._owner)
        if self._monitoring and not self.monitoring_granted:
            annotations.add_warning_v2(
                WARN_MONITORING_NOT_GRANTED,
                "monitoring is on, but grant_monitoring(role) was never called: the hosts "
                "cannot write their logs, so the alarms never see a crash loop. Call "
                "programs.grant_monitoring(role) for the hosts' role, or pass monitoring=False.",
            )
        if self._secrets and not self.secrets_granted:
            annotations.add_warning_v2(
                WARN_SECRETS_NOT_GRANTED,
                "programs have secrets, but grant_secrets(role) was never called: the hosts "
                "cannot read them, so those programs fail to start. Call "
                "programs.grant_secrets(role) for the hosts' role.",
            )
        if self._agent and not self.agent_granted:
            annotations.add_warning_v2(
                WARN_AGENT_NOT_GRANTED,
                "programs use the back-off, but grant_agent(role) was never called: the hosts "
                "cannot download the back-off agent, so crash loops are not backed off. Call "
                "programs.grant_agent(role) (or programs.grant_host(role)) for the hosts' role.",
            )
        stack = Stack.of(self._owner)
        silent = [
            alarm
            for alarm in self._alarms
            if not stack.resolve(alarm.node.default_child.alarm_actions)  # type: ignore[union-attr]
        ]
        if silent:
            annotations.add_warning_v2(
                WARN_ALARMS_WITHOUT_ACTIONS,
                f"{len(silent)} alarm(s) notify nobody: give alarm_topic= or alarm_actions=, or "
                "add actions to programs.alarms.",
            )


_HOSTS = (
    ec2.CfnLaunchTemplate,
    ec2.CfnInstance,
    autoscaling.CfnLaunchConfiguration,
    ec2.CfnSpotFleet,
)


def _user_data_of(host: Construct, stack: Stack) -> list[tuple[str, object]]:
    """Each user data of the resource, with what names it inside the resource."""
    if isinstance(host, ec2.CfnLaunchTemplate):
        data = host.launch_template_data
        if isinstance(data, ec2.CfnLaunchTemplate.LaunchTemplateDataProperty):
            return [] if data.user_data is None else [("", data.user_data)]
        return _user_data_in("", stack.resolve(data))  # a token for the whole data
    if isinstance(host, ec2.CfnSpotFleet):
        config = stack.resolve(host.spot_fleet_request_config_data)
        specifications = config.get("launchSpecifications") if isinstance(config, dict) else None
        if not isinstance(specifications, list):
            return []
        return [
            found
            for number, specification in enumerate(specifications)
            for found in _user_data_in(f" (launch specification {number})", specification)
        ]
    assert isinstance(host, ec2.CfnInstance | autoscaling.CfnLaunchConfiguration)
    return [] if host.user_data is None else [("", host.user_data)]


def _user_data_in(part: str, resolved: object) -> list[tuple[str, object]]:
    if not isinstance(resolved, dict):
        return []
    value = resolved.get("userData", resolved.get("UserData"))
    return [] if value is None else [(part, value)]


def _decoded(value: object) -> tuple[object, int, list[str]]:
    """The user data as EC2 gets it (before base64), its size, and the functions in it that
    could not be measured. A literal string is already base64 (CloudFormation wants it so)."""
    unmeasured: list[str] = []
    if isinstance(value, dict) and list(value) == ["Fn::Base64"]:
        inner = value["Fn::Base64"]
        return inner, resolved_size(inner, unmeasured), unmeasured
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error:
            return value, resolved_size(value), []
        if raw[:2] == b"\x1f\x8b":  # gzip'd, which cloud-init reads: looked into, counted as is
            with contextlib.suppress(OSError, EOFError, zlib.error):
                return gzip.decompress(raw).decode("utf-8", "replace"), len(raw), []
        return raw.decode("utf-8", "replace"), len(raw), []
    size = resolved_size(value, unmeasured)
    return value, size, unmeasured or ["a value not in Fn::Base64"]


def _host_path(host: Construct) -> str:
    """The L2's path when the resource is its default child (Hosts/Template, not
    Hosts/Template/Resource)."""
    scope = host.node.scope
    default = None if scope is None else scope.node.default_child
    if scope is not None and default is not None and default.node.path == host.node.path:
        return scope.node.path
    return host.node.path
