"""WorkerService alarms: crash metric filter and alarm, rollback, composite, dashboard, scale."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, Duration, Stack, assertions
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from restart_policy import PolicyError, WorkerService

IMAGE = ecs.ContainerImage.from_registry("public.ecr.aws/docker/library/python:3.12-slim")
NOBODY = "restart-policy:workerAlarmsNotifyNobody"


def _stack() -> tuple[Stack, ecs.Cluster]:
    stack = Stack(App(), "Test")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
    return stack, ecs.Cluster(stack, "Cluster", vpc=vpc)


def build(**props: Any) -> tuple[WorkerService, Template]:
    stack, cluster = _stack()
    props.setdefault("cluster", cluster)
    worker = WorkerService(stack, "Worker", image=IMAGE, **props)
    return worker, Template.from_stack(stack)


@pytest.fixture(scope="module")
def default() -> tuple[WorkerService, Template]:
    return build()


@pytest.fixture(scope="module")
def paged() -> tuple[WorkerService, Template]:
    stack, cluster = _stack()
    topic = sns.Topic(stack, "Pager", enforce_ssl=True)
    worker = WorkerService(stack, "Worker", cluster=cluster, image=IMAGE, alarm_topic=topic)
    return worker, Template.from_stack(stack)


def _only(template: Template, kind: str) -> tuple[str, dict[str, Any]]:
    (item,) = template.find_resources(kind).items()
    return item[0], item[1]["Properties"]


def test_crash_lines_become_a_metric(default: Any) -> None:
    _, metric_filter = _only(default[1], "AWS::Logs::MetricFilter")
    assert metric_filter["FilterPattern"] == '{ $.event = "crash" }'
    assert metric_filter["LogGroupName"]["Ref"].startswith("WorkerLogGroup")
    assert metric_filter["MetricTransformations"] == [
        {
            "MetricName": "Test/Worker",
            "MetricNamespace": "RestartPolicy/Crashes",
            "MetricValue": "1",
        }
    ]


def test_crash_loop_alarm_counts_minutes_with_a_crash(default: Any) -> None:
    default[1].has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "RestartPolicy/Crashes",
            "MetricName": "Test/Worker",
            "Statistic": "Sum",
            "Period": 60,
            "EvaluationPeriods": 50,
            "DatapointsToAlarm": 5,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
        },
    )


def test_crash_loop_alarm_is_the_deployments_rollback_alarm(default: Any) -> None:
    alarm_id, _ = _only(default[1], "AWS::CloudWatch::Alarm")
    _, service = _only(default[1], "AWS::ECS::Service")
    assert service["DeploymentConfiguration"]["Alarms"] == {
        "AlarmNames": [{"Ref": alarm_id}],
        "Enable": True,
        "Rollback": True,
    }
    breaker = service["DeploymentConfiguration"]["DeploymentCircuitBreaker"]
    assert breaker["Enable"] is True and breaker["Rollback"] is True


def _references(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        for item in value.values():
            found |= _references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


def test_no_circular_dependency(paged: Any) -> None:
    resources = paged[1].to_json()["Resources"]
    edges = {
        name: (_references(body.get("Properties", {})) | set(body.get("DependsOn", [])))
        & set(resources)
        for name, body in resources.items()
    }
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for child in edges[name]:
            visit(child, (*path, name))
        done.add(name)

    for name in edges:
        visit(name, ())


def test_crash_alarm_itself_notifies_nobody(paged: Any) -> None:
    _, alarm = _only(paged[1], "AWS::CloudWatch::Alarm")
    assert "AlarmActions" not in alarm and "OKActions" not in alarm


def test_unhealthy_composite_notifies_once_on_alarm_and_ok(paged: Any) -> None:
    alarm_id, _ = _only(paged[1], "AWS::CloudWatch::Alarm")
    _, composite = _only(paged[1], "AWS::CloudWatch::CompositeAlarm")
    assert composite["AlarmRule"] == {
        "Fn::Join": ["", ['ALARM("', {"Fn::GetAtt": [alarm_id, "Arn"]}, '")']]
    }
    assert composite["AlarmActions"][0]["Ref"].startswith("Pager")
    assert composite["OKActions"][0]["Ref"].startswith("Pager")


def test_alarm_actions_reach_the_composite() -> None:
    stack, cluster = _stack()
    topic = sns.Topic(stack, "Ops", enforce_ssl=True)
    WorkerService(
        stack,
        "Worker",
        cluster=cluster,
        image=IMAGE,
        alarm_actions=[cloudwatch_actions.SnsAction(topic)],
    )
    _, composite = _only(Template.from_stack(stack), "AWS::CloudWatch::CompositeAlarm")
    assert composite["AlarmActions"][0]["Ref"].startswith("Ops")


def test_deployment_alarms_join_the_composite_and_the_rollback() -> None:
    stack, cluster = _stack()
    errors = cloudwatch.Alarm(
        stack,
        "Errors",
        metric=cloudwatch.Metric(namespace="Bos", metric_name="Errors"),
        threshold=1,
        evaluation_periods=1,
    )
    WorkerService(stack, "Worker", cluster=cluster, image=IMAGE, deployment_alarms=[errors])
    template = Template.from_stack(stack)
    _, composite = _only(template, "AWS::CloudWatch::CompositeAlarm")
    rule = json.dumps(composite["AlarmRule"])
    assert '" OR ' in rule or "OR" in rule
    assert "Errors" in rule and "WorkerCrashLoopAlarm" in rule


def test_exposes_the_alarms(default: Any) -> None:
    alarms = default[0].alarms
    assert sorted(alarms) == ["crash_loop", "unhealthy"]
    assert isinstance(alarms["unhealthy"], cloudwatch.CompositeAlarm)


def test_threshold_and_window_overrides() -> None:
    _, template = build(crash_alarm_threshold=2, crash_alarm_window=Duration.minutes(30))
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"Period": 60, "EvaluationPeriods": 30, "DatapointsToAlarm": 2, "Threshold": 1},
    )


def test_threshold_follows_start_retries() -> None:
    from restart_policy import RestartPolicy

    _, template = build(restart_policy=RestartPolicy(start_retries=3))
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"DatapointsToAlarm": 3, "EvaluationPeriods": 30}
    )


def test_alarms_off() -> None:
    worker, template = build(crash_loop_alarms=False)
    for kind in ("AWS::Logs::MetricFilter", "AWS::CloudWatch::Alarm",
                 "AWS::CloudWatch::CompositeAlarm"):  # fmt: skip
        template.resource_count_is(kind, 0)
    _, service = _only(template, "AWS::ECS::Service")
    assert service["DeploymentConfiguration"]["Alarms"]["Enable"] is False
    assert worker.alarms == {}


# --- the synth-time warning -----------------------------------------------------------------


def _warnings(worker: WorkerService) -> list[Any]:
    return list(
        assertions.Annotations.from_stack(Stack.of(worker)).find_warning(
            "*", Match.string_like_regexp(NOBODY)
        )
    )


def test_warns_when_alarms_notify_nobody(default: Any) -> None:
    (warning,) = _warnings(default[0])
    assert warning.id == "/Test/Worker"
    assert "give alarm_topic= or alarm_actions=" in str(warning.entry.data)


def test_no_warning_with_a_topic(paged: Any) -> None:
    assert _warnings(paged[0]) == []


def test_no_warning_without_alarms() -> None:
    worker, _ = build(crash_loop_alarms=False)
    assert _warnings(worker) == []


# --- dashboard --------------------------------------------------------------------------------


def test_no_dashboard_by_default(default: Any) -> None:
    default[1].resource_count_is("AWS::CloudWatch::Dashboard", 0)


def test_one_dashboard_per_cluster_with_a_row_per_worker() -> None:
    stack, cluster = _stack()
    for name in ("Recon", "Payments"):
        WorkerService(stack, name, cluster=cluster, image=IMAGE, dashboard=True)
    template = Template.from_stack(stack)
    _, dashboard = _only(template, "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["DashboardBody"])
    for expected in ("Test/Recon", "Test/Payments", "RunningTaskCount", "DesiredTaskCount",
                     "restarts_in_place", "Crashes"):  # fmt: skip
        assert expected in body


# --- scale: resources and EventBridge rules ---------------------------------------------------


def _resource_count(count: int, *, alarms: bool) -> tuple[int, int]:
    app = App()
    network = Stack(app, "Network")
    vpc = ec2.Vpc(network, "Vpc", max_azs=2, nat_gateways=1)
    cluster = ecs.Cluster(network, "Cluster", vpc=vpc)
    workers = Stack(app, "Workers")
    topic = sns.Topic(workers, "Pager", enforce_ssl=True)
    for index in range(count):
        WorkerService(
            workers, f"Worker{index}", cluster=cluster, image=IMAGE,
            crash_loop_alarms=alarms, alarm_topic=topic if alarms else None,
        )  # fmt: skip
    template = Template.from_stack(workers).to_json()
    kinds = [body["Type"] for body in template["Resources"].values()]
    return len(kinds), kinds.count("AWS::Events::Rule")


def test_crash_loop_detection_costs_two_resources_per_service_plus_the_composite() -> None:
    one_with, _ = _resource_count(1, alarms=True)
    two_with, _ = _resource_count(2, alarms=True)
    one_without, _ = _resource_count(1, alarms=False)
    two_without, _ = _resource_count(2, alarms=False)
    per_service = (two_with - one_with) - (two_without - one_without)
    assert per_service == 3  # metric filter + crash alarm (detection) + composite (notification)


def test_sixty_services_with_alarms_fit_one_stack_without_eventbridge_rules() -> None:
    resources, rules = _resource_count(60, alarms=True)
    assert resources < 500, resources
    assert rules == 0


def test_crash_metric_name_drops_what_metric_filters_refuse() -> None:
    stack, cluster = _stack()
    WorkerService(stack, "Billing:Worker*$1", cluster=cluster, image=IMAGE)
    _, metric_filter = _only(Template.from_stack(stack), "AWS::Logs::MetricFilter")
    assert metric_filter["MetricTransformations"][0]["MetricName"] == "Test/Billing-Worker--1"


# --- more deployment alarms after the service exists -----------------------------------------


def test_add_deployment_alarm_keeps_the_crash_alarm() -> None:
    stack, cluster = _stack()
    worker = WorkerService(stack, "Worker", cluster=cluster, image=IMAGE)
    cpu = worker.service.metric_cpu_utilization().create_alarm(
        stack, "Cpu", threshold=90, evaluation_periods=1, alarm_name="worker-cpu"
    )
    worker.add_deployment_alarm(cpu)
    _, service = _only(Template.from_stack(stack), "AWS::ECS::Service")
    alarms = service["DeploymentConfiguration"]["Alarms"]
    assert alarms["AlarmNames"][0]["Ref"].startswith("WorkerCrashLoopAlarm")
    assert alarms["AlarmNames"][1] == "worker-cpu"
    assert alarms["Enable"] is True and alarms["Rollback"] is True


def test_add_deployment_alarm_refuses_a_cycle() -> None:
    stack, cluster = _stack()
    worker = WorkerService(stack, "Worker", cluster=cluster, image=IMAGE)
    cpu = worker.service.metric_cpu_utilization().create_alarm(
        stack, "Cpu", threshold=90, evaluation_periods=1
    )
    with pytest.raises(
        PolicyError,
        match=r"add_deployment_alarm='Test/Cpu': watches this service and its name is made by "
        r"CloudFormation.*Fix: give the alarm a fixed alarm_name",
    ):
        worker.add_deployment_alarm(cpu)


def test_add_deployment_alarm_of_another_resource_by_generated_name() -> None:
    stack, cluster = _stack()
    worker = WorkerService(stack, "Worker", cluster=cluster, image=IMAGE)
    other = cloudwatch.Alarm(
        stack,
        "Errors",
        metric=cloudwatch.Metric(namespace="Bos", metric_name="Errors"),
        threshold=1,
        evaluation_periods=1,
    )
    worker.add_deployment_alarm(other)
    _, service = _only(Template.from_stack(stack), "AWS::ECS::Service")
    assert service["DeploymentConfiguration"]["Alarms"]["AlarmNames"][1]["Ref"].startswith("Errors")


def test_add_deployment_alarm_by_name() -> None:
    stack, cluster = _stack()
    worker = WorkerService(stack, "Worker", cluster=cluster, image=IMAGE)
    worker.add_deployment_alarm("made-elsewhere")
    _, service = _only(Template.from_stack(stack), "AWS::ECS::Service")
    assert service["DeploymentConfiguration"]["Alarms"]["AlarmNames"][1] == "made-elsewhere"


def test_dashboard_without_alarms_is_refused() -> None:
    stack, cluster = _stack()
    with pytest.raises(PolicyError, match=r"dashboard=True: shows the crash metric"):
        WorkerService(
            stack, "Worker", cluster=cluster, image=IMAGE, dashboard=True, crash_loop_alarms=False
        )
