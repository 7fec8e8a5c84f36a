"""A WorkerService with every feature on passes cfn-lint and cdk-nag's AwsSolutions pack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Acknowledgment, App, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

from restart_policy import WorkerService
from restart_policy.worker_capacity import WorkerCapacity
from restart_policy.worker_scaling import WorkerScaling

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ecs.ContainerImage.from_registry("public.ecr.aws/docker/library/python:3.12-slim")


def _app() -> App:
    app = App()
    stack = Stack(app, "Everything")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
    vpc.add_flow_log(
        "FlowLog",
        destination=ec2.FlowLogDestination.to_cloud_watch_logs(
            logs.LogGroup(stack, "FlowLogs", retention=logs.RetentionDays.ONE_MONTH)
        ),
    )
    cluster = ecs.Cluster(
        stack,
        "Cluster",
        vpc=vpc,
        enable_fargate_capacity_providers=True,
        container_insights_v2=ecs.ContainerInsights.ENABLED,
    )
    queue = sqs.Queue(
        stack,
        "Jobs",
        enforce_ssl=True,
        dead_letter_queue=sqs.DeadLetterQueue(
            max_receive_count=5, queue=sqs.Queue(stack, "JobsDlq", enforce_ssl=True)
        ),
    )
    worker = WorkerService(
        stack,
        "Worker",
        cluster=cluster,
        image=IMAGE,
        capacity=WorkerCapacity.fargate_spot(on_demand_base=1),
        scaling=WorkerScaling.queue_depth(queue, max_capacity=10, cpu_target_percent=60),
        enable_execute_command=True,
        ephemeral_storage_gib=30,
        alarm_topic=sns.Topic(stack, "Pager", enforce_ssl=True),
        dashboard=True,
    )
    queue.grant_consume_messages(worker.task_definition.task_role)
    Validations.of(worker.task_definition).acknowledge(
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            reason="ECS Exec: AWS documents the ssmmessages actions and logs:DescribeLogGroups "
            "with Resource '*' only.",
        ),
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-ECS2",
            reason="The environment holds the crash hold's settings and the heartbeat path, "
            "no secrets.",
        ),
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    synthesized: dict[str, Any] = _app().synth().get_stack_by_name("Everything").template
    return synthesized  # synth raises on any cdk-nag finding


def test_cfn_lint_clean(template: dict[str, Any]) -> None:
    config = json.loads((ROOT / ".cfnlintrc.json").read_text())
    args = ManualArgs(
        ignore_checks=[entry["rule"] for entry in config["ignore_checks"]],
        regions=config["regions"],
    )
    assert [str(match) for match in lint(json.dumps(template), config=args)] == []


def test_everything_is_there(template: dict[str, Any]) -> None:
    kinds = {body["Type"] for body in template["Resources"].values()}
    assert {
        "AWS::ECS::Service",
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::Logs::MetricFilter",
        "AWS::CloudWatch::CompositeAlarm",
        "AWS::CloudWatch::Dashboard",
    } <= kinds
