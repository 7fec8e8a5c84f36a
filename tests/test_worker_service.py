"""WorkerService: every default and every override in the template, every validation branch."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, CfnParameter, Duration, RemovalPolicy, Size, Stack, assertions
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template

from restart_policy import LogPolicy, PolicyError, RestartPolicy, WorkerService

IMAGE = ecs.ContainerImage.from_registry("public.ecr.aws/docker/library/python:3.12-slim")


def _stack() -> tuple[Stack, ecs.Cluster]:
    stack = Stack(App(), "Test")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
    return stack, ecs.Cluster(stack, "Cluster", vpc=vpc)


def build(**props: Any) -> tuple[WorkerService, Template]:
    stack, cluster = _stack()
    props.setdefault("cluster", cluster)
    worker = WorkerService(stack, "Worker", image=IMAGE, **props)
    return worker, Template.from_stack(stack)


def container(template: Template) -> dict[str, Any]:
    (definition,) = template.find_resources("AWS::ECS::TaskDefinition").values()
    (first,) = definition["Properties"]["ContainerDefinitions"]
    return dict(first)


@pytest.fixture(scope="module")
def default() -> tuple[WorkerService, Template]:
    return build()


def test_circuit_breaker_rolls_back_and_counts_every_failed_task(default: Any) -> None:
    default[1].has_resource_properties(
        "AWS::ECS::Service",
        {
            "DeploymentConfiguration": Match.object_like(
                {
                    "DeploymentCircuitBreaker": {
                        "Enable": True,
                        "Rollback": True,
                        "ResetOnHealthyTask": False,
                        "ThresholdConfiguration": {"Type": "COUNT", "Value": 5},
                    }
                }
            )
        },
    )


def test_healthy_percent_is_100_to_200(default: Any) -> None:
    default[1].has_resource_properties(
        "AWS::ECS::Service",
        {
            "DeploymentConfiguration": Match.object_like(
                {"MinimumHealthyPercent": 100, "MaximumPercent": 200}
            )
        },
    )


def test_no_min_healthy_percent_warning(default: Any) -> None:
    warnings = assertions.Annotations.from_stack(Stack.of(default[0])).find_warning(
        "*", Match.string_like_regexp("minHealthyPercent")
    )
    assert warnings == []


def test_fargate_by_default_on_latest_platform(default: Any) -> None:
    default[1].has_resource_properties(
        "AWS::ECS::Service",
        {"LaunchType": "FARGATE", "PlatformVersion": "LATEST", "DesiredCount": 1},
    )
    default[1].has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {"Cpu": "256", "Memory": "512", "RequiresCompatibilities": ["FARGATE"]},
    )


def test_restart_policy_period_is_the_start_window(default: Any) -> None:
    assert container(default[1])["RestartPolicy"] == {"Enabled": True, "RestartAttemptPeriod": 120}


def test_stop_timeout_is_the_policys(default: Any) -> None:
    assert container(default[1])["StopTimeout"] == 120


def test_container_is_essential(default: Any) -> None:
    assert container(default[1])["Essential"] is True


def test_logs_go_non_blocking_into_a_dedicated_group(default: Any) -> None:
    default[1].has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "ContainerDefinitions": [
                Match.object_like(
                    {
                        "LogConfiguration": {
                            "LogDriver": "awslogs",
                            "Options": {
                                "awslogs-group": {
                                    "Ref": Match.string_like_regexp("^WorkerLogGroup")
                                },
                                "awslogs-stream-prefix": "Worker",
                                "awslogs-region": {"Ref": "AWS::Region"},
                                "mode": "non-blocking",
                                "max-buffer-size": "26214400b",
                            },
                        }
                    }
                )
            ]
        },
    )


def test_log_group_has_retention_and_is_retained(default: Any) -> None:
    default[1].has_resource(
        "AWS::Logs::LogGroup",
        {
            "Properties": {"RetentionInDays": 30},
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_exposes_what_it_creates(default: Any) -> None:
    worker = default[0]
    assert isinstance(worker.service, ecs.FargateService)
    assert isinstance(worker.task_definition, ecs.FargateTaskDefinition)
    assert worker.container.container_name == "worker"
    assert isinstance(worker.log_group, logs.LogGroup)
    assert worker.restart_policy == RestartPolicy()
    assert worker.log_policy == LogPolicy()


def test_no_ignored_exit_codes_by_default(default: Any) -> None:
    assert "RestartIgnoredExitCodes" not in container(default[1])["RestartPolicy"]


def test_policy_override_reaches_the_container() -> None:
    policy = RestartPolicy(start_window=Duration.minutes(5), stop_timeout=Duration.seconds(45))
    _, template = build(restart_policy=policy)
    assert container(template)["RestartPolicy"] == {"Enabled": True, "RestartAttemptPeriod": 300}
    assert container(template)["StopTimeout"] == 45


def test_start_retries_set_the_breaker_threshold() -> None:
    _, template = build(restart_policy=RestartPolicy(start_retries=2))
    template.has_resource_properties(
        "AWS::ECS::Service",
        {
            "DeploymentConfiguration": Match.object_like(
                {
                    "DeploymentCircuitBreaker": Match.object_like(
                        {"ThresholdConfiguration": {"Type": "COUNT", "Value": 2}}
                    )
                }
            )
        },
    )


def test_breaker_threshold_override() -> None:
    _, template = build(circuit_breaker_failure_threshold=10)
    service = next(iter(template.find_resources("AWS::ECS::Service").values()))
    breaker = service["Properties"]["DeploymentConfiguration"]["DeploymentCircuitBreaker"]
    assert breaker["ThresholdConfiguration"] == {"Type": "COUNT", "Value": 10}


def test_ignored_exit_codes_override() -> None:
    _, template = build(ignored_exit_codes=[0, 3])
    assert container(template)["RestartPolicy"]["IgnoredExitCodes"] == [0, 3]


def test_on_failure_policy_ignores_its_expected_exit_codes() -> None:
    _, template = build(restart_policy=RestartPolicy(restart="on-failure", exit_codes=[0, 2]))
    assert container(template)["RestartPolicy"]["IgnoredExitCodes"] == [0, 2]


def test_log_policy_retention_override() -> None:
    _, template = build(log_policy=LogPolicy(retention=logs.RetentionDays.ONE_WEEK))
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 7})


def test_log_removal_policy_override() -> None:
    _, template = build(log_removal_policy=RemovalPolicy.DESTROY)
    template.has_resource("AWS::Logs::LogGroup", {"DeletionPolicy": "Delete"})


def test_log_buffer_size_override() -> None:
    _, template = build(log_buffer_size=Size.mebibytes(4))
    assert container(template)["LogConfiguration"]["Options"]["max-buffer-size"] == "4194304b"


def test_command_environment_secrets_and_size() -> None:
    stack, cluster = _stack()
    from aws_cdk import aws_secretsmanager as secretsmanager

    secret = secretsmanager.Secret(stack, "DbSecret")
    WorkerService(
        stack,
        "Worker",
        cluster=cluster,
        image=IMAGE,
        command=["python", "-m", "daemon"],
        environment={"QUEUE": "recon"},
        secrets={"DB_PASSWORD": ecs.Secret.from_secrets_manager(secret, "password")},
        cpu=1024,
        memory_limit_mib=2048,
        desired_count=3,
        container_name="consumer",
    )
    template = Template.from_stack(stack)
    found = container(template)
    assert found["Command"] == ["python", "-m", "daemon"]
    assert {"Name": "QUEUE", "Value": "recon"} in found["Environment"]
    assert found["Secrets"][0]["Name"] == "DB_PASSWORD"
    assert found["Name"] == "consumer"
    template.has_resource_properties("AWS::ECS::TaskDefinition", {"Cpu": "1024", "Memory": "2048"})
    template.has_resource_properties("AWS::ECS::Service", {"DesiredCount": 3})


def test_vpc_instead_of_cluster_makes_a_cluster() -> None:
    stack = Stack(App(), "Test")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
    WorkerService(stack, "Worker", vpc=vpc, image=IMAGE)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::ECS::Cluster", 1)
    assert any(
        name.startswith("WorkerCluster") for name in template.find_resources("AWS::ECS::Cluster")
    )


def test_ec2_launch_type() -> None:
    stack, cluster = _stack()
    cluster.add_capacity(
        "Capacity",
        instance_type=ec2.InstanceType("t3.small"),
        machine_image=ecs.EcsOptimizedImage.amazon_linux2023(),
    )
    worker = WorkerService(
        stack,
        "Worker",
        cluster=cluster,
        image=IMAGE,
        launch_type=ecs.LaunchType.EC2,
        restart_policy=RestartPolicy(stop_timeout=Duration.seconds(300)),
        memory_limit_mib=1024,
    )
    template = Template.from_stack(stack)
    assert isinstance(worker.service, ecs.Ec2Service)
    template.has_resource_properties("AWS::ECS::Service", {"LaunchType": "EC2"})
    found = container(template)
    assert found["StopTimeout"] == 300
    assert found["Memory"] == 1024
    assert found["RestartPolicy"] == {"Enabled": True, "RestartAttemptPeriod": 120}


def test_deployment_alarms_roll_back() -> None:
    stack, cluster = _stack()
    alarm = cloudwatch.Alarm(
        stack,
        "Errors",
        metric=cloudwatch.Metric(namespace="Bos", metric_name="Errors"),
        threshold=1,
        evaluation_periods=1,
    )
    WorkerService(stack, "Worker", cluster=cluster, image=IMAGE, deployment_alarms=[alarm])
    Template.from_stack(stack).has_resource_properties(
        "AWS::ECS::Service",
        {
            "DeploymentConfiguration": Match.object_like(
                {
                    "Alarms": {
                        "AlarmNames": [
                            {"Ref": Match.string_like_regexp("^WorkerCrashLoopAlarm")},
                            {"Ref": Match.string_like_regexp("^Errors")},
                        ],
                        "Enable": True,
                        "Rollback": True,
                    }
                }
            )
        },
    )


def test_token_values_are_passed_through() -> None:
    stack, cluster = _stack()
    count = CfnParameter(stack, "Count", type="Number").value_as_number
    window = CfnParameter(stack, "Window", type="Number").value_as_number
    WorkerService(
        stack,
        "Worker",
        cluster=cluster,
        image=IMAGE,
        desired_count=count,  # type: ignore[arg-type]
        restart_policy=RestartPolicy(start_window=Duration.seconds(window)),
    )
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::ECS::Service", {"DesiredCount": {"Ref": "Count"}})
    assert container(template)["RestartPolicy"]["RestartAttemptPeriod"] == {"Ref": "Window"}


# --- bad input -------------------------------------------------------------------------------


def _refused(match: str, **props: Any) -> str:
    with pytest.raises(PolicyError, match=match) as caught:
        build(**props)
    return str(caught.value)


@pytest.mark.parametrize("seconds", [30, 1801])
def test_start_window_outside_restart_period_limits(seconds: int) -> None:
    message = _refused(
        rf"restart_policy.start_window='{seconds} seconds': .*from 60 to 1800 seconds",
        restart_policy=RestartPolicy(start_window=seconds),
    )
    assert message.startswith("WorkerService Test/Worker: 1 problem:")


def test_fargate_stop_timeout_above_120_seconds() -> None:
    _refused(
        r"restart_policy.stop_timeout='121 seconds': is above Fargate's maximum.*or run on EC2",
        restart_policy=RestartPolicy(stop_timeout=121),
    )


def test_negative_desired_count() -> None:
    _refused(r"desired_count=-1: is below 0", desired_count=-1)


def test_non_integer_desired_count() -> None:
    _refused(r"desired_count=1.5: is not a whole number", desired_count=1.5)


def test_breaker_threshold_below_one() -> None:
    _refused(
        r"circuit_breaker_failure_threshold=0: is below 1", circuit_breaker_failure_threshold=0
    )


def test_fargate_cpu_that_does_not_exist() -> None:
    _refused(r"cpu=300: is not a Fargate task size", cpu=300)


def test_fargate_memory_that_does_not_fit_the_cpu() -> None:
    _refused(
        r"memory_limit_mib=1536: does not go with cpu=256 on Fargate\. Fix: give one of "
        r"512, 1024, 2048 \(MiB\)",
        memory_limit_mib=1536,
    )


def test_ec2_memory_below_container_minimum() -> None:
    _refused(r"memory_limit_mib=4: is below 6", launch_type=ecs.LaunchType.EC2, memory_limit_mib=4)


def test_ignored_exit_codes_out_of_range() -> None:
    _refused(r"ignored_exit_codes=.*holds \[300\], not exit codes", ignored_exit_codes=[300])


def test_too_many_ignored_exit_codes() -> None:
    _refused(
        r"ignored_exit_codes='51 codes': is more than the 50", ignored_exit_codes=list(range(51))
    )


def test_non_positive_log_buffer() -> None:
    _refused(r"log_buffer_size=0.0: is not positive", log_buffer_size=Size.bytes(0))


def test_neither_cluster_nor_vpc() -> None:
    stack = Stack(App(), "Test")
    with pytest.raises(PolicyError, match=r"cluster/vpc='neither': exactly one is needed"):
        WorkerService(stack, "Worker", image=IMAGE)


def test_both_cluster_and_vpc() -> None:
    stack, cluster = _stack()
    with pytest.raises(PolicyError, match=r"cluster/vpc='both'"):
        WorkerService(stack, "Worker", image=IMAGE, cluster=cluster, vpc=cluster.vpc)


def test_wrong_policy_types() -> None:
    message = _refused(
        r"restart_policy=.*is not a RestartPolicy",
        restart_policy={"start_retries": 3},
        log_policy="x",
    )
    assert "log_policy='x': is not a LogPolicy" in message


def test_all_problems_of_a_service_come_in_one_error_and_nothing_is_built() -> None:
    stack, cluster = _stack()
    with pytest.raises(PolicyError) as caught:
        WorkerService(
            stack,
            "Worker",
            cluster=cluster,
            image=IMAGE,
            desired_count=-1,
            cpu=300,
            restart_policy=RestartPolicy(start_window=10, stop_timeout=500),
        )
    message = str(caught.value)
    assert message.startswith("WorkerService Test/Worker: 4 problems:")
    assert stack.node.try_find_child("Worker") is None


def test_crash_alarm_threshold_below_one() -> None:
    _refused(r"crash_alarm_threshold=0: is below 1", crash_alarm_threshold=0)


@pytest.mark.parametrize("window", [Duration.seconds(30), Duration.seconds(90), Duration.days(2)])
def test_crash_alarm_window_that_is_not_a_cloudwatch_period(window: Duration) -> None:
    _refused(r"crash_alarm_window=.*whole number of minutes", crash_alarm_window=window)


# --- networking and naming ------------------------------------------------------------------


def test_private_subnets_no_public_ip_and_a_security_group_by_default(default: Any) -> None:
    default[1].has_resource_properties(
        "AWS::ECS::Service",
        {
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "AssignPublicIp": "DISABLED",
                    "SecurityGroups": [
                        {"Fn::GetAtt": [Match.string_like_regexp("^WorkerService"), "GroupId"]}
                    ],
                    "Subnets": [
                        {"Ref": Match.string_like_regexp("^VpcPrivateSubnet1")},
                        {"Ref": Match.string_like_regexp("^VpcPrivateSubnet2")},
                    ],
                }
            },
            "PropagateTags": "SERVICE",
        },
    )


def test_service_name_subnets_security_groups_and_public_ip() -> None:
    stack, cluster = _stack()
    group = ec2.SecurityGroup(stack, "Workers", vpc=cluster.vpc)
    WorkerService(
        stack,
        "Worker",
        cluster=cluster,
        image=IMAGE,
        service_name="recon",
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        security_groups=[group],
        assign_public_ip=True,
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::ECS::Service",
        {
            "ServiceName": "recon",
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "AssignPublicIp": "ENABLED",
                    "SecurityGroups": [
                        {"Fn::GetAtt": [Match.string_like_regexp("^Workers"), "GroupId"]}
                    ],
                    "Subnets": [
                        {"Ref": Match.string_like_regexp("^VpcPublicSubnet1")},
                        {"Ref": Match.string_like_regexp("^VpcPublicSubnet2")},
                    ],
                }
            },
        },
    )


def test_durations_and_enum_likes_are_shown_readably() -> None:
    text = _refused(
        r"heartbeat_max_age=120 s: only applies",
        health_check=ecs.HealthCheck(command=["CMD", "true"]),
        heartbeat_max_age=Duration.minutes(2),
        runtime_platform=ecs.RuntimePlatform(
            operating_system_family=ecs.OperatingSystemFamily.WINDOWS_SERVER_2022_CORE
        ),
    )
    assert "operating_system_family=OperatingSystemFamily.WINDOWS_SERVER_2022_CORE: is not " in text
    assert "object at 0x" not in text
