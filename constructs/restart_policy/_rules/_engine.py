"""Runs ``RULES`` over a cloud assembly: what each resource is decides which rules judge it.

A task definition is judged as a long-running service's only when an ``AWS::ECS::Service`` runs
it (followed through ``Ref``, nested stack parameters and outputs, exports and family names);
any other is a job. A resource carrying the policy its construct was built with
(``restart-policy:policy`` metadata) is judged by that policy, any other by the app's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from .._policy_record import METADATA_KEY
from . import run
from ._assembly import Template, load
from ._coerce import coerced
from ._hosts import HOSTS, INIT, judge_cfn_init, judge_host
from ._model import (
    Finding,
    Judged,
    LogGroup,
    Options,
    Recorded,
    Service,
    TaskDefinition,
    intrinsic,
    shown,
    unreadable,
)
from ._service_tasks import Runs, tasks_run_by_services


def judge_assembly(paths: Iterable[str], options: Options) -> list[tuple[Finding, str]]:
    """Every finding, with the path of the template (top-level or nested) it is in."""
    templates, findings = load(list(paths))
    runs = tasks_run_by_services(templates)
    for path, logical_id, value in runs.unresolved:
        findings.append((unreadable_service(logical_id, value), path))
    for template in templates:
        for finding in judge_template(template, options, runs):
            findings.append((finding, template.path))
    return findings


def unreadable_service(logical_id: str, value: object) -> Finding:
    return unreadable(
        logical_id,
        "Properties/TaskDefinition",
        f"which task definition the service runs (TaskDefinition is {shown(value)}): every "
        "task definition that no service or job runner is known to run is judged as a "
        "long-running service's",
    )


def judge_template(template: Template, options: Options, runs: Runs) -> Iterator[Finding]:
    app_policy = Judged.of(options.policy)
    for logical_id, resource in sorted(template.resources.items()):
        if not isinstance(resource, Mapping):
            continue
        kind = str(resource.get("Type"))
        props = resource.get("Properties")
        props = coerced(props) if isinstance(props, Mapping) else {}
        metadata = resource.get("Metadata")
        metadata = metadata if isinstance(metadata, Mapping) else {}
        record = metadata.get(METADATA_KEY)
        record = record if isinstance(record, Mapping) and not options.strict else {}
        policy = (
            app_policy.with_record(record["policy"], options) if "policy" in record else app_policy
        )
        if "policy" in record:
            yield from run("record", Recorded(logical_id, record), options)
        if kind == "AWS::ECS::Service":
            daemon = props.get("SchedulingStrategy") == "DAEMON"
            yield from run("service", Service(logical_id, props, policy, daemon), options)
        elif kind == "AWS::ECS::TaskDefinition":
            if intrinsic(props.get("ContainerDefinitions")):
                yield unreadable(
                    logical_id, "Properties/ContainerDefinitions", "ContainerDefinitions"
                )
                continue
            key = (template.path, logical_id)
            compatibilities = props.get("RequiresCompatibilities")
            fargate = (isinstance(compatibilities, list) and "FARGATE" in compatibilities) or bool(
                runs.run.get(key)
            )
            subject = TaskDefinition(logical_id, props, policy, fargate)
            yield from run("task" if runs.long_running(key) else "job", subject, options)
        elif kind == "AWS::Logs::LogGroup":
            yield from run("log-group", LogGroup(logical_id, props), options)
        elif kind in HOSTS:
            yield from judge_host(logical_id, kind, props, record, app_policy, options)
        if INIT in metadata:
            yield from judge_cfn_init(logical_id, metadata[INIT], app_policy, options)
