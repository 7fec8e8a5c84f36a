"""WorkerService task and container: roles, ECS Exec, health check, crash hold, platform."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, CfnParameter, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Annotations, Match, Template

from restart_policy import PolicyError, RestartPolicy, WorkerService

IMAGE = ecs.ContainerImage.from_registry("public.ecr.aws/docker/library/python:3.12-slim")
ARM64 = ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.ARM64)


def _stack(**cluster_props: Any) -> tuple[Stack, ecs.Cluster]:
    stack = Stack(App(), "Test")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
    return stack, ecs.Cluster(stack, "Cluster", vpc=vpc, **cluster_props)


def build(**props: Any) -> tuple[WorkerService, Template]:
    stack, cluster = _stack()
    props.setdefault("cluster", cluster)
    worker = WorkerService(stack, "Worker", image=IMAGE, **props)
    return worker, Template.from_stack(stack)


def container(template: Template) -> dict[str, Any]:
    (definition,) = template.find_resources("AWS::ECS::TaskDefinition").values()
    (first,) = definition["Properties"]["ContainerDefinitions"]
    return dict(first)


def environment(template: Template) -> dict[str, str]:
    return {item["Name"]: item["Value"] for item in container(template).get("Environment", [])}


@pytest.fixture(scope="module")
def default() -> tuple[WorkerService, Template]:
    return build()


# --- crash hold and heartbeat ---------------------------------------------------------------


def test_hold_settings_come_from_the_policy(default: Any) -> None:
    assert json.loads(environment(default[1])["RESTART_POLICY_HOLD"]) == {
        "start_window": 120,
        "initial": 10,
        "maximum": 300,
        "healthy_reset": 600,
        "jitter": 0.2,
    }


def test_hold_follows_a_changed_policy() -> None:
    policy = RestartPolicy(
        start_window=Duration.minutes(3),
        backoff_initial=Duration.seconds(5),
        backoff_max=Duration.minutes(10),
        healthy_reset=Duration.minutes(20),
    )
    _, template = build(restart_policy=policy)
    assert json.loads(environment(template)["RESTART_POLICY_HOLD"]) == {
        "start_window": 180,
        "initial": 5,
        "maximum": 600,
        "healthy_reset": 1200,
        "jitter": 0.2,
    }


def test_no_backoff_no_hold() -> None:
    _, template = build(restart_policy=RestartPolicy(backoff=None))
    assert "RESTART_POLICY_HOLD" not in environment(template)


def test_hold_with_a_deploy_time_start_window_is_resolved_by_cloudformation() -> None:
    stack, cluster = _stack()
    window = CfnParameter(stack, "Window", type="Number").value_as_number
    WorkerService(
        stack,
        "Worker",
        cluster=cluster,
        image=IMAGE,
        restart_policy=RestartPolicy(start_window=Duration.seconds(window)),
        health_check=False,
    )
    (entry,) = [
        item
        for item in container(Template.from_stack(stack))["Environment"]
        if item["Name"] == "RESTART_POLICY_HOLD"
    ]
    assert "Fn::Join" in entry["Value"]
    assert {"Ref": "Window"} in entry["Value"]["Fn::Join"][1]


def test_heartbeat_path_is_set(default: Any) -> None:
    assert environment(default[1])["RESTART_POLICY_HEARTBEAT"] == "/tmp/restart-policy-heartbeat"


def test_users_environment_wins() -> None:
    _, template = build(environment={"RESTART_POLICY_HEARTBEAT": "/run/beat", "QUEUE": "q"})
    env = environment(template)
    assert env["RESTART_POLICY_HEARTBEAT"] == "/run/beat"
    assert env["QUEUE"] == "q"


def test_default_health_check_reads_the_heartbeat(default: Any) -> None:
    assert container(default[1])["HealthCheck"] == {
        "Command": [
            "CMD", "python3", "-m", "restart_policy.health", "--max-age", "300",
        ],
        "Interval": 30,
        "Timeout": 5,
        "Retries": 3,
        "StartPeriod": 120,
    }  # fmt: skip


def test_health_start_period_follows_the_start_window() -> None:
    _, template = build(restart_policy=RestartPolicy(start_window=Duration.seconds(90)))
    assert container(template)["HealthCheck"]["StartPeriod"] == 90


def test_health_start_period_is_capped_at_ecs_maximum() -> None:
    _, template = build(restart_policy=RestartPolicy(start_window=Duration.minutes(10)))
    assert container(template)["HealthCheck"]["StartPeriod"] == 300


def test_heartbeat_max_age_override() -> None:
    _, template = build(heartbeat_max_age=Duration.minutes(2))
    assert container(template)["HealthCheck"]["Command"][-1] == "120"


def test_custom_health_check_replaces_the_heartbeat() -> None:
    _, template = build(
        health_check=ecs.HealthCheck(
            command=["CMD-SHELL", "test -f /tmp/ready"], start_period=Duration.seconds(60)
        )
    )
    assert container(template)["HealthCheck"]["Command"] == ["CMD-SHELL", "test -f /tmp/ready"]
    assert "RESTART_POLICY_HEARTBEAT" not in environment(template)


def test_health_check_off() -> None:
    _, template = build(health_check=False)
    assert "HealthCheck" not in container(template)
    assert "RESTART_POLICY_HEARTBEAT" not in environment(template)


# --- roles and ECS Exec ---------------------------------------------------------------------


def test_execution_role_is_shared_by_the_stacks_workers() -> None:
    stack, cluster = _stack()
    first = WorkerService(stack, "First", cluster=cluster, image=IMAGE)
    second = WorkerService(stack, "Second", cluster=cluster, image=IMAGE)
    template = Template.from_stack(stack)
    assert first.task_definition.execution_role is second.task_definition.execution_role
    template.resource_count_is("AWS::IAM::Policy", 0)
    roles = template.find_resources(
        "AWS::IAM::Role", {"Properties": {"Policies": Match.any_value()}}
    )
    (role,) = roles.values()
    (statement,) = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert len(statement["Resource"]) == 2  # one statement for both log groups


def test_given_roles_are_used() -> None:
    stack, cluster = _stack()
    task_role = iam.Role(stack, "App", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    exec_role = iam.Role(stack, "Agent", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    WorkerService(
        stack,
        "Worker",
        cluster=cluster,
        image=IMAGE,
        task_role=task_role,
        execution_role=exec_role,
    )
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "TaskRoleArn": {"Fn::GetAtt": [Match.string_like_regexp("^App"), "Arn"]},
            "ExecutionRoleArn": {"Fn::GetAtt": [Match.string_like_regexp("^Agent"), "Arn"]},
        },
    )
    template.resource_count_is("AWS::IAM::Role", 2)


def _task_role_statements(template: Template) -> list[dict[str, Any]]:
    policies = template.find_resources(
        "AWS::IAM::Policy",
        {"Properties": {"Roles": [{"Ref": Match.string_like_regexp("TaskRole")}]}},
    )
    (policy,) = policies.values()
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def test_execute_command_grants_exactly_the_documented_permissions() -> None:
    _, template = build(enable_execute_command=True)
    template.has_resource_properties("AWS::ECS::Service", {"EnableExecuteCommand": True})
    statements = _task_role_statements(template)
    assert statements[2]["Resource"]["Fn::GetAtt"][0].startswith("WorkerLogGroup")
    statements[2]["Resource"] = "the log group"
    assert statements == [
        {
            "Action": [
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel",
            ],
            "Effect": "Allow",
            "Resource": "*",
        },
        {"Action": "logs:DescribeLogGroups", "Effect": "Allow", "Resource": "*"},
        {
            "Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": "the log group",
        },
    ]


def test_execute_command_with_a_clusters_own_exec_configuration_uses_cdks_grants() -> None:
    stack, cluster = _stack(
        execute_command_configuration=ecs.ExecuteCommandConfiguration(
            logging=ecs.ExecuteCommandLogging.NONE
        )
    )
    WorkerService(stack, "Worker", cluster=cluster, image=IMAGE, enable_execute_command=True)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::ECS::Service", {"EnableExecuteCommand": True})
    (statement,) = _task_role_statements(template)
    assert statement["Action"][0] == "ssmmessages:CreateControlChannel"


def test_execute_command_on_an_immutable_task_role_warns_with_the_permissions() -> None:
    stack, cluster = _stack()
    role = iam.Role.from_role_arn(
        stack, "Imported", "arn:aws:iam::123456789012:role/worker", mutable=False
    )
    WorkerService(
        stack, "Worker", cluster=cluster, image=IMAGE, enable_execute_command=True, task_role=role
    )
    warnings = Annotations.from_stack(stack).find_warning(
        "/Test/Worker", Match.string_like_regexp("workerExecRoleImmutable")
    )
    (warning,) = warnings
    text = str(warning.entry.data)
    for action in (
        "ssmmessages:CreateControlChannel, ssmmessages:CreateDataChannel, "
        "ssmmessages:OpenControlChannel, ssmmessages:OpenDataChannel on *",
        "logs:DescribeLogGroups on *",
        "logs:CreateLogStream, logs:DescribeLogStreams, logs:PutLogEvents on the log group "
        "Test/Worker/LogGroup",
    ):
        assert action in text


def test_execute_command_on_a_mutable_imported_role_grants_without_a_warning() -> None:
    stack, cluster = _stack()
    role = iam.Role.from_role_arn(stack, "Imported", "arn:aws:iam::123456789012:role/worker")
    WorkerService(
        stack, "Worker", cluster=cluster, image=IMAGE, enable_execute_command=True, task_role=role
    )
    assert not Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp("workerExecRoleImmutable")
    )
    Template.from_stack(stack).has_resource_properties("AWS::IAM::Policy", {"Roles": ["worker"]})


def test_execute_command_is_off_by_default(default: Any) -> None:
    (service,) = default[1].find_resources("AWS::ECS::Service").values()
    assert "EnableExecuteCommand" not in service["Properties"]


# --- platform, storage, memory, logs, deployments -------------------------------------------


def test_arm64_on_fargate() -> None:
    _, template = build(runtime_platform=ARM64)
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {"RuntimePlatform": {"CpuArchitecture": "ARM64"}},
    )


def test_arm64_on_ec2() -> None:
    stack, cluster = _stack()
    cluster.add_capacity(
        "Capacity",
        instance_type=ec2.InstanceType("t4g.small"),
        machine_image=ecs.EcsOptimizedImage.amazon_linux2023(ecs.AmiHardwareType.ARM),
    )
    WorkerService(
        stack,
        "Worker",
        cluster=cluster,
        image=IMAGE,
        launch_type=ecs.LaunchType.EC2,
        runtime_platform=ARM64,
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::ECS::TaskDefinition", {"RuntimePlatform": {"CpuArchitecture": "ARM64"}}
    )


def test_ephemeral_storage() -> None:
    _, template = build(ephemeral_storage_gib=50)
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition", {"EphemeralStorage": {"SizeInGiB": 50}}
    )


def test_memory_reservation() -> None:
    _, template = build(memory_reservation_mib=256)
    assert container(template)["MemoryReservation"] == 256


def test_existing_log_group() -> None:
    stack, cluster = _stack()
    group = logs.LogGroup(stack, "Shared", retention=logs.RetentionDays.ONE_WEEK)
    worker = WorkerService(stack, "Worker", cluster=cluster, image=IMAGE, log_group=group)
    template = Template.from_stack(stack)
    assert worker.log_group is group
    template.resource_count_is("AWS::Logs::LogGroup", 1)
    group_ref = container(template)["LogConfiguration"]["Options"]["awslogs-group"]["Ref"]
    assert group_ref.startswith("Shared")
    template.has_resource_properties(
        "AWS::Logs::MetricFilter", {"LogGroupName": {"Ref": Match.string_like_regexp("^Shared")}}
    )


def test_min_healthy_percent_override() -> None:
    _, template = build(min_healthy_percent=50)
    template.has_resource_properties(
        "AWS::ECS::Service",
        {"DeploymentConfiguration": Match.object_like({"MinimumHealthyPercent": 50})},
    )


# --- bad input -------------------------------------------------------------------------------


def _refused(match: str, **props: Any) -> str:
    with pytest.raises(PolicyError, match=match) as caught:
        build(**props)
    return str(caught.value)


def test_health_start_period_over_the_start_window() -> None:
    _refused(
        r"health_check.start_period='200 seconds': is longer than the policy's start window "
        r"\(120 seconds\).*Fix: give a start_period at most the start window",
        health_check=ecs.HealthCheck(command=["CMD", "true"], start_period=Duration.seconds(200)),
    )


def test_health_start_period_over_ecs_maximum() -> None:
    _refused(
        r"health_check.start_period='400 seconds': is above ECS's maximum of 300 seconds",
        restart_policy=RestartPolicy(start_window=Duration.minutes(10)),
        health_check=ecs.HealthCheck(command=["CMD", "true"], start_period=Duration.seconds(400)),
    )


def test_health_check_of_the_wrong_type() -> None:
    _refused(r"health_check='python3 -m health': is not a HealthCheck",
             health_check="python3 -m health")  # fmt: skip


def test_heartbeat_max_age_with_a_custom_health_check() -> None:
    _refused(
        r"heartbeat_max_age=.*only applies to the default heartbeat health check",
        health_check=False,
        heartbeat_max_age=Duration.minutes(1),
    )


@pytest.mark.parametrize("age", [Duration.seconds(1), Duration.millis(2500)])
def test_heartbeat_max_age_too_short_or_fractional(age: Duration) -> None:
    _refused(r"heartbeat_max_age=.*whole number of seconds of at least 2", heartbeat_max_age=age)


def test_heartbeat_max_age_not_a_duration() -> None:
    _refused(r"heartbeat_max_age='5m': is a str, not a duration", heartbeat_max_age="5m")


def test_arm64_with_fargate_spot() -> None:
    stack, cluster = _stack(enable_fargate_capacity_providers=True)
    with pytest.raises(
        PolicyError,
        match=r"runtime_platform.cpu_architecture='ARM64': is not supported by Fargate Spot",
    ):
        WorkerService(
            stack,
            "Worker",
            cluster=cluster,
            image=IMAGE,
            runtime_platform=ARM64,
            capacity_provider_strategies=[
                ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=1)
            ],
        )


def test_windows_platform() -> None:
    _refused(
        r"runtime_platform.operating_system_family=.*is not Linux",
        runtime_platform=ecs.RuntimePlatform(
            operating_system_family=ecs.OperatingSystemFamily.WINDOWS_SERVER_2022_CORE
        ),
        cpu=1024,
        memory_limit_mib=2048,
    )


def test_runtime_platform_of_the_wrong_type() -> None:
    _refused(r"runtime_platform='arm64': is not a RuntimePlatform", runtime_platform="arm64")


@pytest.mark.parametrize("size", [20, 201, 30.5])
def test_ephemeral_storage_out_of_range(size: object) -> None:
    _refused(r"ephemeral_storage_gib=.*from 21 to 200", ephemeral_storage_gib=size)


def test_ephemeral_storage_on_ec2() -> None:
    _refused(
        r"ephemeral_storage_gib=30: is a Fargate setting",
        launch_type=ecs.LaunchType.EC2,
        ephemeral_storage_gib=30,
    )


def test_memory_reservation_above_the_limit() -> None:
    _refused(
        r"memory_reservation_mib=1024: is above memory_limit_mib \(512\)",
        memory_reservation_mib=1024,
    )


def test_memory_reservation_below_minimum() -> None:
    _refused(r"memory_reservation_mib=4: is below 6", memory_reservation_mib=4)


@pytest.mark.parametrize("percent", [-1, 101, 50.5])
def test_min_healthy_percent_out_of_range(percent: object) -> None:
    _refused(r"min_healthy_percent=.*from 0 to 100", min_healthy_percent=percent)


def test_log_removal_policy_with_an_existing_log_group() -> None:
    stack, cluster = _stack()
    group = logs.LogGroup(stack, "Shared", retention=logs.RetentionDays.ONE_WEEK)
    with pytest.raises(PolicyError, match=r"log_removal_policy=.*log_group is given"):
        WorkerService(
            stack,
            "Worker",
            cluster=cluster,
            image=IMAGE,
            log_group=group,
            log_removal_policy=RemovalPolicy.DESTROY,
        )
