"""One measured run, in a process of its own: build an app of N worker services, synthesize it.

python -m bench._synth_app VARIANT N  ->  one JSON line: construct_s, synth_s, rss_mib, resources
VARIANT: library (WorkerService without alarms), library-alarms (with them), hand (the same
resources written with aws-cdk-lib), library-checks (library + RestartPolicyChecks).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

PER_STACK = 25  # CloudFormation allows 500 resources a stack


def node_peak_kib() -> int:
    """Peak RSS of the jsii node process (a child of this one), from /proc."""
    peak = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != os.getpid():
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            continue
    return peak


def main() -> None:
    variant, count = sys.argv[1], int(sys.argv[2])
    started = time.perf_counter()
    import aws_cdk as cdk
    from aws_cdk import Duration, RemovalPolicy, Size
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_ecs as ecs
    from aws_cdk import aws_logs as logs

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
            scope = stack
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
    if variant == "library-checks":
        cdk.Validations.of(app).add_plugins(RestartPolicyChecks())
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
                "rss_mib": (python_kib + node_peak_kib()) / 1024,
                "resources": resources,
            }
        )
    )


if __name__ == "__main__":
    main()
