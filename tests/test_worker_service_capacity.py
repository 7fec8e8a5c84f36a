"""WorkerService capacity: launch types, capacity provider strategies, network modes."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk.assertions import Match, Template

from restart_policy import PolicyError, WorkerService
from restart_policy.worker_capacity import WorkerCapacity

IMAGE = ecs.ContainerImage.from_registry("public.ecr.aws/docker/library/python:3.12-slim")


def _cluster(**props: Any) -> tuple[Stack, ecs.Cluster]:
    stack = Stack(App(), "Test")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
    return stack, ecs.Cluster(stack, "Cluster", vpc=vpc, **props)


def _asg_provider(stack: Stack, cluster: ecs.Cluster) -> ecs.AsgCapacityProvider:
    group = autoscaling.AutoScalingGroup(
        stack,
        "Hosts",
        vpc=cluster.vpc,
        instance_type=ec2.InstanceType("t3.small"),
        machine_image=ecs.EcsOptimizedImage.amazon_linux2023(),
        min_capacity=0,
        max_capacity=2,
    )
    provider = ecs.AsgCapacityProvider(stack, "Provider", auto_scaling_group=group)
    cluster.add_asg_capacity_provider(provider)
    return provider


def _service(template: Template) -> dict[str, Any]:
    (service,) = template.find_resources("AWS::ECS::Service").values()
    return dict(service["Properties"])


def _build(stack: Stack, cluster: ecs.Cluster, **props: Any) -> tuple[WorkerService, Template]:
    worker = WorkerService(stack, "Worker", cluster=cluster, image=IMAGE, **props)
    return worker, Template.from_stack(stack)


def test_fargate_spot_strategy_omits_the_launch_type() -> None:
    stack, cluster = _cluster(enable_fargate_capacity_providers=True)
    _, template = _build(
        stack,
        cluster,
        capacity_provider_strategies=[
            ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=2),
            ecs.CapacityProviderStrategy(capacity_provider="FARGATE", base=1, weight=1),
        ],
    )
    service = _service(template)
    assert "LaunchType" not in service
    assert service["CapacityProviderStrategy"] == [
        {"CapacityProvider": "FARGATE_SPOT", "Weight": 2},
        {"CapacityProvider": "FARGATE", "Base": 1, "Weight": 1},
    ]
    assert service["PlatformVersion"] == "LATEST"
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition", {"RequiresCompatibilities": ["FARGATE"]}
    )


def test_worker_capacity_fargate_spot_helper() -> None:
    stack, cluster = _cluster(enable_fargate_capacity_providers=True)
    _, template = _build(stack, cluster, capacity=WorkerCapacity.fargate_spot(on_demand_base=1))
    assert _service(template)["CapacityProviderStrategy"] == [
        {"CapacityProvider": "FARGATE_SPOT", "Weight": 1},
        {"CapacityProvider": "FARGATE", "Base": 1, "Weight": 0},
    ]


def test_worker_capacity_fargate_spot_alone() -> None:
    stack, cluster = _cluster(enable_fargate_capacity_providers=True)
    _, template = _build(stack, cluster, capacity=WorkerCapacity.fargate_spot())
    assert _service(template)["CapacityProviderStrategy"] == [
        {"CapacityProvider": "FARGATE_SPOT", "Weight": 1}
    ]


def test_asg_capacity_provider_runs_an_ec2_task_definition() -> None:
    stack, cluster = _cluster()
    provider = _asg_provider(stack, cluster)
    worker, template = _build(
        stack,
        cluster,
        capacity=WorkerCapacity.providers(
            ecs.CapacityProviderStrategy(
                capacity_provider=provider.capacity_provider_name, weight=1
            )
        ),
        memory_limit_mib=1024,
    )
    assert isinstance(worker.service, ecs.Ec2Service)
    service = _service(template)
    assert "LaunchType" not in service
    template.has_resource_properties(
        "AWS::ECS::Service",
        {
            "CapacityProviderStrategy": [
                {"CapacityProvider": {"Ref": Match.string_like_regexp("^Provider")}, "Weight": 1}
            ]
        },
    )
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition", {"RequiresCompatibilities": ["EC2"], "NetworkMode": "awsvpc"}
    )


def test_cluster_default_strategy_sets_neither_launch_type_nor_strategy() -> None:
    stack, cluster = _cluster(enable_fargate_capacity_providers=True)
    cluster.add_default_capacity_provider_strategy(
        [ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=1)]
    )
    _, template = _build(stack, cluster, capacity=WorkerCapacity.cluster_default())
    service = _service(template)
    assert "LaunchType" not in service
    assert "CapacityProviderStrategy" not in service


def _associations(template: Template) -> str:
    (logical_id,) = template.find_resources("AWS::ECS::ClusterCapacityProviderAssociations")
    return str(logical_id)


@pytest.mark.parametrize(
    "capacity",
    [WorkerCapacity.fargate_spot(), WorkerCapacity.cluster_default()],
    ids=["strategy", "cluster-default"],
)
def test_a_service_with_providers_waits_for_the_cluster_associations(
    capacity: WorkerCapacity,
) -> None:
    # containers-roadmap #631: the service fails when created before the association
    stack, cluster = _cluster(enable_fargate_capacity_providers=True)
    cluster.add_default_capacity_provider_strategy(
        [ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=1)]
    )
    _, template = _build(stack, cluster, capacity=capacity)
    template.has_resource(
        "AWS::ECS::Service", {"DependsOn": Match.array_with([_associations(template)])}
    )


def test_an_asg_provider_service_waits_for_the_cluster_associations() -> None:
    stack, cluster = _cluster()
    provider = _asg_provider(stack, cluster)
    _, template = _build(
        stack,
        cluster,
        capacity=WorkerCapacity.providers(
            ecs.CapacityProviderStrategy(
                capacity_provider=provider.capacity_provider_name, weight=1
            )
        ),
        memory_limit_mib=1024,
    )
    template.has_resource(
        "AWS::ECS::Service", {"DependsOn": Match.array_with([_associations(template)])}
    )


@pytest.mark.parametrize(
    ("mode", "rendered"), [(ecs.NetworkMode.BRIDGE, "bridge"), (ecs.NetworkMode.HOST, "host")]
)
def test_ec2_network_modes(mode: ecs.NetworkMode, rendered: str) -> None:
    stack, cluster = _cluster()
    cluster.add_capacity(
        "Capacity",
        instance_type=ec2.InstanceType("t3.small"),
        machine_image=ecs.EcsOptimizedImage.amazon_linux2023(),
    )
    _, template = _build(
        stack, cluster, launch_type=ecs.LaunchType.EC2, network_mode=mode, memory_limit_mib=512
    )
    template.has_resource_properties("AWS::ECS::TaskDefinition", {"NetworkMode": rendered})
    service = _service(template)
    assert "NetworkConfiguration" not in service
    assert service["LaunchType"] == "EC2"


def test_ec2_helper_is_awsvpc_by_default() -> None:
    stack, cluster = _cluster()
    cluster.add_capacity(
        "Capacity",
        instance_type=ec2.InstanceType("t3.small"),
        machine_image=ecs.EcsOptimizedImage.amazon_linux2023(),
    )
    _, template = _build(stack, cluster, capacity=WorkerCapacity.ec2())
    template.has_resource_properties("AWS::ECS::TaskDefinition", {"NetworkMode": "awsvpc"})
    assert _service(template)["LaunchType"] == "EC2"


def test_fargate_on_demand_helper_with_platform_version() -> None:
    stack, cluster = _cluster()
    _, template = _build(
        stack,
        cluster,
        capacity=WorkerCapacity.fargate_on_demand(
            platform_version=ecs.FargatePlatformVersion.VERSION1_4
        ),
    )
    service = _service(template)
    assert service["LaunchType"] == "FARGATE"
    assert service["PlatformVersion"] == "1.4.0"


def test_capacity_repr_names_the_choice() -> None:
    assert "FARGATE_SPOT" in repr(WorkerCapacity.fargate_spot())
    assert "cluster_default" in repr(WorkerCapacity.cluster_default())
    assert "launch_type" in repr(WorkerCapacity.ec2())


# --- bad input -------------------------------------------------------------------------------


def _refused(match: str, cluster_props: dict[str, Any] | None = None, **props: Any) -> str:
    stack, cluster = _cluster(**(cluster_props or {}))
    with pytest.raises(PolicyError, match=match) as caught:
        WorkerService(stack, "Worker", cluster=cluster, image=IMAGE, **props)
    return str(caught.value)


def test_strategy_together_with_launch_type() -> None:
    _refused(
        r"launch_type=.*together with capacity_provider_strategies.*Fix: give one of them",
        cluster_props={"enable_fargate_capacity_providers": True},
        launch_type=ecs.LaunchType.FARGATE,
        capacity_provider_strategies=[
            ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=1)
        ],
    )


def test_capacity_providers_not_on_the_cluster() -> None:
    _refused(
        r"capacity_provider_strategies=\['FARGATE_SPOT'\]: are not capacity providers of the "
        r"cluster. Fix: create the cluster with enable_fargate_capacity_providers=True",
        capacity_provider_strategies=[
            ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=1)
        ],
    )


def test_asg_provider_not_on_the_cluster() -> None:
    _refused(
        r"capacity=.*\['my-provider'\]: are not capacity providers.*add_asg_capacity_provider",
        capacity=WorkerCapacity.providers(
            ecs.CapacityProviderStrategy(capacity_provider="my-provider", weight=1)
        ),
    )


def test_cluster_default_without_a_default_strategy() -> None:
    _refused(
        r"capacity='cluster_default': .*the cluster has none.*add_default_capacity_provider",
        capacity=WorkerCapacity.cluster_default(),
    )


def test_fargate_with_bridge_mode() -> None:
    _refused(
        r"network_mode=.*is not awsvpc, the only network mode Fargate runs",
        network_mode=ecs.NetworkMode.BRIDGE,
    )


def test_unsupported_network_mode() -> None:
    _refused(
        r"network_mode=.*is not supported",
        launch_type=ecs.LaunchType.EC2,
        network_mode=ecs.NetworkMode.NONE,
    )


def test_awsvpc_settings_in_bridge_mode() -> None:
    _refused(
        r"vpc_subnets/assign_public_ip='given': only apply to the awsvpc network mode",
        launch_type=ecs.LaunchType.EC2,
        network_mode=ecs.NetworkMode.BRIDGE,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        assign_public_ip=True,
    )


def test_platform_version_on_ec2() -> None:
    _refused(
        r"platform_version=.*is a Fargate setting",
        launch_type=ecs.LaunchType.EC2,
        platform_version=ecs.FargatePlatformVersion.LATEST,
    )


def test_unsupported_launch_type() -> None:
    _refused(r"launch_type=.*is not supported", launch_type=ecs.LaunchType.EXTERNAL)


def test_empty_strategy_list() -> None:
    _refused(
        r"capacity_provider_strategies=\[\]: is empty.*cluster_default",
        capacity_provider_strategies=[],
    )


def test_strategy_list_of_the_wrong_type() -> None:
    _refused(
        r"capacity_provider_strategies=.*not CapacityProviderStrategy",
        capacity_provider_strategies=["FARGATE"],
    )


def test_strategy_that_is_not_a_list() -> None:
    _refused(r"capacity_provider_strategies='FARGATE': is not a list",
             capacity_provider_strategies="FARGATE")  # fmt: skip


def test_strategy_mixing_fargate_and_asg() -> None:
    _refused(
        r"mixes Fargate and Auto Scaling group providers",
        cluster_props={"enable_fargate_capacity_providers": True},
        capacity_provider_strategies=[
            ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1),
            ecs.CapacityProviderStrategy(capacity_provider="my-asg", weight=1),
        ],
    )


def test_strategy_with_two_bases() -> None:
    _refused(
        r"gives a base to more than one provider",
        cluster_props={"enable_fargate_capacity_providers": True},
        capacity_provider_strategies=[
            ecs.CapacityProviderStrategy(capacity_provider="FARGATE", base=1, weight=1),
            ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", base=1, weight=1),
        ],
    )


def test_capacity_object_together_with_keywords() -> None:
    _refused(
        r"capacity=.*is given together with launch_type",
        capacity=WorkerCapacity.ec2(),
        launch_type=ecs.LaunchType.EC2,
    )


def test_capacity_of_the_wrong_type() -> None:
    _refused(r"capacity='spot': is not a WorkerCapacity", capacity="spot")


def test_worker_capacity_checks_on_its_own() -> None:
    capacity = WorkerCapacity(network_mode=ecs.NetworkMode.HOST)
    assert [item.field for item in capacity.problems.items] == ["network_mode"]


def _asg_default_cluster() -> tuple[Stack, ecs.Cluster]:
    stack, cluster = _cluster()
    provider = _asg_provider(stack, cluster)
    cluster.add_default_capacity_provider_strategy(
        [ecs.CapacityProviderStrategy(capacity_provider=provider.capacity_provider_name, weight=1)]
    )
    return stack, cluster


def test_cluster_default_on_asg_providers_runs_an_ec2_task_definition() -> None:
    stack, cluster = _asg_default_cluster()
    worker, template = _build(stack, cluster, capacity=WorkerCapacity.cluster_default())
    assert isinstance(worker.service, ecs.Ec2Service)
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition", {"RequiresCompatibilities": ["EC2"]}
    )


def test_cluster_default_fargate_that_contradicts_the_cluster() -> None:
    stack, cluster = _asg_default_cluster()
    with pytest.raises(
        PolicyError,
        match=r"capacity='cluster_default\(fargate=True\)': contradicts the cluster's default "
        r"strategy, which holds Auto Scaling group providers",
    ):
        _build(stack, cluster, capacity=WorkerCapacity.cluster_default(fargate=True))


def test_cluster_default_on_fargate_spot_refuses_arm64() -> None:
    stack, cluster = _cluster(enable_fargate_capacity_providers=True)
    cluster.add_default_capacity_provider_strategy(
        [ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=1)]
    )
    with pytest.raises(PolicyError, match=r"cpu_architecture='ARM64': .*Fargate Spot"):
        _build(
            stack,
            cluster,
            capacity=WorkerCapacity.cluster_default(),
            runtime_platform=ecs.RuntimePlatform(cpu_architecture=ecs.CpuArchitecture.ARM64),
        )


def test_strategy_whose_weights_are_all_zero() -> None:
    _refused(
        r"capacity_provider_strategies=\['FARGATE_SPOT weight=0'\]: gives every provider weight "
        r"0.*Fix: give at least one provider weight=1",
        cluster_props={"enable_fargate_capacity_providers": True},
        capacity_provider_strategies=[
            ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=0)
        ],
    )


def test_strategy_with_one_weightless_provider_and_a_base_is_accepted() -> None:
    stack, cluster = _cluster(enable_fargate_capacity_providers=True)
    _, template = _build(
        stack,
        cluster,
        capacity_provider_strategies=[
            ecs.CapacityProviderStrategy(capacity_provider="FARGATE", base=1, weight=0)
        ],
    )
    assert _service(template)["CapacityProviderStrategy"] == [
        {"CapacityProvider": "FARGATE", "Base": 1, "Weight": 0}
    ]


def test_strategy_that_lists_a_provider_twice() -> None:
    _refused(
        r"lists FARGATE more than once; ECS takes each provider once",
        cluster_props={"enable_fargate_capacity_providers": True},
        capacity_provider_strategies=[
            ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1),
            ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=2),
        ],
    )


def test_asg_provider_off_the_cluster_is_named_by_its_path() -> None:
    stack, cluster = _cluster()
    group = autoscaling.AutoScalingGroup(
        stack,
        "Hosts",
        vpc=cluster.vpc,
        instance_type=ec2.InstanceType("t3.small"),
        machine_image=ecs.EcsOptimizedImage.amazon_linux2023(),
        max_capacity=2,
    )
    provider = ecs.AsgCapacityProvider(stack, "Provider", auto_scaling_group=group)
    with pytest.raises(
        PolicyError, match=r"capacity=\[AsgCapacityProvider Test/Provider\]: are not capacity"
    ):
        _build(
            stack,
            cluster,
            capacity=WorkerCapacity.providers(
                ecs.CapacityProviderStrategy(
                    capacity_provider=provider.capacity_provider_name, weight=1
                )
            ),
        )


def test_capacity_problems_join_the_service_problems_under_its_path() -> None:
    stack, cluster = _cluster()
    with pytest.raises(PolicyError) as caught:
        _build(
            stack,
            cluster,
            capacity=WorkerCapacity(network_mode=ecs.NetworkMode.HOST),
            memory_limit_mib=100,
        )
    text = str(caught.value)
    assert text.startswith("WorkerService Test/Worker: 2 problems:")
    assert "  - capacity.network_mode=NetworkMode.HOST: is not awsvpc" in text
