"""RestartPolicyChecks on what a resource is and where it sits: nested stacks of any depth,
stages, multipart user data, jobs that no service runs, DAEMON services, and the policy each
construct was built with. cdk-nag's style: a compliant and a non-compliant case each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Duration, NestedStack, Stack, Stage
from aws_cdk import aws_applicationautoscaling as app_autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_ecs_patterns as ecs_patterns
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from restart_policy import Program, RestartPolicy, SupervisorPrograms, WorkerService
from restart_policy._policy_record import METADATA_KEY
from tests.test_checks import (
    GOOD_BREAKER,
    IMAGE,
    check,
    check_app,
    check_messages,
    cluster_of,
    count_every_failed_task,
    good_container,
    good_fargate_service,
    rules,
)
from tests.test_cli_synth import run_cdk

Build = Callable[[Stack], object]
AppBuild = Callable[[App], object]

# --- nested stacks and stages ---------------------------------------------------------------


def two_levels_deep(build: Build) -> AppBuild:
    def app(app_: App) -> None:
        stack = Stack(app_, "Test")
        inner = NestedStack(NestedStack(stack, "Outer"), "Inner")
        build(inner)

    return app


def test_log_group_two_nested_stacks_deep_is_found_by_its_construct_path() -> None:
    passed, findings = check_app(
        two_levels_deep(
            lambda s: logs.LogGroup(s, "Forever", retention=logs.RetentionDays.INFINITE)
        )
    )
    assert not passed
    assert findings == [("RP-LOGS-RETENTION", "Test/Outer/Inner/Forever/Resource", "error")]


def test_compliant_service_two_nested_stacks_deep_passes() -> None:
    assert check_app(two_levels_deep(good_fargate_service)) == (True, [])


def test_raw_services_in_a_nested_stack_fail_with_both_services_findings() -> None:
    def build(app: App) -> None:
        nested = NestedStack(Stack(app, "Test"), "Workers")
        cluster = cluster_of(nested)  # type: ignore[arg-type]
        for name in ("Orders", "Billing"):
            task = ecs.FargateTaskDefinition(nested, f"{name}Task")
            task.add_container(
                "App", image=IMAGE, logging=ecs.LogDrivers.aws_logs(stream_prefix=name)
            )
            ecs.FargateService(
                nested, name, cluster=cluster, task_definition=task, min_healthy_percent=100
            )

    passed, findings = check_app(build)
    assert not passed
    for name in ("Orders", "Billing"):
        assert ("RP-ECS-BREAKER", f"Test/Workers/{name}/Service", "error") in findings
        assert ("RP-ECS-RESTART", f"Test/Workers/{name}Task/Resource", "error") in findings
        assert ("RP-ECS-STOP", f"Test/Workers/{name}Task/Resource", "error") in findings


def test_task_definition_of_the_parent_run_by_a_service_in_a_nested_stack_is_a_service_task() -> (
    None
):
    def build(app: App) -> None:
        stack = Stack(app, "Test")
        task = ecs.FargateTaskDefinition(stack, "Task")
        task.add_container("App", image=IMAGE)  # no restart policy: wrong for a service
        nested = NestedStack(stack, "Services")
        service = ecs.CfnService(
            nested, "Service", task_definition=task.task_definition_arn,
            deployment_configuration=ecs.CfnService.DeploymentConfigurationProperty(
                deployment_circuit_breaker=GOOD_BREAKER
            ),
        )  # fmt: skip
        count_every_failed_task(service)

    _, findings = check_app(build)
    assert ("RP-ECS-RESTART", "Test/Task/Resource", "error") in findings


def test_stage_stack_is_judged_with_its_construct_path() -> None:
    def build(app: App) -> None:
        stack = Stack(Stage(app, "Prod"), "Workers")
        logs.LogGroup(stack, "Forever", retention=logs.RetentionDays.INFINITE)

    passed, findings = check_app(build)
    assert not passed and findings == [
        ("RP-LOGS-RETENTION", "Prod/Workers/Forever/Resource", "error")
    ]


def test_compliant_stage_passes() -> None:
    assert check_app(lambda app: good_fargate_service(Stack(Stage(app, "Prod"), "W"))) == (
        True,
        [],
    )


# --- MultipartUserData -----------------------------------------------------------------------

SECTION = """cat > /etc/supervisor/conf.d/worker.conf <<'EOF'
[program:worker]
command=/srv/worker.sh
autorestart=true
startsecs=120
startretries=5
EOF"""


def multipart_host(script: str) -> Build:
    def build(stack: Stack) -> None:
        shell = ec2.UserData.for_linux()
        shell.add_commands(script, f"echo {stack.region}")  # a deploy-time part too
        user_data = ec2.MultipartUserData()
        user_data.add_user_data_part(shell, ec2.MultipartBody.SHELL_SCRIPT, True)
        ec2.LaunchTemplate(stack, "Hosts", user_data=user_data)

    return build


def test_program_in_multipart_user_data_is_found() -> None:
    passed, findings = check(multipart_host(SECTION.replace("startsecs=120", "startsecs=0")))
    assert not passed
    assert findings == [("RP-SUP-STARTSECS", "Test/Hosts/Resource", "error")]


def test_compliant_program_in_multipart_user_data_passes() -> None:
    assert check(multipart_host(SECTION)) == (True, [])


# --- jobs: task definitions that no service runs -------------------------------------------


def run_task_target(**container: object) -> Build:
    def build(stack: Stack) -> None:
        task = ecs.FargateTaskDefinition(stack, "Job")
        task.add_container("App", image=IMAGE, **container)  # type: ignore[arg-type]
        rule = events.Rule(stack, "Nightly", schedule=events.Schedule.cron(hour="3", minute="0"))
        rule.add_target(
            targets.EcsTask(
                cluster=cluster_of(stack),
                task_definition=task,
                subnet_selection=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            )
        )

    return build


def test_run_task_only_job_is_not_told_to_restart_in_place() -> None:
    assert check(run_task_target()) == (True, [])


def test_run_task_only_job_restarted_after_exit_code_zero_fails() -> None:
    build = run_task_target(enable_restart_policy=True)
    passed, findings, messages = check_messages(build)
    assert not passed and findings == [("RP-ECS-JOB-RESTART", "Test/Job/Resource", "error")]
    assert "restarted in place after exit code 0" in messages


def test_run_task_only_job_whose_restart_policy_ignores_exit_code_zero_passes() -> None:
    build = run_task_target(enable_restart_policy=True, restart_ignored_exit_codes=[0])
    assert check(build) == (True, [])


def test_scheduled_task_is_a_job() -> None:
    def build(stack: Stack) -> None:
        ecs_patterns.ScheduledFargateTask(
            stack, "Report", cluster=cluster_of(stack),
            schedule=app_autoscaling.Schedule.rate(Duration.hours(1)),
            subnet_selection=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            scheduled_fargate_task_image_options=ecs_patterns.ScheduledFargateTaskImageOptions(
                image=IMAGE, log_driver=ecs.LogDrivers.aws_logs(
                    stream_prefix="report",
                    log_group=logs.LogGroup(stack, "Logs", retention=logs.RetentionDays.ONE_MONTH),
                ),
            ),
        )  # fmt: skip

    assert check(build) == (True, [])


# --- DAEMON services -------------------------------------------------------------------------


def ec2_cluster_of(stack: Stack) -> ecs.Cluster:
    cluster = cluster_of(stack)
    cluster.add_capacity(
        "Capacity", instance_type=ec2.InstanceType("t3.micro"),
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
    )  # fmt: skip
    return cluster


def daemon_service(*, breaker: bool) -> Build:
    def build(stack: Stack) -> None:
        task = ecs.Ec2TaskDefinition(stack, "Task")
        good_container(task, memory_limit_mib=256)
        service = ecs.Ec2Service(
            stack, "Agent", cluster=ec2_cluster_of(stack), task_definition=task, daemon=True,
            min_healthy_percent=0,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True) if breaker else None,
        )  # fmt: skip
        if breaker:
            count_every_failed_task(service)

    return build


def test_daemon_service_is_judged_by_ecs_defaults_for_daemons() -> None:
    assert check(daemon_service(breaker=True)) == (True, [])


def test_daemon_service_without_breaker_fails() -> None:
    passed, findings = check(daemon_service(breaker=False))
    assert not passed and rules(findings) == {"RP-ECS-BREAKER"}


def test_replica_service_with_zero_minimum_healthy_percent_still_fails() -> None:
    def build(stack: Stack) -> None:
        task = ecs.Ec2TaskDefinition(stack, "Task")
        good_container(task, memory_limit_mib=256)
        service = ecs.Ec2Service(
            stack, "Agent", cluster=ec2_cluster_of(stack), task_definition=task,
            min_healthy_percent=0, circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
        )  # fmt: skip
        count_every_failed_task(service)

    assert rules(check(build)[1]) == {"RP-ECS-HEALTHY"}


# --- the policy a construct was built with ---------------------------------------------------


def test_worker_service_with_an_accepted_per_service_policy_passes_the_default_checks() -> None:
    def build(stack: Stack) -> None:
        WorkerService(
            stack, "Worker", cluster=ec2_cluster_of(stack), image=IMAGE,
            launch_type=ecs.LaunchType.EC2, restart_policy=RestartPolicy(stop_timeout=300),
        )  # fmt: skip

    assert check(build) == (True, [])


def test_hand_written_service_is_judged_by_the_app_wide_policy() -> None:
    def build(stack: Stack) -> None:
        task = ecs.Ec2TaskDefinition(stack, "Task")
        good_container(task, memory_limit_mib=256, stop_timeout=Duration.seconds(300))
        service = ecs.Ec2Service(
            stack, "Service", cluster=ec2_cluster_of(stack), task_definition=task,
            min_healthy_percent=100, circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
        )  # fmt: skip
        count_every_failed_task(service)

    _, findings, messages = check_messages(build)
    assert findings == [("RP-ECS-STOP", "Test/Task/Resource", "error")]
    assert "StopTimeout 300 is outside 1..120 s" in messages


@pytest.mark.e2e
def test_cdk_synth_of_the_nested_stack_sample_fails_with_both_services_findings(
    tmp_path: Path,
) -> None:
    app = Path(__file__).with_name("fixtures") / "nested_stack_app.py"
    result = run_cdk(
        "synth", "--quiet", "--app", f"python {app}", "--output", str(tmp_path / "out")
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for name in ("Orders", "Billing"):
        assert f"Sample/Workers/{name}/Service" in output  # RP-ECS-BREAKER
        assert f"Sample/Workers/{name}Task/Resource" in output  # RP-ECS-RESTART, RP-ECS-STOP
    for rule in ("RP-ECS-BREAKER", "RP-ECS-RESTART", "RP-ECS-STOP", "RP-LOGS-RETENTION"):
        assert rule in output


def test_task_definition_exported_to_a_service_in_another_stack_is_a_service_task() -> None:
    def build(app: App) -> None:
        tasks = Stack(app, "Tasks")
        task = ecs.FargateTaskDefinition(tasks, "Task")
        task.add_container("App", image=IMAGE)  # no restart policy: wrong for a service
        service = ecs.CfnService(
            Stack(app, "Services"), "Service", task_definition=task.task_definition_arn,
            deployment_configuration=ecs.CfnService.DeploymentConfigurationProperty(
                deployment_circuit_breaker=GOOD_BREAKER
            ),
        )  # fmt: skip
        count_every_failed_task(service)

    _, findings = check_app(build)
    assert ("RP-ECS-RESTART", "Tasks/Task/Resource", "error") in findings


def recorded(stack: Stack) -> dict[str, dict[str, Any]]:
    template = Template.from_stack(stack).to_json()
    return {
        resource["Type"]: resource["Metadata"][METADATA_KEY]
        for resource in template["Resources"].values()
        if METADATA_KEY in resource.get("Metadata", {})
    }


def test_worker_service_records_its_policy_on_the_service_and_task_definition() -> None:
    stack = Stack(App(), "Test")
    WorkerService(
        stack, "Worker", cluster=cluster_of(stack), image=IMAGE,
        restart_policy=RestartPolicy(stop_timeout=60),
    )  # fmt: skip
    record = recorded(stack)
    assert set(record) == {"AWS::ECS::Service", "AWS::ECS::TaskDefinition"}
    assert record["AWS::ECS::Service"]["policy"]["stop_timeout"] == 60


def test_supervisor_programs_record_each_programs_policy_on_the_hosts_given_their_user_data() -> (
    None
):
    stack = Stack(App(), "Test")
    programs = SupervisorPrograms(
        stack, "Programs", restart_policy=RestartPolicy(start_window=60),
        programs=[
            Program(name="fast", command="/bin/fast"),
            Program(
                name="slow", command="/bin/slow", restart_policy=RestartPolicy(start_window=300)
            ),
        ],
    )  # fmt: skip
    ec2.LaunchTemplate(stack, "Hosts", user_data=programs.user_data)
    ec2.LaunchTemplate(stack, "Other", user_data=ec2.UserData.for_linux())
    record = recorded(stack)
    assert list(record) == ["AWS::EC2::LaunchTemplate"]  # only the one given the user data
    windows = {
        name: p["start_window"]
        for name, p in record["AWS::EC2::LaunchTemplate"]["programs"].items()
    }
    assert windows == {"fast": 60, "slow": 300}


def test_supervisor_programs_with_a_shorter_start_window_pass_the_default_checks() -> None:
    def build(stack: Stack) -> None:
        programs = SupervisorPrograms(
            stack, "Programs", programs=[Program(name="p", command="/bin/p")],
            restart_policy=RestartPolicy(start_window=60, stop_timeout=30),
        )  # fmt: skip
        ec2.LaunchTemplate(stack, "Hosts", user_data=programs.user_data)

    assert check(build) == (True, [])


def test_the_same_section_written_by_hand_is_judged_by_the_app_wide_window() -> None:
    def build(stack: Stack) -> None:
        programs = SupervisorPrograms(
            stack, "Programs", programs=[Program(name="p", command="/bin/p")],
            # Without the agent: a hand-written section has supervisor's own restarts.
            restart_policy=RestartPolicy(start_window=60, stop_timeout=30, backoff=None),
        )  # fmt: skip
        script = f"cat > /etc/p.conf <<'EOF'\n{programs.program_configs['p']}EOF"
        user_data = ec2.UserData.for_linux()
        user_data.add_commands(script)
        ec2.LaunchTemplate(stack, "Hosts", user_data=user_data)

    _, findings = check(build)
    assert findings == [("RP-SUP-STARTSECS", "Test/Hosts/Resource", "error")]
