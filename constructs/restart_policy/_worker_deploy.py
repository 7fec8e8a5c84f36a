"""The ECS service of a WorkerService: capacity, network, deployments and ECS Exec."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jsii
from aws_cdk import Annotations, AspectPriority, Aspects, IAspect, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from ._policy_record import record_policy
from .policy import RestartPolicy
from .worker_capacity import WorkerCapacity

if TYPE_CHECKING:
    from ._worker_props import Resolved


@dataclass(frozen=True)
class ServiceSpec:
    cluster: ecs.ICluster
    task_definition: ecs.TaskDefinition
    capacity: WorkerCapacity
    desired_count: int | None
    min_healthy_percent: int
    breaker_threshold: int
    deployment_alarm_names: Sequence[str]
    service_name: str | None
    vpc_subnets: ec2.SubnetSelection | None
    security_groups: Sequence[ec2.ISecurityGroup] | None
    assign_public_ip: bool
    enable_execute_command: bool
    log_group: logs.ILogGroup
    policy: RestartPolicy


def service_spec(
    r: Resolved,
    cluster: ecs.ICluster,
    task_definition: ecs.TaskDefinition,
    log_group: logs.ILogGroup,
    crash_alarm: cloudwatch.IAlarm | None,
) -> ServiceSpec:
    """The service's spec from WorkerService's resolved props."""
    return ServiceSpec(
        cluster=cluster,
        task_definition=task_definition,
        capacity=r.capacity,
        desired_count=r.desired_count,
        min_healthy_percent=r.min_healthy_percent,
        breaker_threshold=r.breaker_threshold,
        deployment_alarm_names=deployment_alarm_names(crash_alarm, r.deployment_alarms),
        service_name=r.service_name,
        vpc_subnets=r.vpc_subnets,
        security_groups=r.security_groups,
        assign_public_ip=r.assign_public_ip,
        enable_execute_command=r.enable_execute_command,
        log_group=log_group,
        policy=r.policy,
    )


def build_service(scope: Construct, spec: ServiceSpec) -> ecs.BaseService:
    capacity = spec.capacity
    awsvpc = capacity.network_mode == ecs.NetworkMode.AWS_VPC
    strategies: list[ecs.CapacityProviderStrategy] | None = None
    if capacity.uses_cluster_default:
        strategies = []  # omits the launch type; the empty list itself is removed below
    elif capacity.capacity_provider_strategies is not None:
        strategies = list(capacity.capacity_provider_strategies)
    common: dict[str, Any] = {
        "cluster": spec.cluster,
        "task_definition": spec.task_definition,
        "desired_count": spec.desired_count,
        "min_healthy_percent": spec.min_healthy_percent,
        "max_healthy_percent": 200,
        "circuit_breaker": ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
        "deployment_alarms": ecs.DeploymentAlarmConfig(
            alarm_names=list(spec.deployment_alarm_names),
            behavior=ecs.AlarmBehavior.ROLLBACK_ON_ALARM,
        )
        if spec.deployment_alarm_names
        else None,
        "service_name": spec.service_name,
        "capacity_provider_strategies": strategies,
        "propagate_tags": ecs.PropagatedTagSource.SERVICE,
        # CDK's own ECS Exec grants logs actions on "*" for the cluster's DEFAULT logging; only
        # a cluster with its own exec configuration (KMS, S3, a log group) needs CDK's grants.
        "enable_execute_command": (
            spec.enable_execute_command and _cluster_exec_config(spec.cluster)
        )
        or None,
    }
    if awsvpc:
        common["vpc_subnets"] = spec.vpc_subnets
        common["security_groups"] = (
            None if spec.security_groups is None else list(spec.security_groups)
        )
        common["assign_public_ip"] = spec.assign_public_ip
    service: ecs.BaseService
    if capacity.fargate:
        service = ecs.FargateService(
            scope,
            "Service",
            platform_version=(
                ecs.FargatePlatformVersion.LATEST
                if capacity.platform_version is None
                else capacity.platform_version
            ),
            **common,
        )
    else:
        service = ecs.Ec2Service(scope, "Service", **common)
    record_policy(scope, spec.policy)
    if strategies is not None and isinstance(spec.cluster, ecs.Cluster):
        # A service with a strategy fails to create when its provider is not yet associated
        # with the cluster, and CloudFormation knows no order between the two: the service
        # must depend on the AWS::ECS::ClusterCapacityProviderAssociations (containers-roadmap
        # #631). CDK makes that resource in an aspect of the cluster at synth, so a second
        # aspect, added after it with the same priority, adds the dependency once it exists.
        Aspects.of(spec.cluster).add(
            _WaitForAssociations(spec.cluster, service), priority=AspectPriority.DEFAULT
        )
    cfn_service = service.node.default_child
    assert isinstance(cfn_service, ecs.CfnService)
    if capacity.uses_cluster_default:
        cfn_service.add_property_deletion_override("CapacityProviderStrategy")
    # The CDK L2 breaker does not expose these yet (aws-cdk #38243). Without them a daemon
    # that starts, passes as healthy and then dies resets the count and never trips it.
    cfn_service.add_property_override(
        "DeploymentConfiguration.DeploymentCircuitBreaker.ThresholdConfiguration",
        {"Type": "COUNT", "Value": spec.breaker_threshold},
    )
    cfn_service.add_property_override(
        "DeploymentConfiguration.DeploymentCircuitBreaker.ResetOnHealthyTask", False
    )
    if spec.enable_execute_command and not _cluster_exec_config(spec.cluster):
        cfn_service.enable_execute_command = True
        if not _grant_exec(spec.task_definition, spec.log_group):
            Annotations.of(scope).add_warning_v2(
                EXEC_ROLE_WARNING,
                "enable_execute_command=True, and the task role takes no policy (an imported "
                "immutable role): ECS Exec fails until you add to it "
                + "; ".join(
                    f"{', '.join(actions)} on {where}"
                    for actions, where in _exec_statements(spec.log_group.node.path)
                )
                + ". Or give a task role WorkerService may add to (mutable=True on import).",
            )
    return service


@jsii.implements(IAspect)
class _WaitForAssociations:
    """Makes ``service`` depend on ``cluster``'s capacity provider associations (only them: a
    dependency on the whole cluster would repeat the ``Ref`` to the cluster, cfn-lint W3005)."""

    def __init__(self, cluster: ecs.Cluster, service: ecs.BaseService) -> None:
        self._cluster_path = cluster.node.path
        self._service = service

    def visit(self, node: IConstruct) -> None:
        if node.node.path != self._cluster_path:
            return
        for child in node.node.children:
            if isinstance(child, ecs.CfnClusterCapacityProviderAssociations):
                self._service.node.add_dependency(child)


def _cluster_exec_config(cluster: ecs.ICluster) -> bool:
    return isinstance(cluster, ecs.Cluster) and cluster.execute_command_configuration is not None


#: The synth warning for an ECS Exec service whose task role cannot take the grants.
EXEC_ROLE_WARNING = "restart-policy:workerExecRoleImmutable"
_SSM_MESSAGES = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)
_LOG_STREAM_ACTIONS = ("logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents")


def _exec_statements(log_group: str) -> list[tuple[tuple[str, ...], str]]:
    """What AWS documents for ECS Exec on the task role: the four ssmmessages actions, and for
    session logs in CloudWatch Logs (the cluster's DEFAULT logging writes them to the
    container's awslogs group) DescribeLogGroups plus the three stream actions on that group."""
    return [
        (_SSM_MESSAGES, "*"),
        (("logs:DescribeLogGroups",), "*"),
        (_LOG_STREAM_ACTIONS, f"the log group {log_group}"),
    ]


def _grant_exec(task_definition: ecs.TaskDefinition, log_group: logs.ILogGroup) -> bool:
    """Grant ``_exec_statements`` to the task role; False when they went nowhere: an immutable
    imported role drops them and still says ``statement_added``, so look for the policy that a
    role made in the app (its default policy) or a mutable import (a ``Policy`` child) gets."""
    role = task_definition.task_role
    results = [
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(_SSM_MESSAGES), resources=["*"])
        ),
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["logs:DescribeLogGroups"], resources=["*"])
        ),
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(_LOG_STREAM_ACTIONS), resources=[log_group.log_group_arn]
            )
        ),
    ]
    if not all(result.statement_added for result in results):
        return False
    return isinstance(role, iam.Role) or any(
        isinstance(child, iam.Policy | iam.CfnPolicy) for child in role.node.find_all()
    )


def deployment_alarm_names(
    crash_alarm: cloudwatch.IAlarm | None, extra: Sequence[cloudwatch.IAlarm]
) -> list[str]:
    alarms = ([] if crash_alarm is None else [crash_alarm]) + list(extra)
    return [alarm.alarm_name for alarm in alarms]


def set_deployment_alarms(service: ecs.BaseService, names: Sequence[str]) -> None:
    """Write the whole list: CDK's ``enable_deployment_alarms`` drops the names it is given once
    alarms are on (it concatenates into a list it then throws away)."""
    cfn_service = service.node.default_child
    assert isinstance(cfn_service, ecs.CfnService)
    cfn_service.add_property_override(
        "DeploymentConfiguration.Alarms",
        {"AlarmNames": list(names), "Enable": True, "Rollback": True},
    )


def deployment_alarm_name(alarm: cloudwatch.IAlarm | str, service: ecs.BaseService) -> str | None:
    """The name to list for ``alarm``: a fixed name as a plain string (no dependency on the
    alarm), else its ``Ref``; None when that ``Ref`` would close a cycle: the alarm's metric
    refers to the service, so the service would wait for the alarm and the alarm for the
    service, which CloudFormation refuses."""
    if isinstance(alarm, str):
        return alarm
    cfn_alarm = alarm.node.default_child
    if not isinstance(cfn_alarm, cloudwatch.CfnAlarm):
        return alarm.alarm_name  # imported, or a composite: it cannot watch this service
    fixed = cfn_alarm.alarm_name
    if isinstance(fixed, str) and not Token.is_unresolved(fixed):
        return fixed
    stack = Stack.of(service)
    cfn_service = service.node.default_child
    assert isinstance(cfn_service, ecs.CfnService)
    service_id = stack.get_logical_id(cfn_service)
    watched = json.dumps([stack.resolve(cfn_alarm.dimensions), stack.resolve(cfn_alarm.metrics)])
    return None if f'"{service_id}"' in watched else alarm.alarm_name
