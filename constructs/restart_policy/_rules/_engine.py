"""Runs ``RULES`` over a cloud assembly: what each resource is decides which rules judge it.

A task definition is judged as a long-running service's only when an ``AWS::ECS::Service`` runs
it (followed through ``Ref``, nested stack parameters and outputs, exports and family names);
any other is a job. A resource carrying the policy its construct was built with
(``restart-policy:policy`` metadata) is judged by that policy, any other by the app's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .._policy_record import METADATA_KEY
from .._user_data_script import extract_payloads
from . import RULES
from ._assembly import Template, load
from ._model import (
    Finding,
    Judged,
    LogGroup,
    Options,
    ProcessSection,
    Service,
    TaskDefinition,
    intrinsic,
    unreadable,
)
from ._shell import command_writes, shell_texts
from ._supervisor_reader import HEADER, has_process_section, read_config
from ._user_data import decode_user_data, resolve_text

_HOSTS = {
    "AWS::EC2::Instance": ("UserData",),
    "AWS::EC2::LaunchTemplate": ("LaunchTemplateData", "UserData"),
    "AWS::AutoScaling::LaunchConfiguration": ("UserData",),
}
_INIT = "AWS::CloudFormation::Init"


def judge_assembly(paths: Iterable[str], options: Options) -> list[tuple[Finding, str]]:
    """Every finding, with the path of the template (top-level or nested) it is in."""
    templates, findings = load(list(paths))
    services_run = _tasks_run_by_services(templates)
    for template in templates:
        for finding in judge_template(template, options, services_run):
            findings.append((finding, template.path))
    return findings


def judge_template(
    template: Template, options: Options, services_run: Mapping[tuple[str, str], bool]
) -> Iterator[Finding]:
    app_policy = Judged.of(options.policy)
    for logical_id, resource in sorted(template.resources.items()):
        if not isinstance(resource, Mapping):
            continue
        kind = str(resource.get("Type"))
        props = resource.get("Properties")
        props = props if isinstance(props, Mapping) else {}
        metadata = resource.get("Metadata")
        metadata = metadata if isinstance(metadata, Mapping) else {}
        record = metadata.get(METADATA_KEY)
        record = record if isinstance(record, Mapping) else {}
        policy = app_policy.with_record(record["policy"]) if "policy" in record else app_policy
        if kind == "AWS::ECS::Service":
            daemon = props.get("SchedulingStrategy") == "DAEMON"
            yield from _run("service", Service(logical_id, props, policy, daemon), options)
        elif kind == "AWS::ECS::TaskDefinition":
            if intrinsic(props.get("ContainerDefinitions")):
                yield unreadable(
                    logical_id, "Properties/ContainerDefinitions", "ContainerDefinitions"
                )
                continue
            key = (template.path, logical_id)
            compatibilities = props.get("RequiresCompatibilities")
            fargate = (isinstance(compatibilities, list) and "FARGATE" in compatibilities) or bool(
                services_run.get(key)
            )
            subject = TaskDefinition(logical_id, props, policy, fargate)
            yield from _run("task" if key in services_run else "job", subject, options)
        elif kind == "AWS::Logs::LogGroup":
            yield from _run("log-group", LogGroup(logical_id, props), options)
        elif kind in _HOSTS:
            yield from _host(logical_id, kind, props, record, app_policy, options)
        if _INIT in metadata:
            yield from _cfn_init(logical_id, metadata[_INIT], app_policy, options)


def _run(subject: str, judged: Any, options: Options) -> Iterator[Finding]:
    for rule in RULES:
        if rule.subject == subject and rule.check is not None:
            yield from rule.check(judged, options)


# --- which task definitions a service runs ----------------------------------------------


def _tasks_run_by_services(templates: list[Template]) -> dict[tuple[str, str], bool]:
    """(template path, logical id) of every task definition a service runs -> on Fargate."""
    exports: dict[str, tuple[Template, object]] = {}
    for template in templates:
        outputs = template.body.get("Outputs")
        for output in (outputs if isinstance(outputs, Mapping) else {}).values():
            export = output.get("Export") if isinstance(output, Mapping) else None
            name = export.get("Name") if isinstance(export, Mapping) else None
            if isinstance(name, str):
                exports[name] = (template, output.get("Value"))
    run: dict[tuple[str, str], bool] = {}
    for template in templates:
        for resource in template.resources.values():
            if not isinstance(resource, Mapping) or resource.get("Type") != "AWS::ECS::Service":
                continue
            props = resource.get("Properties")
            props = props if isinstance(props, Mapping) else {}
            fargate = props.get("LaunchType") == "FARGATE"
            for key in _targets(template, props.get("TaskDefinition"), exports, 0):
                run[key] = run.get(key, False) or fargate
    return run


def _targets(
    template: Template, value: object, exports: Mapping[str, tuple[Template, object]], depth: int
) -> Iterator[tuple[str, str]]:
    if depth > 32:
        return
    resources = template.resources
    if isinstance(value, str):
        family = re.sub(r"^arn:[^/]*task-definition/", "", value).split(":")[0]
        for logical_id, resource in resources.items():
            props = resource.get("Properties") if isinstance(resource, Mapping) else None
            if _is_task(resource) and isinstance(props, Mapping) and props.get("Family") == family:
                yield template.path, logical_id
        return
    if isinstance(value, list):
        for item in value:
            yield from _targets(template, item, exports, depth + 1)
        return
    if not isinstance(value, Mapping):
        return
    if "Ref" in value and isinstance(value["Ref"], str):
        name = value["Ref"]
        if _is_task(resources.get(name)):
            yield template.path, name
        elif template.parent is not None and template.stack_id is not None:
            stack = template.parent.resources.get(template.stack_id, {})
            parameters = stack.get("Properties", {}).get("Parameters", {})
            if isinstance(parameters, Mapping) and name in parameters:
                yield from _targets(template.parent, parameters[name], exports, depth + 1)
        return
    if "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        if isinstance(target, str):
            target = target.split(".", 1)
        if isinstance(target, list) and len(target) == 2 and isinstance(target[0], str):
            if _is_task(resources.get(target[0])):
                yield template.path, target[0]
            child = template.children.get(target[0])
            attribute = str(target[1])
            if child is not None and attribute.startswith("Outputs."):
                outputs = child.body.get("Outputs", {})
                output = outputs.get(attribute[len("Outputs.") :], {})
                if isinstance(output, Mapping):
                    yield from _targets(child, output.get("Value"), exports, depth + 1)
        return
    if "Fn::ImportValue" in value and isinstance(value["Fn::ImportValue"], str):
        exported = exports.get(value["Fn::ImportValue"])
        if exported is not None:
            yield from _targets(exported[0], exported[1], exports, depth + 1)
        return
    for item in value.values():
        yield from _targets(template, item, exports, depth + 1)


def _is_task(resource: object) -> bool:
    return isinstance(resource, Mapping) and resource.get("Type") == "AWS::ECS::TaskDefinition"


# --- hosts: user data and CloudFormationInit --------------------------------------------


def _host(
    logical_id: str,
    kind: str,
    props: Mapping[str, Any],
    record: Mapping[str, Any],
    app_policy: Judged,
    options: Options,
) -> Iterator[Finding]:
    *parents, key = _HOSTS[kind]
    holder: object = props
    for name in parents:
        holder = holder.get(name) if isinstance(holder, Mapping) else None
    value = holder.get(key) if isinstance(holder, Mapping) else None
    if value is None:
        return
    where = "/".join(["Properties", *parents, key])
    decoded = decode_user_data(value)
    for problem in decoded.problems:
        yield unreadable(logical_id, where, problem)
    library_policy = app_policy.with_record(record["policy"]) if "policy" in record else app_policy
    programs = record.get("programs")
    programs = programs if isinstance(programs, Mapping) else {}

    def payload_policy(header: str) -> Judged:
        name = header.split(":", 1)[1]
        return library_policy.with_record(programs[name]) if name in programs else library_policy

    for script in decoded.scripts:
        try:
            payloads = extract_payloads(script)
        except (ValueError, OSError, EOFError, UnicodeDecodeError):
            payloads = []
            yield unreadable(logical_id, where, "the cdk-restart-policy payload in the user data")
        for payload in payloads:
            for path, content in sorted(payload.items()):
                if path.startswith("programs/"):
                    yield from _config(logical_id, where, content, False, payload_policy, options)
        yield from _script(logical_id, where, script, lambda _: app_policy, options)


def _script(
    logical_id: str, where: str, script: str, policy_of: Any, options: Options
) -> Iterator[Finding]:
    read_lines: set[int] = set()
    for text, expanded, lines in shell_texts(script):
        read_lines.update(lines)
        if has_process_section(text):
            yield from _config(logical_id, where, text, expanded, policy_of, options)
    body_lines = set(read_lines)
    for text, expanded, lines in command_writes(script, body_lines):
        read_lines.update(lines)
        if has_process_section(text):
            yield from _config(logical_id, where, text, expanded, policy_of, options)
    for number, line in enumerate(script.split("\n")):
        if number not in read_lines and HEADER.match(line):
            yield unreadable(
                logical_id, where,
                f"the supervisor section {line.strip()!r} in the script: it is not written by a "
                "here-document, echo or printf the checks follow",
            )  # fmt: skip


def _config(
    logical_id: str,
    where: str,
    text: str,
    expanded: bool,
    policy_of: Any,
    options: Options,
) -> Iterator[Finding]:
    config = read_config(text)
    if config.problem is not None:
        yield unreadable(
            logical_id,
            where,
            f"a supervisor config that supervisor would not load: {config.problem}",
        )
    for header, settings in config.sections:
        section = ProcessSection(logical_id, where, header, settings, policy_of(header), expanded)
        yield from _run("process", section, options)


def _cfn_init(
    logical_id: str, init: object, app_policy: Judged, options: Options
) -> Iterator[Finding]:
    base = f"Metadata/{_INIT}"
    if not isinstance(init, Mapping):
        yield unreadable(logical_id, base, "the CloudFormationInit metadata")
        return
    for config_name, config in sorted(init.items()):
        if config_name == "configSets" or not isinstance(config, Mapping):
            continue
        files = config.get("files")
        for path, spec in sorted((files if isinstance(files, Mapping) else {}).items()):
            where = f"{base}/{config_name}/files/{path}"
            content = spec.get("content") if isinstance(spec, Mapping) else None
            if content is None:
                if "supervisor" in str(path).lower():
                    yield unreadable(logical_id, where, f"the file {path} (not inline content)")
                continue
            if isinstance(content, Mapping) and not intrinsic(content):
                continue  # a JSON document
            text = resolve_text(content)
            if text is None:
                yield unreadable(logical_id, where, f"the content of {path}")
            elif has_process_section(text):
                yield from _config(logical_id, where, text, False, lambda _: app_policy, options)
        commands = config.get("commands")
        for name, spec in sorted((commands if isinstance(commands, Mapping) else {}).items()):
            command = spec.get("command") if isinstance(spec, Mapping) else None
            text = (
                resolve_text(command)
                if not isinstance(command, list)
                else " ".join(str(word) for word in command)
            )
            if text is not None:
                where = f"{base}/{config_name}/commands/{name}"
                yield from _script(logical_id, where, text, lambda _: app_policy, options)
