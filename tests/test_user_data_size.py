"""SupervisorPrograms' 16,384-byte user-data check over every shape that reaches EC2: an
Instance, an AutoScalingGroup (its own launch configuration or template, or one given), a
MultipartUserData inside each, L1 resources filled by hand, and a host in another stack."""

from __future__ import annotations

import base64
import gzip
import random
from collections.abc import Callable

import pytest
from aws_cdk import App, CfnCondition, Fn, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Annotations, Match

from restart_policy import Program, RestartPolicy, SupervisorPrograms
from restart_policy._host_checks import WARN_USER_DATA_UNCOUNTED

RECON = Program(name="recon", command="/srv/bos/recon.sh", numprocs=3)
# No back-off agent: a block of a few KB, so that the tests choose the size.
PLAIN = RestartPolicy(backoff=None)
# About 14 KB raw with the block: fits alone, not once a MIME part base64-encodes it.
MIME_ONLY_FILLER = "# " + "x" * 11000
OVER_FILLER = "# " + "x" * 20000
TOO_BIG = r"is [\d,]+ bytes, above EC2's limit of 16,384 bytes"

Host = Callable[[Stack, ec2.UserData], None]


def programs(stack: Stack) -> SupervisorPrograms:
    return SupervisorPrograms(
        stack, "Programs", programs=[RECON], monitoring=False, restart_policy=PLAIN
    )


def vpc(stack: Stack) -> ec2.Vpc:
    return ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)


IMAGE = ec2.MachineImage.latest_amazon_linux2023()
SMALL = ec2.InstanceType("t3.micro")


def instance(stack: Stack, user_data: ec2.UserData) -> None:
    ec2.Instance(
        stack,
        "Host",
        vpc=vpc(stack),
        instance_type=SMALL,
        machine_image=IMAGE,
        user_data=user_data,
    )


def group_of_its_own(stack: Stack, user_data: ec2.UserData) -> None:
    autoscaling.AutoScalingGroup(
        stack,
        "Host",
        vpc=vpc(stack),
        instance_type=SMALL,
        machine_image=IMAGE,
        user_data=user_data,
    )


def group_with_template(stack: Stack, user_data: ec2.UserData) -> None:
    template = ec2.LaunchTemplate(
        stack, "Template", instance_type=SMALL, machine_image=IMAGE, user_data=user_data
    )
    autoscaling.AutoScalingGroup(stack, "Host", vpc=vpc(stack), launch_template=template)


def multipart(user_data: ec2.UserData) -> ec2.MultipartUserData:
    whole = ec2.MultipartUserData()
    whole.add_part(ec2.MultipartBody.from_user_data(user_data))
    return whole


SHAPES: dict[str, tuple[Host, str]] = {
    "instance": (instance, "Hosts/Host"),
    "group-launch-configuration": (group_of_its_own, "Hosts/Host/LaunchConfig"),
    "group-given-template": (group_with_template, "Hosts/Template"),
}


def synth(stack: Stack) -> None:
    App.of(stack).synth()  # type: ignore[union-attr]


@pytest.mark.parametrize("shape", SHAPES)
def test_plain_user_data_over_the_limit_fails_synth(shape: str) -> None:
    host, path = SHAPES[shape]
    stack = Stack(App(), "Hosts")
    construct = programs(stack)
    host(stack, construct.user_data)
    construct.user_data.add_commands(OVER_FILLER)
    with pytest.raises(RuntimeError, match=rf"the user data of {path} {TOO_BIG}"):
        synth(stack)


@pytest.mark.parametrize("shape", SHAPES)
def test_multipart_user_data_over_the_limit_fails_synth(shape: str) -> None:
    host, path = SHAPES[shape]
    stack = Stack(App(), "Hosts")
    construct = programs(stack)
    construct.user_data.add_commands(MIME_ONLY_FILLER)
    host(stack, multipart(construct.user_data))
    with pytest.raises(RuntimeError, match=rf"the user data of {path} {TOO_BIG}.*MIME part"):
        synth(stack)


@pytest.mark.parametrize("shape", SHAPES)
def test_multipart_user_data_under_the_limit_synthesizes(shape: str) -> None:
    host, _ = SHAPES[shape]
    stack = Stack(App(), "Hosts")
    construct = programs(stack)
    host(stack, multipart(construct.user_data))
    synth(stack)


def test_group_with_a_generated_launch_template_over_the_limit_fails_synth() -> None:
    """The feature flag that makes the group build a launch template instead of a launch
    configuration."""
    app = App(
        context={"@aws-cdk/aws-autoscaling:generateLaunchTemplateInsteadOfLaunchConfig": True}
    )
    stack = Stack(app, "Hosts")
    construct = programs(stack)
    construct.user_data.add_commands(MIME_ONLY_FILLER)
    group_of_its_own(stack, multipart(construct.user_data))
    with pytest.raises(
        RuntimeError, match=rf"the user data of Hosts/Host/LaunchTemplate {TOO_BIG}"
    ):
        synth(stack)


# --- L1 resources filled by hand ----------------------------------------------------------------


def rendered(user_data: ec2.UserData) -> str:
    return Fn.base64(user_data.render())


def cfn_instance(stack: Stack, user_data: ec2.UserData) -> None:
    ec2.CfnInstance(stack, "Host", image_id="ami-12345678", user_data=rendered(user_data))


def cfn_launch_template(stack: Stack, user_data: ec2.UserData) -> None:
    ec2.CfnLaunchTemplate(
        stack,
        "Host",
        launch_template_data=ec2.CfnLaunchTemplate.LaunchTemplateDataProperty(
            image_id="ami-12345678", user_data=rendered(user_data)
        ),
    )


def cfn_launch_template_from_a_dict(stack: Stack, user_data: ec2.UserData) -> None:
    ec2.CfnLaunchTemplate(
        stack,
        "Host",
        launch_template_data={"imageId": "ami-12345678", "userData": rendered(user_data)},
    )


def cfn_launch_configuration(stack: Stack, user_data: ec2.UserData) -> None:
    autoscaling.CfnLaunchConfiguration(
        stack,
        "Host",
        image_id="ami-12345678",
        instance_type="t3.micro",
        user_data=rendered(user_data),
    )


L1_SHAPES: dict[str, Host] = {
    "cfn-instance": cfn_instance,
    "cfn-launch-template": cfn_launch_template,
    "cfn-launch-template-dict": cfn_launch_template_from_a_dict,
    "cfn-launch-configuration": cfn_launch_configuration,
}


@pytest.mark.parametrize("shape", L1_SHAPES)
def test_l1_resource_over_the_limit_fails_synth(shape: str) -> None:
    stack = Stack(App(), "Hosts")
    construct = programs(stack)
    construct.user_data.add_commands(OVER_FILLER)
    L1_SHAPES[shape](stack, construct.user_data)
    with pytest.raises(RuntimeError, match=rf"the user data of Hosts/Host {TOO_BIG}"):
        synth(stack)


@pytest.mark.parametrize("shape", L1_SHAPES)
def test_l1_resource_with_multipart_over_the_limit_fails_synth(shape: str) -> None:
    stack = Stack(App(), "Hosts")
    construct = programs(stack)
    construct.user_data.add_commands(MIME_ONLY_FILLER)
    L1_SHAPES[shape](stack, multipart(construct.user_data))
    with pytest.raises(RuntimeError, match=rf"the user data of Hosts/Host {TOO_BIG}"):
        synth(stack)


@pytest.mark.parametrize("shape", L1_SHAPES)
def test_l1_resource_under_the_limit_synthesizes(shape: str) -> None:
    stack = Stack(App(), "Hosts")
    construct = programs(stack)
    L1_SHAPES[shape](stack, multipart(construct.user_data))
    synth(stack)


def test_literal_base64_user_data_over_the_limit_fails_synth() -> None:
    """User data encoded in Python, not by ``Fn::Base64``: counted decoded."""
    stack = Stack(App(), "Hosts")
    construct = programs(stack)
    construct.user_data.add_commands(OVER_FILLER)
    text = stack.resolve(construct.user_data.render())
    assert isinstance(text, str)
    encoded = base64.b64encode(text.encode()).decode()
    ec2.CfnInstance(stack, "Host", image_id="ami-12345678", user_data=encoded)
    with pytest.raises(RuntimeError, match=rf"the user data of Hosts/Host {TOO_BIG}"):
        synth(stack)


def test_gzipped_literal_user_data_over_the_limit_fails_synth() -> None:
    """cloud-init reads gzip'd user data: looked into for the block, counted compressed."""
    stack = Stack(App(), "Hosts")
    construct = programs(stack)
    construct.user_data.add_commands(
        "# " + base64.b64encode(random.Random(7).randbytes(15000)).decode()
    )
    text = stack.resolve(construct.user_data.render())
    assert isinstance(text, str)
    encoded = base64.b64encode(gzip.compress(text.encode())).decode()
    ec2.CfnInstance(stack, "Host", image_id="ami-12345678", user_data=encoded)
    with pytest.raises(RuntimeError, match=rf"the user data of Hosts/Host {TOO_BIG}"):
        synth(stack)


def test_spot_fleet_launch_specification_over_the_limit_fails_synth() -> None:
    stack = Stack(App(), "Hosts")
    construct = programs(stack)
    construct.user_data.add_commands(MIME_ONLY_FILLER)
    specification = ec2.CfnSpotFleet.SpotFleetLaunchSpecificationProperty(
        image_id="ami-12345678",
        instance_type="t3.micro",
        user_data=rendered(multipart(construct.user_data)),
    )
    ec2.CfnSpotFleet(
        stack,
        "Fleet",
        spot_fleet_request_config_data=ec2.CfnSpotFleet.SpotFleetRequestConfigDataProperty(
            iam_fleet_role="arn:aws:iam::123456789012:role/fleet",
            target_capacity=1,
            launch_specifications=[specification],
        ),
    )
    with pytest.raises(
        RuntimeError,
        match=rf"the user data of Hosts/Fleet \(launch specification 0\) {TOO_BIG}",
    ):
        synth(stack)


# --- a host in another stack ------------------------------------------------------------------


@pytest.mark.parametrize("monitoring", [False, True])
def test_host_in_another_stack_over_the_limit_fails_synth(monitoring: bool) -> None:
    """With monitoring, the block names the log group of the programs' stack: a cross-stack
    reference."""
    app = App()
    programs_stack = Stack(app, "Programs")
    hosts = Stack(app, "Hosts")
    construct = SupervisorPrograms(
        programs_stack, "Programs", programs=[RECON], monitoring=monitoring, restart_policy=PLAIN
    )
    construct.user_data.add_commands(MIME_ONLY_FILLER)
    ec2.LaunchTemplate(hosts, "Template", user_data=multipart(construct.user_data))
    with pytest.raises(
        RuntimeError, match=rf"Programs/Programs: the user data of Hosts/Template {TOO_BIG}"
    ):
        app.synth()


def test_host_in_another_stack_under_the_limit_synthesizes() -> None:
    app = App()
    programs_stack = Stack(app, "Programs")
    hosts = Stack(app, "Hosts")
    construct = SupervisorPrograms(programs_stack, "Programs", programs=[RECON])
    ec2.LaunchTemplate(hosts, "Template", user_data=multipart(construct.user_data))
    app.synth()


def test_another_constructs_host_is_not_judged_by_this_one() -> None:
    """Two SupervisorPrograms on two host groups: the error names only the one whose block is
    in the oversized user data."""
    stack = Stack(App(), "Hosts")
    small = SupervisorPrograms(
        stack, "Small", programs=[RECON], monitoring=False, restart_policy=PLAIN
    )
    big = SupervisorPrograms(
        stack,
        "Big",
        programs=[Program(name="other", command="/srv/other.sh")],
        monitoring=False,
        restart_policy=PLAIN,
    )
    ec2.LaunchTemplate(stack, "SmallHosts", user_data=small.user_data)
    ec2.LaunchTemplate(stack, "BigHosts", user_data=big.user_data)
    big.user_data.add_commands(OVER_FILLER)
    with pytest.raises(RuntimeError) as raised:
        synth(stack)
    assert "Hosts/Big: the user data of Hosts/BigHosts" in str(raised.value)
    assert "Hosts/Small:" not in str(raised.value)


def test_user_data_the_check_cannot_measure_warns() -> None:
    """An Fn::If around the block: counted as one deploy-time value, and said so."""
    stack = Stack(App(), "Hosts")
    construct = programs(stack)
    CfnCondition(stack, "Prod", expression=Fn.condition_equals("a", "a"))
    chosen = Fn.condition_if("Prod", construct.user_data.render(), "#!/bin/bash").to_string()
    ec2.CfnInstance(stack, "Host", image_id="ami-12345678", user_data=Fn.base64(chosen))
    synth(stack)
    found = Annotations.from_stack(stack).find_warning(
        "/Hosts/Programs", Match.string_like_regexp(WARN_USER_DATA_UNCOUNTED)
    )
    assert len(found) == 1
    assert "the user data of Hosts/Host has 1 value(s)" in str(found[0].entry.data)
    assert "Fn::If" in str(found[0].entry.data)


def test_measurable_user_data_does_not_warn() -> None:
    stack = Stack(App(), "Hosts")
    construct = SupervisorPrograms(stack, "Programs", programs=[RECON])
    ec2.LaunchTemplate(stack, "Template", user_data=multipart(construct.user_data))
    synth(stack)
    found = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp(WARN_USER_DATA_UNCOUNTED)
    )
    assert found == []
