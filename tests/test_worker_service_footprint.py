"""Resources per WorkerService and how many fit one stack, for the defaults and for the port
of the aws-samples queue worker (Fargate Spot, queue-depth scaling, ECS Exec)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from restart_policy import WorkerService
from restart_policy.worker_capacity import WorkerCapacity
from restart_policy.worker_scaling import WorkerScaling

IMAGE = ecs.ContainerImage.from_registry("public.ecr.aws/docker/library/python:3.12-slim")
#: CloudFormation's resources per template
#: (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).
STACK_RESOURCES_MAX = 500

Shape = Callable[[Stack, ecs.Cluster, sns.Topic, str], None]


def _defaults(stack: Stack, cluster: ecs.Cluster, topic: sns.Topic, name: str) -> None:
    WorkerService(stack, name, cluster=cluster, image=IMAGE, alarm_topic=topic)


def _port(stack: Stack, cluster: ecs.Cluster, topic: sns.Topic, name: str) -> None:
    queue = sqs.Queue(stack, f"{name}Queue", enforce_ssl=True)
    worker = WorkerService(
        stack,
        name,
        cluster=cluster,
        image=IMAGE,
        environment={"QUEUE_NAME": queue.queue_name},
        capacity=WorkerCapacity.fargate_spot(on_demand_base=1),
        scaling=WorkerScaling.queue_depth(queue, max_capacity=10),
        enable_execute_command=True,
        alarm_topic=topic,
    )
    queue.grant_consume_messages(worker.task_definition.task_role)


def _count(shape: Shape, workers: int) -> Counter[str]:
    """The workers' stack, with the network and cluster in another (a platform team's shape)."""
    app = App()
    network = Stack(app, "Network")
    cluster = ecs.Cluster(
        network,
        "Cluster",
        vpc=ec2.Vpc(network, "Vpc", max_azs=2, nat_gateways=1),
        enable_fargate_capacity_providers=True,
    )
    stack = Stack(app, "Workers")
    topic = sns.Topic(stack, "Pager", enforce_ssl=True)
    for index in range(workers):
        shape(stack, cluster, topic, f"Worker{index}")
    resources = Template.from_stack(stack).to_json()["Resources"]
    return Counter(body["Type"] for body in resources.values())


def footprint(shape: Shape) -> tuple[Counter[str], int, int]:
    """Resources each added worker costs, the stack's fixed ones, and how many workers fit."""
    one, two = _count(shape, 1), _count(shape, 2)
    per_worker = two - one
    fixed = sum(one.values()) - sum(per_worker.values())
    return per_worker, fixed, (STACK_RESOURCES_MAX - fixed) // sum(per_worker.values())


@pytest.mark.parametrize(
    ("shape", "per_worker", "fit"),
    [(_defaults, 8, 62), (_port, 16, 31)],
    ids=["defaults", "port"],
)
def test_resources_per_worker_and_workers_per_stack(
    shape: Shape, per_worker: int, fit: int
) -> None:
    each, fixed, fits = footprint(shape)
    assert (sum(each.values()), fits) == (per_worker, fit), (dict(each), fixed)
    assert sum(_count(shape, fits).values()) <= STACK_RESOURCES_MAX
    with pytest.raises(RuntimeError, match="TooManyResourcesInStack"):  # CDK refuses at synth
        _count(shape, fits + 1)
