"""The README's table "Defaults and where they come from" states what the code does.

Every row names real constructor parameters (``Class(param=)``) and, where the value is read
back under another name, a real attribute (``instance.attribute``); every stated default is
checked against the code or the synthesized template, and the table has no row this test does
not check (nor does the test check a row the table lost).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import restart_policy
from restart_policy import LogPolicy, Program, RestartPolicy, render_program

README = Path(__file__).resolve().parent.parent / "README.md"
HEADING = "## Defaults and where they come from"


def table_rows() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("setting", "---"):
            rows[cells[0]] = cells[1]
    return rows


ROWS = table_rows()


@cache
def worker() -> dict[str, Any]:
    """The resources of a WorkerService with every default, by type."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_ecs as ecs

    app = App()
    stack = Stack(app, "Defaults")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0)
    restart_policy.WorkerService(
        stack,
        "Worker",
        cluster=ecs.Cluster(stack, "Cluster", vpc=vpc),
        image=ecs.ContainerImage.from_registry("registry.example/worker:1"),
    )
    template = app.synth().get_stack_by_name("Defaults").template
    found: dict[str, Any] = {}
    for resource in template["Resources"].values():
        found.setdefault(resource["Type"], resource)
    return found


def container() -> dict[str, Any]:
    definition: dict[str, Any] = worker()["AWS::ECS::TaskDefinition"]["Properties"]
    containers: list[dict[str, Any]] = definition["ContainerDefinitions"]
    return containers[0]


def service() -> dict[str, Any]:
    properties: dict[str, Any] = worker()["AWS::ECS::Service"]["Properties"]
    return properties


def environment() -> dict[str, str]:
    return {item["Name"]: item["Value"] for item in container()["Environment"]}


def seconds(value: float) -> str:
    return f"{value:g} s"


POLICY = RestartPolicy()
LOGS = LogPolicy()
PROGRAM = Program(name="p", command="/bin/true")


def _program_text() -> str:
    return render_program(PROGRAM)


# Row label -> the default cell the code implies (a str), or a check of the cell (a callable).
EXPECTED: dict[str, str | Callable[[str], None]] = {
    "`RestartPolicy(start_window=)` → `start_window_seconds` (supervisor `startsecs`, ECS "
    "`restartAttemptPeriod`)": seconds(POLICY.start_window_seconds),
    "`RestartPolicy(start_retries=)` (supervisor `startretries`, ECS breaker failure count)": str(
        POLICY.start_retries
    ),
    "`RestartPolicy(stop_signal=)`": f"`{POLICY.stop_signal}`",
    "`RestartPolicy(stop_timeout=)` → `stop_timeout_seconds` (`stopwaitsecs`, container "
    "`stopTimeout`)": seconds(POLICY.stop_timeout_seconds),
    "`RestartPolicy(restart=)`": f"`{POLICY.restart}`",
    "`RestartPolicy(exit_codes=)`": f"`{POLICY.exit_codes!r}`",
    "`RestartPolicy(kill_as_group=, stop_as_group=)`": (
        f"{str(POLICY.kill_as_group).lower()} / {str(POLICY.stop_as_group).lower()}"
    ),
    "`RestartPolicy(backoff=)`": "on" if POLICY.backoff else "off",
    "`RestartPolicy(backoff_initial=, backoff_max=, healthy_reset=)` → `*_seconds`": " / ".join(
        seconds(v)
        for v in (
            POLICY.backoff_initial_seconds,
            POLICY.backoff_max_seconds,
            POLICY.healthy_reset_seconds,
        )
    ),
    "`RestartPolicy(max_rearms=)`": (
        "none (never give up)" if POLICY.max_rearms is None else str(POLICY.max_rearms)
    ),
    "`LogPolicy(max_file_size=)` → `max_file_size_bytes`": (
        f"{LOGS.max_file_size_bytes // (1024 * 1024)} MiB"
    ),
    "`LogPolicy(backups=)`": str(LOGS.backups),
    "`LogPolicy(separate_stderr=)`": str(LOGS.separate_stderr).lower(),
    "`LogPolicy(directory=)`": f"`{LOGS.directory}`",
    "`LogPolicy(retention=)` → `retention_days` (CloudWatch)": f"{LOGS.retention_days} days",
    "`Program(autostart=)`": str(PROGRAM.autostart).lower(),
}


def _check_process_names(cell: str) -> None:
    text = _program_text()
    assert "process_name=%(program_name)s-%(process_num)s\n" in text
    assert "`%(program_name)s-%(process_num)s`" in cell
    assert f"stdout_logfile={LOGS.directory}/%(program_name)s-%(process_num)s.log\n" in text
    assert "`.err.log`" in cell


def _check_breaker(cell: str) -> None:
    breaker = service()["DeploymentConfiguration"]["DeploymentCircuitBreaker"]
    assert breaker["Enable"] is True and breaker["Rollback"] is True
    assert breaker["ThresholdConfiguration"] == {"Type": "COUNT", "Value": POLICY.start_retries}
    assert breaker["ResetOnHealthyTask"] is False
    assert "rollback" in cell and "`COUNT` = `start_retries`" in cell
    assert "no reset on a healthy task" in cell


def _check_healthy_percent(cell: str) -> None:
    config = service()["DeploymentConfiguration"]
    assert cell == f"{config['MinimumHealthyPercent']} / {config['MaximumPercent']}"


def _check_log_driver(cell: str) -> None:
    logs = container()["LogConfiguration"]
    assert logs["LogDriver"] in cell
    assert f"`{logs['Options']['mode']}`" in cell
    size = int(logs["Options"]["max-buffer-size"].removesuffix("b"))
    assert f"{size // (1024 * 1024)} MiB buffer" in cell


def _check_log_removal(cell: str) -> None:
    assert cell == f"`{worker()['AWS::Logs::LogGroup']['DeletionPolicy'].upper()}`"


def _check_size(cell: str) -> None:
    definition = worker()["AWS::ECS::TaskDefinition"]["Properties"]
    expected = f"{definition['Cpu']} / {definition['Memory']} MiB / {service()['DesiredCount']}"
    assert cell == expected


def _check_capacity(cell: str) -> None:
    assert service()["LaunchType"].lower() in cell.lower()
    assert f"`{service()['PlatformVersion']}`" in cell
    assert worker()["AWS::ECS::TaskDefinition"]["Properties"]["NetworkMode"] in cell


def _check_health(cell: str) -> None:
    check = container()["HealthCheck"]
    assert f"`{' '.join(check['Command'][1:])}`" in cell
    assert f"every {check['Interval']} s" in cell
    assert f"{check['Retries']} retries" in cell
    assert check["StartPeriod"] == POLICY.start_window_seconds


def _check_hold(cell: str) -> None:
    hold = json.loads(environment()["RESTART_POLICY_HOLD"])
    assert hold["start_window"] == POLICY.start_window_seconds
    assert hold["initial"] == POLICY.backoff_initial_seconds
    assert hold["maximum"] == POLICY.backoff_max_seconds
    assert hold["healthy_reset"] == POLICY.healthy_reset_seconds
    assert f"jitter {hold['jitter']:g}" in cell
    assert cell.startswith("on")


def _check_crash_alarm(cell: str) -> None:
    alarm = worker()["AWS::CloudWatch::Alarm"]["Properties"]
    pattern = worker()["AWS::Logs::MetricFilter"]["Properties"]["FilterPattern"]
    assert f"`{pattern}`" in cell
    minutes = alarm["EvaluationPeriods"] * alarm["Period"] // 60
    assert alarm["DatapointsToAlarm"] == POLICY.start_retries
    assert "`start_retries` of the last N minutes" in cell
    assert f") = {minutes};" in cell
    alarms = service()["DeploymentConfiguration"]["Alarms"]
    assert alarms["Rollback"] is True
    assert "rollback alarm" in cell
    assert "AWS::CloudWatch::CompositeAlarm" in worker()
    assert "composite" in cell


@cache
def queue_worker() -> dict[str, Any]:
    """A WorkerService scaled on queue depth with every other default, by logical id."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_ecs as ecs
    from aws_cdk import aws_sqs as sqs

    app = App()
    stack = Stack(app, "Queue")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0)
    restart_policy.WorkerService(
        stack,
        "Worker",
        cluster=ecs.Cluster(stack, "Cluster", vpc=vpc),
        image=ecs.ContainerImage.from_registry("registry.example/worker:1"),
        scaling=restart_policy.WorkerScaling.queue_depth(
            sqs.Queue(stack, "Queue"), max_capacity=4, min_capacity=1
        ),
    )
    resources: dict[str, Any] = app.synth().get_stack_by_name("Queue").template["Resources"]
    return resources


def _check_install(cell: str) -> None:
    from restart_policy.supervisor_install import SUPERVISOR_VERSION

    default = restart_policy.SupervisorInstall.pip_venv()
    assert default.version == SUPERVISOR_VERSION
    assert cell == f"supervisor {SUPERVISOR_VERSION} in a venv"


def _check_no_desired_count_with_scaling(cell: str) -> None:
    (service_,) = [r for r in queue_worker().values() if r["Type"] == "AWS::ECS::Service"]
    assert "DesiredCount" not in service_["Properties"]
    assert cell.startswith("none")


def _check_queue_steps(cell: str) -> None:
    from restart_policy.worker_scaling import DEFAULT_SCALE_OUT_BACKLOG

    steps = [
        r["Properties"]["StepScalingPolicyConfiguration"]["StepAdjustments"]
        for r in queue_worker().values()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
    ]
    adjustments = sorted(step["ScalingAdjustment"] for policy in steps for step in policy)
    assert adjustments == [-1, 1, 5]
    big = next(step for policy in steps for step in policy if step["ScalingAdjustment"] == 5)
    # Step bounds are offsets from the scale-out alarm's threshold (the first step's backlog).
    assert (
        DEFAULT_SCALE_OUT_BACKLOG + big["MetricIntervalLowerBound"] == 5 * DEFAULT_SCALE_OUT_BACKLOG
    )
    assert cell == (
        f"-1 task at 0 messages, +1 from {DEFAULT_SCALE_OUT_BACKLOG}, "
        f"+5 from {5 * DEFAULT_SCALE_OUT_BACKLOG}"
    )


def _check_roles(cell: str) -> None:
    definition = worker()["AWS::ECS::TaskDefinition"]["Properties"]
    assert "TaskRole" in definition["TaskRoleArn"]["Fn::GetAtt"][0]
    assert definition["ExecutionRoleArn"]["Fn::GetAtt"][0].startswith(
        "RestartPolicyWorkerExecutionRole"
    )  # made once per stack, at the stack's root
    assert cell == "a task role of its own; one execution role per stack"


def _check_exec_and_dashboard(cell: str) -> None:
    assert service().get("EnableExecuteCommand", False) is False
    assert "AWS::CloudWatch::Dashboard" not in worker()
    assert cell == "off / off"


EXPECTED.update(
    {
        "`SupervisorPrograms(install=)`": _check_install,
        "`WorkerService(desired_count=)` with `scaling=`": _check_no_desired_count_with_scaling,
        "`WorkerScaling.queue_depth(scale_out_backlog=)` steps": _check_queue_steps,
        "`WorkerService(task_role=, execution_role=)`": _check_roles,
        "`WorkerService(enable_execute_command=)` / dashboard": _check_exec_and_dashboard,
        "`Program` process names, log files": _check_process_names,
        "`WorkerService` circuit breaker": _check_breaker,
        "`WorkerService(min_healthy_percent=)` / maximum percent": _check_healthy_percent,
        "`WorkerService` log driver": _check_log_driver,
        "`WorkerService(log_removal_policy=)`": _check_log_removal,
        "`WorkerService(cpu=, memory_limit_mib=, desired_count=)`": _check_size,
        "`WorkerService(capacity=)` / network": _check_capacity,
        "`WorkerService(health_check=)`": _check_health,
        "`WorkerService` crash hold (`RESTART_POLICY_HOLD`)": _check_hold,
        "`WorkerService` crash-loop alarm": _check_crash_alarm,
    }
)


def test_every_row_is_checked_and_every_check_has_its_row() -> None:
    assert sorted(ROWS) == sorted(EXPECTED)


@pytest.mark.parametrize("label", sorted(ROWS))
def test_a_row_names_real_parameters_and_attributes(label: str) -> None:
    for owner_name, params in re.findall(r"`([\w.]+)\(([^`]*)\)`", label):
        owner: Any = restart_policy
        for part in owner_name.split("."):
            owner = getattr(owner, part)
        # jsii classes hide their signature behind a metaclass: read their __init__.
        signature = inspect.signature(owner.__init__ if inspect.isclass(owner) else owner)
        for param in re.findall(r"(\w+)=", params):
            assert param in signature.parameters, f"{owner_name} has no parameter {param!r}"
    instances = {"RestartPolicy": POLICY, "LogPolicy": LOGS}
    first = re.match(r"`(\w+)\(", label)
    for attribute in re.findall(r"→ `([\w*]+)`", label):
        assert first is not None
        instance = instances[first.group(1)]
        names = [n for n in dir(instance) if re.fullmatch(attribute.replace("*", r"\w+"), n)]
        assert names, f"{first.group(1)} instances have no attribute {attribute!r}"


@pytest.mark.parametrize("label", sorted(set(ROWS) & set(EXPECTED)))
def test_the_stated_default_is_the_codes(label: str) -> None:
    expected = EXPECTED[label]
    if callable(expected):
        expected(ROWS[label])
    else:
        assert ROWS[label] == expected
