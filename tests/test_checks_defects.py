"""Defects a new user found in RestartPolicyChecks (issue 11's break): each test failed before
its fix. Compliant and non-compliant cases in cdk-nag's style, on synthesized apps or, for
shapes CDK does not make on its own, on hand-made templates."""

from __future__ import annotations

import base64
import gzip
import json
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Duration, Fn, NestedStack, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_ssm as ssm
from hypothesis import given, settings
from hypothesis import strategies as st

from restart_policy import (
    PolicyError,
    Program,
    RestartPolicy,
    RestartPolicyChecks,
    SupervisorPrograms,
)
from restart_policy._rules._shell import file_texts
from tests.test_checks import check, check_app, check_messages, rules
from tests.test_checks_bad_input import Context

GOOD = (
    "[program:w]\ncommand=/bin/w\nstartsecs=120\nstartretries=5\nautorestart=true\n"
    "stopwaitsecs=120\n"
)
BAD = "[program:x]\ncommand=/bin/x\nstartsecs=0\nstartretries=5\nautorestart=true\n"
CONF = "/etc/supervisor/conf.d/w.conf"
BREAKER = {
    "Enable": True,
    "Rollback": True,
    "ThresholdConfiguration": {"Type": "COUNT", "Value": 5},
    "ResetOnHealthyTask": False,
}


def judge(tmp_path: Path, resources: dict[str, Any], **plugin: Any) -> list[tuple[str, str, str]]:
    """(rule, logical id, description) of each finding on a one-template assembly."""
    top = tmp_path / "Test.template.json"
    top.write_text(json.dumps({"Resources": resources}))
    report = RestartPolicyChecks(**plugin).validate(Context([str(top)]))  # type: ignore[arg-type]
    return [
        (v.rule_name, str(v.violating_resources[0].resource_logical_id), v.description)
        for v in report.violations
    ]


def instance(script: str) -> dict[str, Any]:
    return {
        "Host": {
            "Type": "AWS::EC2::Instance",
            "Properties": {"ImageId": "ami-1", "UserData": {"Fn::Base64": script}},
        }
    }


def found(tmp_path: Path, script: str) -> set[str]:
    return {rule for rule, _, _ in judge(tmp_path, instance(script))}


def heredoc(text: str, path: str = CONF) -> str:
    return f"#!/bin/bash\ncat > {path} <<'EOF'\n{text}EOF\n"


# --- 1. every write to one file, in order ---------------------------------------------------


@pytest.mark.parametrize(
    "after",
    [
        f"echo 'startsecs=0' >> {CONF}\n",
        f"echo 'startsecs=0' | tee -a {CONF}\n",
        f"cat >> {CONF} <<'EOF'\nstartsecs=0\nEOF\n",
        f"printf 'startsecs=0\\n' | sudo tee --append {CONF} > /dev/null\n",
    ],
)
def test_line_appended_after_the_here_document_is_judged(tmp_path: Path, after: str) -> None:
    assert found(tmp_path, heredoc(GOOD) + after) == {"RP-SUP-STARTSECS"}


def test_compliant_lines_appended_after_the_here_document_pass(tmp_path: Path) -> None:
    script = heredoc(GOOD.replace("startsecs=120\n", "")) + f"echo 'startsecs=120' >> {CONF}\n"
    assert found(tmp_path, script) == set()


def test_a_later_write_replaces_the_file(tmp_path: Path) -> None:
    assert found(tmp_path, heredoc(BAD) + heredoc(GOOD)) == set()
    assert found(tmp_path, heredoc(GOOD) + f"echo '{BAD.strip()}' | tee {CONF}\n") == {
        "RP-SUP-STARTSECS"
    }


def test_append_to_another_file_is_not_mixed_in(tmp_path: Path) -> None:
    assert found(tmp_path, heredoc(GOOD) + "echo 'startsecs=0' >> /etc/other.conf\n") == set()


def test_appended_lines_in_a_synthesized_instance_are_judged() -> None:
    script = heredoc(GOOD) + f"echo 'autorestart=false' | tee -a {CONF}\n"

    def build(stack: Stack) -> None:
        ec2.CfnInstance(stack, "Host", image_id="ami-12345678", user_data=Fn.base64(script))

    assert rules(check(build)[1]) == {"RP-SUP-AUTORESTART"}


# --- 2. the task definition a service names by family, SSM parameter or task set ------------


def l1_task(scope: Stack | NestedStack, family: str = "orders") -> ecs.CfnTaskDefinition:
    container = ecs.CfnTaskDefinition.ContainerDefinitionProperty(
        name="app", image="x", essential=True
    )
    return ecs.CfnTaskDefinition(
        scope, "Td", family=family, requires_compatibilities=["FARGATE"], cpu="256",
        memory="512", network_mode="awsvpc", container_definitions=[container],
    )  # fmt: skip


def l1_service(scope: Stack | NestedStack, task_definition: str, **props: Any) -> ecs.CfnService:
    service = ecs.CfnService(
        scope, "Svc", task_definition=task_definition, launch_type="FARGATE",
        deployment_configuration=ecs.CfnService.DeploymentConfigurationProperty(
            minimum_healthy_percent=100
        ),
        **props,
    )  # fmt: skip
    service.add_property_override("DeploymentConfiguration.DeploymentCircuitBreaker", BREAKER)
    return service


CONTAINER_RULES = {"RP-ECS-RESTART", "RP-ECS-STOP", "RP-ECS-LOGS"}


def test_task_definition_named_by_family_from_another_stack_is_a_service_task() -> None:
    def build(app: App) -> None:
        l1_task(Stack(app, "A"))
        l1_service(Stack(app, "B"), "orders")

    assert rules(check_app(build)[1]) == CONTAINER_RULES


def test_task_definition_named_by_family_from_a_nested_stack_is_a_service_task() -> None:
    def build(app: App) -> None:
        parent = Stack(app, "C")
        l1_task(parent)
        l1_service(NestedStack(parent, "N"), "orders")

    assert rules(check_app(build)[1]) == CONTAINER_RULES


def test_task_definition_passed_through_an_ssm_parameter_is_a_service_task() -> None:
    def build(app: App) -> None:
        a = Stack(app, "A")
        task = l1_task(a)
        ssm.StringParameter(a, "P", parameter_name="/app/td", string_value=task.ref)
        b = Stack(app, "B")
        l1_service(b, ssm.StringParameter.value_for_string_parameter(b, "/app/td"))

    assert rules(check_app(build)[1]) == CONTAINER_RULES


def test_task_definition_of_an_external_task_set_is_a_service_task() -> None:
    def build(stack: Stack) -> None:
        task = l1_task(stack)
        service = ecs.CfnService(
            stack, "Svc", cluster="c", desired_count=1,
            deployment_controller=ecs.CfnService.DeploymentControllerProperty(type="EXTERNAL"),
        )  # fmt: skip
        ecs.CfnTaskSet(
            stack, "Ts", cluster="c", service=service.attr_name, task_definition=task.ref,
            launch_type="FARGATE",
        )  # fmt: skip

    assert rules(check(build)[1]) == CONTAINER_RULES


def test_service_whose_task_definition_cannot_be_followed_is_a_warning_and_judged(
    tmp_path: Path,
) -> None:
    task = {
        "Type": "AWS::ECS::TaskDefinition",
        "Properties": {"ContainerDefinitions": [{"Name": "app", "Image": "x"}]},
    }
    service = {
        "Type": "AWS::ECS::Service",
        "Properties": {
            "TaskDefinition": {"Fn::Select": [0, {"Ref": "List"}]},
            "DeploymentConfiguration": {"DeploymentCircuitBreaker": BREAKER},
        },
    }
    findings = judge(tmp_path, {"Td": task, "Svc": service})
    assert ("RP-UNREADABLE", "Svc") in {(rule, where) for rule, where, _ in findings}
    assert {rule for rule, where, _ in findings if where == "Td"} >= CONTAINER_RULES


# --- 3. Fargate through capacity providers --------------------------------------------------


def spot_service(stack: Stack, stop_timeout: int, **service: Any) -> None:
    container = ecs.CfnTaskDefinition.ContainerDefinitionProperty(
        name="app", image="x", essential=True, stop_timeout=stop_timeout,
        restart_policy=ecs.CfnTaskDefinition.RestartPolicyProperty(
            enabled=True, restart_attempt_period=120
        ),
        log_configuration=ecs.CfnTaskDefinition.LogConfigurationProperty(
            log_driver="awslogs", options={"awslogs-group": "g", "awslogs-region": "eu-west-1"}
        ),
    )  # fmt: skip
    task = ecs.CfnTaskDefinition(stack, "Td", family="f", container_definitions=[container])
    svc = ecs.CfnService(
        stack, "Svc", task_definition=task.ref,
        deployment_configuration=ecs.CfnService.DeploymentConfigurationProperty(
            minimum_healthy_percent=100
        ),
        **service,
    )  # fmt: skip
    svc.add_property_override("DeploymentConfiguration.DeploymentCircuitBreaker", BREAKER)


@pytest.mark.parametrize("provider", ["FARGATE", "FARGATE_SPOT"])
@pytest.mark.parametrize(("stop", "ok"), [(1, False), (2, True)])
def test_fargate_capacity_provider_is_judged_as_fargate(provider: str, stop: int, ok: bool) -> None:
    strategy = [ecs.CfnService.CapacityProviderStrategyItemProperty(capacity_provider=provider)]

    def build(stack: Stack) -> None:
        spot_service(stack, stop, capacity_provider_strategy=strategy)

    passed, findings = check(build)
    assert passed is ok, findings


def test_cluster_default_fargate_strategy_is_judged_as_fargate() -> None:
    def build(stack: Stack) -> None:
        cluster = ecs.Cluster(
            stack, "C", vpc=ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0),
            enable_fargate_capacity_providers=True,
        )  # fmt: skip
        cluster.add_default_capacity_provider_strategy(
            [ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1)]
        )
        spot_service(stack, 1, cluster=cluster.cluster_name)

    assert rules(check(build)[1]) == {"RP-ECS-STOP"}


# --- 4. sections the checks used to pass in silence -----------------------------------------


def cloud_config(body: str) -> str:
    return "#cloud-config\n" + body


@pytest.mark.parametrize(
    "script",
    [
        cloud_config(
            f"write_files:\n  - path: {CONF}\n    encoding: b64\n    content: "
            + base64.b64encode(BAD.encode()).decode()
            + "\n"
        ),
        cloud_config(
            f"write_files:\n  - path: {CONF}\n    encoding: gz+b64\n    content: "
            + base64.b64encode(gzip.compress(BAD.encode())).decode()
            + "\n"
        ),
        cloud_config(
            f"write_files:\n  - path: {CONF}\n    content: |\n"
            + "".join(f"      {line}\n" for line in GOOD.splitlines())
            + f'  - path: {CONF}\n    append: true\n    content: "startsecs=0\\n"\n'
        ),
        cloud_config(
            "runcmd:\n  - printf '[program:x]\\ncommand=/bin/x\\nstartsecs=0\\nautorestart=true"
            f"\\n' > {CONF}\n"
        ),
        "#!/bin/bash\n{\n  echo '[program:x]'\n  echo 'command=/bin/x'\n  echo 'startsecs=0'\n"
        f"  echo 'autorestart=true'\n}} > {CONF}\n",
        "#!/bin/bash\n{ echo '[program:x]'; echo 'startsecs=0'; echo 'autorestart=true'; }"
        f" > {CONF}\n",
        f"#!/bin/bash\ntee {CONF} <<< $'[program:x]\\ncommand=/bin/x\\nstartsecs=0\\n"
        "autorestart=true'\n",
    ],
    ids=["b64", "gzip-b64", "append", "runcmd", "group", "group-one-line", "here-string"],
)
def test_section_in_cloud_config_groups_and_here_strings_is_judged(
    tmp_path: Path, script: str
) -> None:
    assert "RP-SUP-STARTSECS" in found(tmp_path, script)


def test_in_place_edit_of_a_judged_file_is_a_warning(tmp_path: Path) -> None:
    findings = judge(tmp_path, instance(heredoc(GOOD) + f"sed -i 's/=120/=0/' {CONF}\n"))
    assert [(rule, "cannot follow" in text) for rule, _, text in findings] == [
        ("RP-UNREADABLE", True)
    ]


def test_section_in_an_argument_the_checks_do_not_follow_is_a_warning(tmp_path: Path) -> None:
    script = "#!/bin/bash\npython3 -c \"open('/x.conf','w').write('[program:x]')\"\n"
    assert found(tmp_path, script) == {"RP-UNREADABLE"}


def test_spot_fleet_launch_specification_user_data_is_judged() -> None:
    def build(stack: Stack) -> None:
        spec = ec2.CfnSpotFleet.SpotFleetLaunchSpecificationProperty(
            image_id="ami-12345678", instance_type="t3.micro", user_data=Fn.base64(heredoc(BAD))
        )
        ec2.CfnSpotFleet(
            stack, "Fleet",
            spot_fleet_request_config_data=ec2.CfnSpotFleet.SpotFleetRequestConfigDataProperty(
                iam_fleet_role="arn:aws:iam::111111111111:role/x", target_capacity=1,
                launch_specifications=[spec],
            ),
        )  # fmt: skip

    assert rules(check(build)[1]) == {"RP-SUP-STARTSECS"}


# --- 5. recorded policies are capped, or ignored with strict=True ---------------------------


def recorded_task(tmp_path: Path, stop: int, retries: int, **plugin: Any) -> set[str]:
    record = {"policy": {"start_window": 120, "start_retries": retries, "stop_timeout": stop}}
    container = {
        "Name": "app", "Image": "x", "StopTimeout": stop,
        "RestartPolicy": {"Enabled": True, "RestartAttemptPeriod": 120},
        "LogConfiguration": {"LogDriver": "awslogs"},
    }  # fmt: skip
    breaker = {**BREAKER, "ThresholdConfiguration": {"Type": "COUNT", "Value": retries}}
    resources = {
        "Td": {
            "Type": "AWS::ECS::TaskDefinition",
            "Metadata": {"restart-policy:policy": record},
            "Properties": {"RequiresCompatibilities": ["EC2"], "ContainerDefinitions": [container]},
        },
        "Svc": {
            "Type": "AWS::ECS::Service",
            "Metadata": {"restart-policy:policy": record},
            "Properties": {
                "TaskDefinition": {"Ref": "Td"},
                "DeploymentConfiguration": {
                    "MinimumHealthyPercent": 100, "DeploymentCircuitBreaker": breaker,
                },
            },
        },
    }  # fmt: skip
    return {rule for rule, _, _ in judge(tmp_path, resources, **plugin)}


def test_recorded_policy_beyond_the_checks_limits_is_a_finding(tmp_path: Path) -> None:
    assert recorded_task(tmp_path, 86400, 500) == {
        "RP-POLICY-RECORD", "RP-ECS-STOP", "RP-ECS-BREAKER",
    }  # fmt: skip


def test_recorded_policy_within_the_limits_loosens_the_app_policy(tmp_path: Path) -> None:
    assert recorded_task(tmp_path, 300, 8) == set()


def test_limits_are_options(tmp_path: Path) -> None:
    assert recorded_task(tmp_path, 900, 20, max_stop_timeout=Duration.minutes(15),
                         max_start_retries=20) == set()  # fmt: skip


def test_strict_ignores_recorded_policies(tmp_path: Path) -> None:
    assert recorded_task(tmp_path, 300, 8, strict=True) == {"RP-ECS-STOP"}


@pytest.mark.parametrize(
    ("option", "value"), [("max_stop_timeout", 600), ("max_stop_timeout", Duration.millis(1)),
                          ("strict", "yes")],
)  # fmt: skip
def test_bad_limit_options_are_refused(option: str, value: object) -> None:
    with pytest.raises(PolicyError, match=option):
        RestartPolicyChecks(**{option: value})  # type: ignore[arg-type]


# --- 6. CloudFormation's coercions of strings -----------------------------------------------


def breaker_service(breaker: dict[str, Any]) -> dict[str, Any]:
    return {
        "Svc": {
            "Type": "AWS::ECS::Service",
            "Properties": {
                "TaskDefinition": "arn:aws:ecs:eu-west-1:1:task-definition/elsewhere:1",
                "DeploymentConfiguration": {
                    "MinimumHealthyPercent": "100", "DeploymentCircuitBreaker": breaker,
                },
            },
        }
    }  # fmt: skip


def test_string_booleans_and_numbers_cloudformation_coerces_pass(tmp_path: Path) -> None:
    strings = {
        "Enable": "true", "Rollback": "True", "ResetOnHealthyTask": "false",
        "ThresholdConfiguration": {"Type": "COUNT", "Value": "5"},
    }  # fmt: skip
    assert judge(tmp_path, breaker_service(strings)) == []


def test_string_breaker_values_are_still_judged(tmp_path: Path) -> None:
    strings = {
        "Enable": "true", "Rollback": "false", "ResetOnHealthyTask": "false",
        "ThresholdConfiguration": {"Type": "COUNT", "Value": "50"},
    }  # fmt: skip
    assert {rule for rule, _, _ in judge(tmp_path, breaker_service(strings))} == {"RP-ECS-BREAKER"}


def job(restart: dict[str, Any]) -> dict[str, Any]:
    return {
        "Job": {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {
                "ContainerDefinitions": [{"Name": "app", "Image": "x", "RestartPolicy": restart}]
            },
        }
    }


def test_job_whose_restart_policy_is_enabled_by_a_string_is_judged(tmp_path: Path) -> None:
    findings = judge(tmp_path, job({"Enabled": "true"}))
    assert [rule for rule, _, _ in findings] == ["RP-ECS-JOB-RESTART"]


def test_job_ignoring_exit_code_zero_given_as_a_string_passes(tmp_path: Path) -> None:
    assert judge(tmp_path, job({"Enabled": True, "IgnoredExitCodes": ["0"]})) == []


# --- 7. a DAEMON service at 100 % minimum healthy stalls ------------------------------------


def daemon(**config: Any) -> dict[str, Any]:
    props = {"DeploymentCircuitBreaker": BREAKER, **config}
    return {
        "D": {
            "Type": "AWS::ECS::Service",
            "Properties": {
                "TaskDefinition": "arn:aws:ecs:eu-west-1:1:task-definition/elsewhere:1",
                "SchedulingStrategy": "DAEMON",
                "DeploymentConfiguration": props,
            },
        }
    }


def test_daemon_service_at_100_percent_minimum_healthy_fails(tmp_path: Path) -> None:
    findings = judge(tmp_path, daemon(MinimumHealthyPercent=100, MaximumPercent=100))
    assert [rule for rule, _, _ in findings] == ["RP-ECS-HEALTHY"]
    assert "stalls" in findings[0][2]


@pytest.mark.parametrize(
    "config", [{}, {"MinimumHealthyPercent": 0}, {"MinimumHealthyPercent": 50}]
)
def test_daemon_service_below_100_percent_passes(tmp_path: Path, config: dict[str, Any]) -> None:
    assert judge(tmp_path, daemon(**config)) == []


# --- 8. logs supervisor does not rotate -----------------------------------------------------


@pytest.mark.parametrize("target", ["/dev/stdout", "/dev/stderr", "/dev/fd/1", "syslog", "NONE"])
def test_log_to_a_special_file_with_maxbytes_zero_passes(tmp_path: Path, target: str) -> None:
    section = GOOD + f"stdout_logfile={target}\nstdout_logfile_maxbytes=0\nredirect_stderr=true\n"
    assert found(tmp_path, heredoc(section)) == set()


def test_log_file_with_maxbytes_zero_still_fails(tmp_path: Path) -> None:
    section = GOOD + "stdout_logfile=/var/log/w.log\nstdout_logfile_maxbytes=0\n"
    assert found(tmp_path, heredoc(section)) == {"RP-SUP-LOGS"}


# --- 10. messages ---------------------------------------------------------------------------


def test_unreadable_user_data_message_reads_as_a_sentence(tmp_path: Path) -> None:
    resources = {"Host": {"Type": "AWS::EC2::Instance", "Properties": {"UserData": "not base64!"}}}
    (finding,) = judge(tmp_path, resources)
    assert "cannot read the user data: it is a literal that is not valid base64" in finding[2]


def test_continuation_line_in_a_message_is_shown_escaped() -> None:
    section = "[program:w]\ncommand=/bin/w\nstartsecs=\n  5\nautorestart=true\n"
    _, _, text = check_messages(
        lambda s: ec2.CfnInstance(
            s, "Host", image_id="ami-1", user_data=Fn.base64(heredoc(section))
        )
    )
    line = next(line for line in text.split("\n") if "startsecs" in line)
    assert "\\n" in line and "5" in line


# --- 9. the library's user data carries its policy onto resources made by hand --------------


def library_user_data_on(build_host: str) -> Callable[[Stack], None]:
    def build(stack: Stack) -> None:
        user_data = ec2.UserData.for_linux()
        short = RestartPolicy(start_window=Duration.seconds(5))
        SupervisorPrograms(
            stack, "Sup", user_data=user_data, monitoring=False, restart_policy=short,
            programs=[Program(name="lib", command="/bin/lib")],
        )  # fmt: skip
        data = ec2.CfnLaunchTemplate.LaunchTemplateDataProperty(
            user_data=Fn.base64(user_data.render())
        )
        if build_host == "l1":
            ec2.CfnLaunchTemplate(stack, "Lt", launch_template_data=data)

    return build


def test_library_user_data_rendered_onto_an_l1_launch_template_is_judged_by_its_policy() -> None:
    assert check(library_user_data_on("l1")) == (True, [])


def test_strict_judges_the_library_user_data_by_the_app_wide_policy() -> None:
    assert rules(check(library_user_data_on("l1"), strict=True)[1]) == {"RP-SUP-STARTSECS"}


def test_user_data_record_beyond_the_limits_is_a_finding() -> None:
    def build(stack: Stack) -> None:
        user_data = ec2.UserData.for_linux()
        SupervisorPrograms(
            stack, "Sup", user_data=user_data, monitoring=False,
            restart_policy=RestartPolicy(start_retries=50),
            programs=[Program(name="lib", command="/bin/lib")],
        )  # fmt: skip
        data = ec2.CfnLaunchTemplate.LaunchTemplateDataProperty(
            user_data=Fn.base64(user_data.render())
        )
        ec2.CfnLaunchTemplate(stack, "Lt", launch_template_data=data)

    assert rules(check(build)[1]) == {"RP-POLICY-RECORD", "RP-SUP-RETRIES"}


# --- the combined writes against bash itself --------------------------------------------------

SAFE_LINE = st.sampled_from(
    ["[program:w]", "command=/srv/w --queue orders", "startsecs = 120", "autorestart=true",
     "; a comment", "stopwaitsecs: 60"]
)  # fmt: skip


def one_write(style: str, append: bool, lines: list[str], path: str) -> str:
    arrow = ">>" if append else ">"
    tee = "tee -a" if append else "tee"
    if style == "heredoc":
        return "\n".join([f"cat {arrow} {path} <<'EOF'", *lines, "EOF"])
    if style == "echo":
        return "\n".join(
            f"echo {shlex.quote(line)} {arrow} {path}" for line in lines[:1]
        ) + "".join(f"\necho {shlex.quote(line)} >> {path}" for line in lines[1:])
    if style == "tee":
        args = " ".join(shlex.quote(line) for line in lines)
        return f"printf '%s\\n' {args} | {tee} {path} > /dev/null"
    if style == "here-string":
        body = "\\n".join(lines)
        return f"{tee} {path} <<< $'{body}' > /dev/null"
    echoes = "\n".join(f"  echo {shlex.quote(line)}" for line in lines)
    return f"{{\n{echoes}\n}} {arrow} {path}"


@settings(max_examples=40, deadline=None)
@given(
    writes=st.lists(
        st.tuples(
            st.sampled_from(["heredoc", "echo", "tee", "here-string", "group"]),
            st.booleans(),
            st.lists(SAFE_LINE, min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_combined_writes_are_what_bash_leaves_in_the_file(
    writes: list[tuple[str, bool, list[str]]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/w.conf"
        script = "\n".join(one_write(style, append, lines, path) for style, append, lines in writes)
        subprocess.run(["bash", "-c", script], check=True, timeout=60)
        written = Path(path).read_text()
    texts, _, problems = file_texts(script + "\n")
    assert [entry.text for entry in texts if entry.target == path] == [written]
    assert problems == []
