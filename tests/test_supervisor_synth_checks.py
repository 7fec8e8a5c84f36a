"""SupervisorPrograms at synth: the size of every user-data shape EC2 gets, and warnings for
monitoring, secrets and alarms that would silently do nothing."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from aws_cdk.assertions import Annotations, Match

from restart_policy import Program, RestartPolicy, SupervisorPrograms
from restart_policy._host_checks import (
    WARN_ALARMS_WITHOUT_ACTIONS,
    WARN_MONITORING_NOT_GRANTED,
    WARN_SECRETS_NOT_GRANTED,
)
from restart_policy._user_data_size import resolved_size
from tests.test_supervisor_programs import RECON

# No back-off agent: a block of a few KB, so that the tests choose the size.
PLAIN = RestartPolicy(backoff=None)


def role(stack: Stack) -> iam.Role:
    return iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))


def warnings(stack: Stack) -> list[str]:
    """The warnings, but the agent's grant (tested in test_supervisor_programs.py)."""
    found = Annotations.from_stack(stack).find_warning("*", Match.any_value())
    return [
        str(entry.entry.data)
        for entry in found
        if "restart-policy:supervisor-agent-not-granted" not in str(entry.entry.data)
    ]


# --- size of every shape ----------------------------------------------------------------------


def test_resolved_size_counts_base64_parts_encoded() -> None:
    assert resolved_size({"Fn::Base64": "abcd"}) == 8
    assert resolved_size({"Fn::Join": ["-", ["ab", {"Fn::Base64": "x"}]]}) == 2 + 1 + 4


def test_resolved_size_counts_pseudo_parameters_and_references_at_their_longest() -> None:
    assert resolved_size({"Ref": "AWS::Region"}) == 25
    assert resolved_size({"Ref": "AWS::AccountId"}) == 12
    assert resolved_size({"Ref": "SomeLogGroup"}) == 512
    assert resolved_size({"Fn::GetAtt": ["Secret", "Arn"]}) == 512


def test_multipart_user_data_over_the_limit_fails_synth() -> None:
    """The block alone fits; the MIME document that base64-encodes it does not."""
    stack = Stack(App(), "Hosts")
    construct = SupervisorPrograms(
        stack, "Programs", programs=[RECON], monitoring=False, restart_policy=PLAIN
    )
    construct.user_data.add_commands("# " + "x" * 11000)
    assert (
        resolved_size(stack.resolve(construct.user_data.render())) < 16384
    )  # about 14 KB raw: fits on its own
    multipart = ec2.MultipartUserData()
    multipart.add_part(ec2.MultipartBody.from_user_data(construct.user_data))
    ec2.LaunchTemplate(stack, "Template", user_data=multipart)
    with pytest.raises(
        RuntimeError,
        match=r"the user data of Hosts/Template is [\d,]+ bytes, above EC2's limit.*MIME part",
    ):
        App.of(stack).synth()  # type: ignore[union-attr]


def test_multipart_user_data_under_the_limit_synthesizes() -> None:
    stack = Stack(App(), "Hosts")
    construct = SupervisorPrograms(
        stack, "Programs", programs=[RECON], monitoring=False, restart_policy=PLAIN
    )
    multipart = ec2.MultipartUserData()
    multipart.add_part(ec2.MultipartBody.from_user_data(construct.user_data))
    ec2.LaunchTemplate(stack, "Template", user_data=multipart)
    App.of(stack).synth()  # type: ignore[union-attr]


def test_plain_user_data_grown_past_the_limit_names_its_launch_template() -> None:
    stack = Stack(App(), "Hosts")
    construct = SupervisorPrograms(stack, "Programs", programs=[RECON], monitoring=False)
    ec2.LaunchTemplate(stack, "Template", user_data=construct.user_data)
    construct.user_data.add_commands("# " + "x" * 20000)
    with pytest.raises(RuntimeError, match=r"user data of Hosts/Template is [\d,]+ bytes"):
        App.of(stack).synth()  # type: ignore[union-attr]


# --- warnings ---------------------------------------------------------------------------------


def test_monitoring_without_a_grant_warns() -> None:
    stack = Stack(App(), "Hosts")
    SupervisorPrograms(stack, "Programs", programs=[RECON], alarm_topic=sns.Topic(stack, "T"))
    (message,) = warnings(stack)
    assert "grant_monitoring(role) was never called" in message
    assert WARN_MONITORING_NOT_GRANTED in message


def test_monitoring_with_a_grant_does_not_warn() -> None:
    stack = Stack(App(), "Hosts")
    construct = SupervisorPrograms(
        stack, "Programs", programs=[RECON], alarm_topic=sns.Topic(stack, "T")
    )
    construct.grant_monitoring(role(stack))
    assert warnings(stack) == []


def test_alarms_without_actions_warn() -> None:
    stack = Stack(App(), "Hosts")
    construct = SupervisorPrograms(stack, "Programs", programs=[RECON])
    construct.grant_monitoring(role(stack))
    (message,) = warnings(stack)
    assert "2 alarm(s) notify nobody" in message
    assert WARN_ALARMS_WITHOUT_ACTIONS in message


def test_alarm_actions_added_later_count() -> None:
    from aws_cdk import aws_cloudwatch_actions as actions

    stack = Stack(App(), "Hosts")
    construct = SupervisorPrograms(stack, "Programs", programs=[RECON])
    construct.grant_monitoring(role(stack))
    topic = sns.Topic(stack, "T")
    for alarm in construct.alarms.values():
        alarm.add_alarm_action(actions.SnsAction(topic))
    assert warnings(stack) == []


def test_monitoring_off_does_not_warn() -> None:
    stack = Stack(App(), "Hosts")
    SupervisorPrograms(stack, "Programs", programs=[RECON], monitoring=False)
    assert warnings(stack) == []


def test_secrets_without_a_grant_warn() -> None:
    stack = Stack(App(), "Hosts")
    parameter = ssm.StringParameter.from_string_parameter_name(stack, "P", "/app/db")
    program = Program(name="app", command="/srv/app", secrets={"DB_PASSWORD": parameter})
    SupervisorPrograms(stack, "Programs", programs=[program], monitoring=False)
    (message,) = warnings(stack)
    assert "grant_secrets(role) was never called" in message
    assert WARN_SECRETS_NOT_GRANTED in message
