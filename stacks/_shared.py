"""What both reference stacks need around the library: a VPC that logs its flows, an ops topic."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from restart_policy import LogPolicy


def vpc_with_flow_logs(scope: Construct, log_policy: LogPolicy | None = None) -> ec2.Vpc:
    """Two AZs, one NAT gateway, flow logs kept as long as the log policy says."""
    retention = (LogPolicy() if log_policy is None else log_policy).retention_name
    vpc = ec2.Vpc(scope, "Vpc", max_azs=2, nat_gateways=1)
    flow_logs = logs.LogGroup(
        scope,
        "FlowLogs",
        retention=getattr(logs.RetentionDays, retention),
        removal_policy=RemovalPolicy.DESTROY,
    )
    vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs))
    return vpc


def ops_topic(scope: Construct) -> sns.Topic:
    """Where crash-loop alarms and scaling events go (subscribe the on-call rota to it)."""
    return sns.Topic(scope, "CrashLoopAlerts", enforce_ssl=True)
