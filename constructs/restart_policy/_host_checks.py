"""What ``SupervisorPrograms`` judges at synth, once the app is complete: the size of the user
data EC2 will get, and warnings for monitoring, secrets and alarms that would do nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import jsii
from aws_cdk import Annotations, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from constructs import Construct, IValidation

from ._errors import Problems
from ._user_data_script import MARKER, USER_DATA_LIMIT_BYTES
from ._user_data_size import resolved_size

WARN_MONITORING_NOT_GRANTED = "restart-policy:supervisor-monitoring-not-granted"
WARN_SECRETS_NOT_GRANTED = "restart-policy:supervisor-secrets-not-granted"
WARN_AGENT_NOT_GRANTED = "restart-policy:supervisor-agent-not-granted"
WARN_ALARMS_WITHOUT_ACTIONS = "restart-policy:supervisor-alarms-without-actions"

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
    ) -> None:
        self._user_data = user_data
        self._monitoring = monitoring
        self._secrets = secrets
        self._agent = agent
        self._alarms = alarms

    def validate(self) -> list[str]:
        self._warn()
        stack = Stack.of(self._owner)
        errors = []
        for where, user_data in self._deployed_user_data(stack):
            size = resolved_size(stack.resolve(user_data.render()))
            if size > USER_DATA_LIMIT_BYTES:
                errors.append(
                    f"SupervisorPrograms {self._path}: the user data{where} is {size:,} bytes, "
                    f"above EC2's limit of {USER_DATA_LIMIT_BYTES:,} bytes (raw, before base64; "
                    "a MIME part counts encoded). Fix: add less to it, or split the programs "
                    "over several host groups."
                )
        return errors

    def _deployed_user_data(self, stack: Stack) -> list[tuple[str, ec2.UserData]]:
        """The user data of every instance, launch template and group of the stack that
        carries this construct's block (inside a MultipartUserData, say); the construct's own
        user data when none does yet."""
        assert self._user_data is not None
        found: list[tuple[str, ec2.UserData]] = []
        seen: set[int] = set()
        for node in stack.node.find_all():
            if not isinstance(
                node, ec2.LaunchTemplate | ec2.Instance | autoscaling.AutoScalingGroup
            ):
                continue
            try:
                user_data = node.user_data
            except Exception:  # an AutoScalingGroup made from a launch template has none
                continue
            if user_data is None or id(user_data) in seen:
                continue
            seen.add(id(user_data))
            if user_data is self._user_data or MARKER in json.dumps(
                stack.resolve(user_data.render())
            ):
                found.append((f" of {node.node.path}", user_data))
        return found or [("", self._user_data)]

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
