"""RestartPolicyChecks in cdk-nag's style: for every rule a non-compliant and a compliant case."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Acknowledgment, App, CfnParameter, Duration, Fn, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs

from restart_policy import (
    PolicyError,
    Program,
    RestartPolicy,
    RestartPolicyChecks,
    SupervisorPrograms,
    WorkerService,
)
from tests.test_cli_synth import run_cdk

IMAGE = ecs.ContainerImage.from_registry("public.ecr.aws/docker/library/python:3.12-slim")

Finding = tuple[str, str, str]  # rule id, construct path, severity


def check(build: Callable[[Stack], object], **plugin: Any) -> tuple[bool, list[Finding]]:
    """Synthesize a stack with the checks; (synth passed, findings)."""
    return check_app(lambda app: build(Stack(app, "Test")), **plugin)


def check_app(build: Callable[[App], object], **plugin: Any) -> tuple[bool, list[Finding]]:
    """Synthesize an app with the checks; (synth passed, findings)."""
    outdir = tempfile.mkdtemp(prefix="rp-checks-")
    app = App(outdir=outdir)
    build(app)
    Validations.of(app).add_plugins(RestartPolicyChecks(**plugin))
    try:
        app.synth()
        passed = True
    except RuntimeError as error:
        assert "ValidationFailed" in str(error)
        passed = False
    report_path = Path(outdir, "validation-report.json")
    if not report_path.exists():
        return passed, []
    report = json.loads(report_path.read_text())
    findings = [
        (violation["ruleName"], construct["constructPath"], violation["severity"])
        for plugin_report in report["pluginReports"]
        if plugin_report["pluginName"] == "restart-policy"
        for violation in plugin_report["violations"]
        for construct in violation["violatingConstructs"]
    ]
    return passed, findings


def check_messages(
    build: Callable[[Stack], object], **plugin: Any
) -> tuple[bool, list[Finding], str]:
    """Like ``check``, with every finding's description joined, to test what it says."""
    outdir = tempfile.mkdtemp(prefix="rp-checks-")
    app = App(outdir=outdir)
    build(Stack(app, "Test"))
    Validations.of(app).add_plugins(RestartPolicyChecks(**plugin))
    try:
        app.synth()
        passed = True
    except RuntimeError:
        passed = False
    report_path = Path(outdir, "validation-report.json")
    if not report_path.exists():
        return passed, [], ""
    report = json.loads(report_path.read_text())
    violations = [
        v
        for r in report["pluginReports"]
        if r["pluginName"] == "restart-policy"
        for v in r["violations"]
    ]
    findings = [
        (v["ruleName"], c["constructPath"], v["severity"])
        for v in violations
        for c in v["violatingConstructs"]
    ]
    return passed, findings, "\n".join(v["description"] for v in violations)


def rules(findings: list[Finding]) -> set[str]:
    return {rule for rule, _, _ in findings}


def cluster_of(stack: Stack) -> ecs.Cluster:
    return ecs.Cluster(stack, "Cluster", vpc=ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0))


def good_container(task: ecs.TaskDefinition, **overrides: Any) -> ecs.ContainerDefinition:
    props: dict[str, Any] = {
        "image": IMAGE,
        "enable_restart_policy": True,
        "restart_attempt_period": Duration.seconds(120),
        "stop_timeout": Duration.seconds(120),
        "logging": ecs.LogDrivers.aws_logs(
            stream_prefix="w",
            log_group=logs.LogGroup(task, "Logs", retention=logs.RetentionDays.ONE_MONTH),
        ),
    }
    props.update(overrides)
    return task.add_container("App", **props)


def fargate_service(stack: Stack, **service: Any) -> ecs.FargateService:
    task = ecs.FargateTaskDefinition(stack, "Task")
    good_container(task)
    return ecs.FargateService(
        stack, "Service", cluster=cluster_of(stack), task_definition=task, min_healthy_percent=100,
        **service,
    )  # fmt: skip


def count_every_failed_task(service: ecs.BaseService | ecs.CfnService, count: object = 5) -> None:
    """What WorkerService sets on its breaker, which the CDK L2 does not expose yet."""
    cfn = service if isinstance(service, ecs.CfnService) else service.node.default_child
    assert isinstance(cfn, ecs.CfnService)
    breaker = "DeploymentConfiguration.DeploymentCircuitBreaker"
    cfn.add_property_override(
        f"{breaker}.ThresholdConfiguration", {"Type": "COUNT", "Value": count}
    )
    cfn.add_property_override(f"{breaker}.ResetOnHealthyTask", False)


def good_fargate_service(stack: Stack) -> ecs.FargateService:
    service = fargate_service(stack, circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True))
    count_every_failed_task(service)
    return service


GOOD_BREAKER = ecs.CfnService.DeploymentCircuitBreakerProperty(enable=True, rollback=True)


# --- ECS services ---------------------------------------------------------------------------


def test_raw_fargate_service_without_breaker_fails() -> None:
    passed, findings = check(fargate_service)
    assert not passed
    assert ("RP-ECS-BREAKER", "Test/Service/Service", "error") in findings


def test_fargate_service_with_a_breaker_that_counts_every_failed_task_passes() -> None:
    passed, findings = check(good_fargate_service)
    assert passed and findings == []


def test_breaker_without_threshold_count_and_reset_says_which_is_missing() -> None:
    service = {"circuit_breaker": ecs.DeploymentCircuitBreaker(rollback=True)}
    passed, findings, messages = check_messages(lambda s: fargate_service(s, **service))
    assert not passed and rules(findings) == {"RP-ECS-BREAKER"}
    assert "ThresholdConfiguration.Type is None, not COUNT" in messages
    assert "ResetOnHealthyTask is None, not false" in messages


def test_breaker_threshold_above_the_limit_fails() -> None:
    def build(stack: Stack) -> None:
        service = fargate_service(
            stack, circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True)
        )
        count_every_failed_task(service, count=50)

    _, findings, messages = check_messages(build)
    assert rules(findings) == {"RP-ECS-BREAKER"}
    assert "ThresholdConfiguration.Value is 50, not 1..10" in messages


def test_breaker_that_resets_on_a_healthy_task_fails() -> None:
    def build(stack: Stack) -> None:
        service = good_fargate_service(stack)
        service.node.default_child.add_property_override(  # type: ignore[union-attr]
            "DeploymentConfiguration.DeploymentCircuitBreaker.ResetOnHealthyTask", True
        )

    assert rules(check(build)[1]) == {"RP-ECS-BREAKER"}


def test_breaker_without_rollback_fails() -> None:
    _, findings = check(
        lambda s: fargate_service(s, circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=False))
    )
    assert rules(findings) == {"RP-ECS-BREAKER"}


def l1_service(stack: Stack, **config: Any) -> ecs.CfnService:
    return ecs.CfnService(
        stack, "Legacy", task_definition="arn:aws:ecs:eu-west-1:111111111111:task-definition/x:1",
        deployment_configuration=ecs.CfnService.DeploymentConfigurationProperty(**config)
        if config else None,
    )  # fmt: skip


def test_l1_service_without_deployment_configuration_fails() -> None:
    passed, findings = check(l1_service)
    assert not passed and ("RP-ECS-BREAKER", "Test/Legacy", "error") in findings


def good_l1_service(stack: Stack, **config: Any) -> ecs.CfnService:
    service = l1_service(stack, deployment_circuit_breaker=GOOD_BREAKER, **config)
    count_every_failed_task(service)
    return service


def test_service_with_low_minimum_healthy_percent_fails() -> None:
    _, findings = check(lambda s: good_l1_service(s, minimum_healthy_percent=50))
    assert rules(findings) == {"RP-ECS-HEALTHY"}


def test_minimum_healthy_percent_threshold_is_configurable() -> None:
    passed, findings = check(
        lambda s: good_l1_service(s, minimum_healthy_percent=50), min_healthy_percent=50
    )
    assert passed and findings == []


def test_code_deploy_controlled_service_is_not_judged_for_the_breaker() -> None:
    def build(stack: Stack) -> None:
        ecs.CfnService(
            stack, "BlueGreen", deployment_controller=ecs.CfnService.DeploymentControllerProperty(
                type="CODE_DEPLOY"
            ),
        )  # fmt: skip

    assert check(build) == (True, [])


# --- task definitions -----------------------------------------------------------------------


def run_by_a_service(stack: Stack, task: ecs.TaskDefinition) -> None:
    """An L1 service that runs ``task``: the container rules judge only what a service runs."""
    service = l1_service(stack, deployment_circuit_breaker=GOOD_BREAKER)
    service.task_definition = task.task_definition_arn
    count_every_failed_task(service)


def task_with(**overrides: Any) -> Callable[[Stack], None]:
    def build(stack: Stack) -> None:
        task = ecs.FargateTaskDefinition(stack, "Task")
        good_container(task, **overrides)
        run_by_a_service(stack, task)

    return build


def test_task_definition_without_restart_policy_fails() -> None:
    passed, findings = check(task_with(enable_restart_policy=False, restart_attempt_period=None))
    assert not passed and rules(findings) == {"RP-ECS-RESTART"}


def test_task_definition_with_restart_policy_passes() -> None:
    assert check(task_with()) == (True, [])


def test_restart_period_outside_ecs_limits_fails() -> None:
    def build(stack: Stack) -> None:
        task = ecs.FargateTaskDefinition(stack, "Task")
        good_container(task)
        task.node.default_child.add_property_override(  # type: ignore[union-attr]
            "ContainerDefinitions.0.RestartPolicy.RestartAttemptPeriod", 3600
        )
        run_by_a_service(stack, task)

    assert rules(check(build)[1]) == {"RP-ECS-RESTART"}


def test_missing_stop_timeout_fails() -> None:
    assert rules(check(task_with(stop_timeout=None))[1]) == {"RP-ECS-STOP"}


def test_fargate_stop_timeout_above_120_seconds_fails() -> None:
    policy = RestartPolicy(stop_timeout=600)
    _, findings = check(task_with(stop_timeout=Duration.seconds(500)), restart_policy=policy)
    assert rules(findings) == {"RP-ECS-STOP"}


def test_fargate_stop_timeout_of_one_second_fails() -> None:
    _, findings, messages = check_messages(task_with(stop_timeout=Duration.seconds(1)))
    assert rules(findings) == {"RP-ECS-STOP"}
    assert "outside 2..120 s on Fargate" in messages


def test_stop_timeout_above_the_policy_fails() -> None:
    _, findings = check(
        task_with(stop_timeout=Duration.seconds(90)), restart_policy=RestartPolicy(stop_timeout=60)
    )
    assert rules(findings) == {"RP-ECS-STOP"}


def test_container_without_logging_fails() -> None:
    def build(stack: Stack) -> None:
        task = ecs.FargateTaskDefinition(stack, "Task")
        task.add_container(
            "App", image=IMAGE, enable_restart_policy=True, stop_timeout=Duration.seconds(60)
        )
        run_by_a_service(stack, task)

    assert rules(check(build)[1]) == {"RP-ECS-LOGS"}


def test_non_essential_containers_are_not_judged() -> None:
    def build(stack: Stack) -> None:
        task = ecs.FargateTaskDefinition(stack, "Task")
        good_container(task)
        task.add_container("Sidecar", image=IMAGE, essential=False)
        run_by_a_service(stack, task)

    assert check(build) == (True, [])


# --- log groups -----------------------------------------------------------------------------


def test_log_group_without_retention_fails() -> None:
    passed, findings = check(
        lambda s: logs.LogGroup(s, "Forever", retention=logs.RetentionDays.INFINITE)
    )
    assert not passed and findings == [("RP-LOGS-RETENTION", "Test/Forever/Resource", "error")]


def test_log_group_with_retention_passes() -> None:
    assert check(lambda s: logs.LogGroup(s, "Month", retention=logs.RetentionDays.ONE_MONTH)) == (
        True,
        [],
    )


# --- supervisor sections in user data ------------------------------------------------------

GOOD_SECTION = """cat > /etc/supervisor/conf.d/worker.conf <<'EOF'
[program:worker]
command=/srv/worker.sh
autorestart=true
startsecs=120 ; the policy's start window
startretries=5
stdout_logfile_maxbytes=5MB
stdout_logfile_backups=10
stderr_logfile_maxbytes=5MB
stderr_logfile_backups=10
EOF"""


def instance_with(script: str) -> Callable[[Stack], None]:
    def build(stack: Stack) -> None:
        user_data = ec2.UserData.for_linux()
        user_data.add_commands(script)
        ec2.LaunchTemplate(stack, "Hosts", user_data=user_data)

    return build


def test_hand_written_section_that_follows_the_policy_passes() -> None:
    assert check(instance_with(GOOD_SECTION)) == (True, [])


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (("startsecs=120 ; the policy's start window", "startsecs=0"), "RP-SUP-STARTSECS"),
        (("startsecs=120 ; the policy's start window\n", ""), "RP-SUP-STARTSECS"),
        (("startretries=5", "startretries=100"), "RP-SUP-RETRIES"),
        (("autorestart=true\n", ""), "RP-SUP-AUTORESTART"),
        (("stdout_logfile_maxbytes=5MB", "stdout_logfile_maxbytes=0"), "RP-SUP-LOGS"),
        (("stderr_logfile_backups=10", "stderr_logfile_backups=0"), "RP-SUP-LOGS"),
    ],
    ids=["startsecs-0", "startsecs-unset", "retries", "autorestart", "maxbytes", "backups"],
)
def test_hand_written_section_breaking_the_policy_fails(change: tuple[str, str], rule: str) -> None:
    passed, findings = check(instance_with(GOOD_SECTION.replace(*change)))
    assert not passed
    assert findings == [(rule, "Test/Hosts/Resource", "error")]


def test_section_in_user_data_built_with_fn_join_is_judged() -> None:
    def build(stack: Stack) -> None:
        queue = CfnParameter(stack, "Queue").value_as_string
        script = GOOD_SECTION.replace("startsecs=120", "startsecs=0").replace(
            "command=/srv/worker.sh", f"command=/srv/worker.sh {queue}"
        )
        ec2.CfnLaunchTemplate(
            stack, "Hosts", launch_template_data=ec2.CfnLaunchTemplate.LaunchTemplateDataProperty(
                user_data=Fn.base64(script)
            ),
        )  # fmt: skip

    assert rules(check(build)[1]) == {"RP-SUP-STARTSECS"}


def test_library_payload_is_read_inside_its_compression() -> None:
    def build(stack: Stack) -> None:
        programs = SupervisorPrograms(
            stack, "Programs", programs=[Program(name="p", command="/bin/p")]
        )
        # Rendered into an L1 by hand; strict: the app's policy judges it, not the record.
        ec2.CfnLaunchTemplate(
            stack, "Hosts", launch_template_data=ec2.CfnLaunchTemplate.LaunchTemplateDataProperty(
                user_data=Fn.base64(programs.user_data.render())
            ),
        )  # fmt: skip

    _, findings, messages = check_messages(
        build, restart_policy=RestartPolicy(start_window=300), strict=True
    )
    assert rules(findings) == {"RP-SUP-STARTSECS"}
    assert "[program:p] startsecs=120 is below the start window of 300 s" in messages


def test_unreadable_user_data_is_a_warning_that_does_not_fail_synth() -> None:
    def build(stack: Stack) -> None:
        other = ec2.CfnLaunchTemplate(
            stack, "Source", launch_template_data=ec2.CfnLaunchTemplate.LaunchTemplateDataProperty()
        )
        ec2.CfnLaunchTemplate(
            stack, "Hosts", launch_template_data=ec2.CfnLaunchTemplate.LaunchTemplateDataProperty(
                user_data=Fn.get_att(other.logical_id, "LatestVersionNumber").to_string()
            ),
        )  # fmt: skip

    passed, findings = check(build)
    assert passed
    assert findings == [("RP-UNREADABLE", "Test/Hosts", "warning")]


def test_intrinsic_values_are_warnings_not_crashes() -> None:
    def build(stack: Stack) -> None:
        days = CfnParameter(stack, "Days", type="Number").value_as_number
        logs.CfnLogGroup(stack, "Group", retention_in_days=days)  # type: ignore[arg-type]

    assert check(build) == (True, [("RP-UNREADABLE", "Test/Group", "warning")])


# --- the library's own constructs, waivers, the real CLI ------------------------------------


def test_library_constructs_pass() -> None:
    def build(stack: Stack) -> None:
        WorkerService(stack, "Worker", cluster=cluster_of(stack), image=IMAGE)
        programs = SupervisorPrograms(
            stack, "Programs", programs=[Program(name="p", command="/bin/p")]
        )
        ec2.LaunchTemplate(stack, "Hosts", user_data=programs.user_data)

    assert check(build) == (True, [])


def test_acknowledged_finding_is_waived_on_its_scope_only() -> None:
    def build(stack: Stack) -> None:
        fargate_service(stack)
        Validations.of(stack.node.find_child("Service")).acknowledge(
            Acknowledgment(id="restart-policy::RP-ECS-BREAKER", reason="blue/green by CodeDeploy")
        )
        logs.LogGroup(stack, "Forever", retention=logs.RetentionDays.INFINITE)

    passed, findings = check(build)
    assert not passed
    assert rules(findings) == {"RP-LOGS-RETENTION"}  # the breaker finding is waived


def test_plugin_options_are_validated() -> None:
    with pytest.raises(PolicyError) as caught:
        RestartPolicyChecks(min_healthy_percent=150, max_start_retries=0, restart_policy="x")  # type: ignore[arg-type]
    assert "3 problems" in str(caught.value)


def test_plugin_names_every_rule() -> None:
    plugin = RestartPolicyChecks()
    assert plugin.name == "restart-policy"
    assert "RP-ECS-BREAKER" in plugin.rule_ids and "RP-SUP-STARTSECS" in plugin.rule_ids


@pytest.mark.e2e
def test_cdk_synth_of_a_non_compliant_app_fails_with_the_rule_id(tmp_path: Path) -> None:
    app = Path(__file__).with_name("fixtures") / "noncompliant_app.py"
    result = run_cdk(
        "synth", "--quiet", "--app", f"python {app}", "--output", str(tmp_path / "out")
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "RP-ECS-BREAKER" in output
    assert "Legacy/Service/Service" in output
    assert "restart-policy::RP-ECS-BREAKER" in output  # how to waive it


CDK_OWN = "CloudFormation-Validate::"  # CDK acknowledges its own template checker's noise


def test_example_app_passes_both_packs_with_scoped_reasoned_acknowledgements() -> None:
    from aws_cdk import Stack as StackType

    from bin.app import build_app

    app = build_app(App(outdir=tempfile.mkdtemp(prefix="rp-example-")))
    app.synth()  # RestartPolicyChecks and AwsSolutionsChecks: raises on any finding
    acknowledged = [
        (construct, {k: v for k, v in entry.data.items() if not k.startswith(CDK_OWN)})
        for construct in app.node.find_all()
        for entry in construct.node.metadata
        if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    ]
    acknowledged = [(construct, rules_) for construct, rules_ in acknowledged if rules_]
    assert acknowledged, "the example app documents its exceptions"
    for construct, rules_ in acknowledged:
        assert not isinstance(construct, StackType | App), f"{construct.node.path}: not scoped"
        for rule_id, reason in rules_.items():
            assert rule_id.startswith("AwsSolutions::") and len(reason) > 40, (rule_id, reason)
