"""Which task definitions an ECS service runs, across templates and nested stacks.

Followed through ``Ref``, a nested stack's parameters and outputs, exports and family names: a
task definition found here is a long-running daemon's; any other is a job.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from ._assembly import Template


def tasks_run_by_services(templates: list[Template]) -> dict[tuple[str, str], bool]:
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
