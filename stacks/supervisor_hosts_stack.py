"""The policy document's two supervisor programs on an Auto Scaling group of EC2 hosts."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from restart_policy import Program, SupervisorPrograms
from stacks._shared import ops_topic, vpc_with_flow_logs

SCRIPTS = "/srv/bos/scripts/celery"


class SupervisorHostsStack(Stack):
    """``daemon_recon_client_funds_consumer`` (3 processes) and
    ``daemon_transaction_monitoring_sending_request`` under supervisor, as in the policy document.
    """

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = vpc_with_flow_logs(self)
        alerts = ops_topic(self)
        self.programs = SupervisorPrograms(
            self,
            "Programs",
            programs=[
                Program(
                    name="daemon_recon_client_funds_consumer",
                    command=f"{SCRIPTS}/%(program_name)s.sh",
                    numprocs=3,
                    user="root",
                ),
                Program(
                    name="daemon_transaction_monitoring_sending_request",
                    command=f"{SCRIPTS}/%(program_name)s.sh",
                    user="root",
                ),
            ],
            alarm_topic=alerts,
        )
        role = iam.Role(self, "HostRole", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
        self.programs.grant_monitoring(role)
        self.programs.grant_agent(role)  # the hosts download the back-off agent at boot
        template = ec2.LaunchTemplate(
            self,
            "HostTemplate",
            machine_image=ec2.MachineImage.latest_amazon_linux2023(),
            instance_type=ec2.InstanceType("t3.small"),
            user_data=self.programs.user_data,
            require_imdsv2=True,
            role=role,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(20, encrypted=True),
                )
            ],
        )
        self.hosts = autoscaling.AutoScalingGroup(
            self,
            "Hosts",
            vpc=vpc,
            launch_template=template,
            min_capacity=1,
            max_capacity=2,
            notifications=[autoscaling.NotificationConfiguration(topic=alerts)],
        )
