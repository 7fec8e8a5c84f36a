"""The policy document's recon consumer as an ECS worker: three tasks on Fargate."""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from restart_policy import WorkerService
from stacks._shared import ops_topic, vpc_with_flow_logs


class ReconWorkerStack(Stack):
    """``daemon_recon_client_funds_consumer`` (numprocs=3 in the policy document) on Fargate."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = vpc_with_flow_logs(self)
        cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        repository = ecr.Repository.from_repository_name(self, "BosImages", "bos")
        alerts = ops_topic(self)
        self.worker = WorkerService(
            self,
            "ReconClientFundsConsumer",
            cluster=cluster,
            image=ecs.ContainerImage.from_ecr_repository(repository, tag="stable"),
            command=["/srv/bos/scripts/celery/daemon_recon_client_funds_consumer.sh"],
            environment={"PROCESS_NAME": "daemon_recon_client_funds_consumer"},
            desired_count=3,
            alarm_topic=alerts,
            dashboard=True,
        )
        # ecr:GetAuthorizationToken has no resource-level permissions: AWS only allows "*".
        Validations.of(self.worker.task_definition.obtain_execution_role()).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                reason="The execution role's ecr:GetAuthorizationToken only accepts Resource '*'.",
            )
        )
        Validations.of(self.worker.task_definition).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-ECS2",
                reason="PROCESS_NAME is a non-secret process label; secrets go through ecs.Secret.",
            )
        )
