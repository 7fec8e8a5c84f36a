"""The policy document's recon consumer as an ECS worker: three tasks on Fargate."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_sns as sns
from constructs import Construct

from restart_policy import WorkerService


class ReconWorkerStack(Stack):
    """``daemon_recon_client_funds_consumer`` (numprocs=3 in the policy document) on Fargate."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = ec2.Vpc(self, "Vpc", max_azs=2, nat_gateways=1)
        cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        repository = ecr.Repository.from_repository_name(self, "BosImages", "bos")
        alerts = sns.Topic(self, "CrashLoopAlerts", enforce_ssl=True)
        self.worker = WorkerService(
            self,
            "ReconClientFundsConsumer",
            cluster=cluster,
            image=ecs.ContainerImage.from_ecr_repository(repository, tag="stable"),
            command=["/srv/bos/scripts/celery/daemon_recon_client_funds_consumer.sh"],
            environment={"PROCESS_NAME": "daemon_recon_client_funds_consumer"},
            desired_count=3,
            alarm_topic=alerts,
        )
