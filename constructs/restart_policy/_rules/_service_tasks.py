"""Which task definitions an ECS service runs, across templates and nested stacks.

Followed through ``Ref``, a nested stack's parameters and outputs, exports, SSM parameters
(``AWS::SSM::Parameter::Value`` template parameters naming an ``AWS::SSM::Parameter`` of the
assembly), family names and ARNs (in any template of the assembly), and ``AWS::ECS::TaskSet``
(an EXTERNAL service's tasks). A task definition found here is a long-running daemon's. A
service whose task definition cannot be followed is reported, and then every task definition
that nothing is known to run is judged as long-running rather than silently as a job.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._assembly import Template

#: Capacity providers that put a task on Fargate.
FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")
#: Resources that run a task definition as a job (once, on a schedule, from a workflow).
JOB_RUNNERS = (
    "AWS::Events::Rule",
    "AWS::Scheduler::Schedule",
    "AWS::StepFunctions::StateMachine",
    "AWS::Pipes::Pipe",
)


@dataclass
class Runs:
    #: (template path, logical id) of every task definition a service runs -> on Fargate.
    run: dict[tuple[str, str], bool] = field(default_factory=dict)
    #: (template path, logical id, TaskDefinition value) of services that could not be followed.
    unresolved: list[tuple[str, str, object]] = field(default_factory=list)
    #: Task definitions a job runner (an EventBridge rule, a schedule ...) names.
    jobs: set[tuple[str, str]] = field(default_factory=set)

    def long_running(self, key: tuple[str, str]) -> bool:
        """Run by a service, or (when a service's task definition is unknown) run by nothing
        known: such a task definition may be that service's."""
        return key in self.run or (bool(self.unresolved) and key not in self.jobs)


@dataclass
class _Assembly:
    templates: list[Template]
    exports: dict[str, tuple[Template, object]]


def tasks_run_by_services(templates: list[Template]) -> Runs:
    exports: dict[str, tuple[Template, object]] = {}
    for template in templates:
        outputs = template.body.get("Outputs")
        for output in (outputs if isinstance(outputs, Mapping) else {}).values():
            export = output.get("Export") if isinstance(output, Mapping) else None
            name = export.get("Name") if isinstance(export, Mapping) else None
            if isinstance(name, str):
                exports[name] = (template, output.get("Value"))
    assembly = _Assembly(templates, exports)
    runs = Runs()
    for template in templates:
        for logical_id, resource in template.resources.items():
            if not isinstance(resource, Mapping):
                continue
            kind = resource.get("Type")
            props = resource.get("Properties")
            props = props if isinstance(props, Mapping) else {}
            if kind in JOB_RUNNERS:
                runs.jobs.update(_targets(template, props, assembly, 0))
                continue
            if kind not in ("AWS::ECS::Service", "AWS::ECS::TaskSet"):
                continue
            if kind == "AWS::ECS::Service" and "TaskDefinition" not in props:
                continue  # an EXTERNAL service's tasks come from its task sets
            fargate = on_fargate(template, props)
            found = list(_targets(template, props.get("TaskDefinition"), assembly, 0))
            if not found and not isinstance(props.get("TaskDefinition"), str):
                # A literal family or ARN found nowhere in the assembly names a task definition
                # made outside this app: nothing here to judge, and no candidate.
                runs.unresolved.append((template.path, logical_id, props.get("TaskDefinition")))
            for key in found:
                runs.run[key] = runs.run.get(key, False) or fargate
    return runs


def on_fargate(template: Template, props: Mapping[str, Any]) -> bool:
    """A service (or task set) whose tasks run on Fargate: its launch type, its capacity provider
    strategy, or else its cluster's default strategy when the cluster is in the template."""
    launch = props.get("LaunchType")
    if launch is not None:
        return bool(launch == "FARGATE")
    strategy = props.get("CapacityProviderStrategy")
    if strategy is None:
        strategy = _cluster_default(template, props.get("Cluster"))
    return isinstance(strategy, list) and any(
        isinstance(item, Mapping) and item.get("CapacityProvider") in FARGATE_PROVIDERS
        for item in strategy
    )


def _cluster_default(template: Template, cluster: object) -> object:
    ids = {
        logical_id
        for logical_id, resource in template.resources.items()
        if isinstance(resource, Mapping)
        and resource.get("Type") == "AWS::ECS::Cluster"
        and (
            cluster == {"Ref": logical_id}
            or (isinstance(cluster, str) and _props(resource).get("ClusterName") == cluster)
        )
    }
    for logical_id, resource in template.resources.items():
        if not isinstance(resource, Mapping):
            continue
        props = _props(resource)
        if logical_id in ids and props.get("DefaultCapacityProviderStrategy") is not None:
            return props["DefaultCapacityProviderStrategy"]
        if resource.get("Type") == "AWS::ECS::ClusterCapacityProviderAssociations" and (
            props.get("Cluster") in [{"Ref": i} for i in ids] or props.get("Cluster") == cluster
        ):
            return props.get("DefaultCapacityProviderStrategy")
    return None


def _props(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    props = resource.get("Properties")
    return props if isinstance(props, Mapping) else {}


def _targets(
    template: Template, value: object, assembly: _Assembly, depth: int
) -> Iterator[tuple[str, str]]:
    if depth > 32:
        return
    resources = template.resources
    if isinstance(value, str):
        match = re.search(r"task-definition/([^:/\s]+)", value)
        family = match.group(1) if match else value.split(":")[0]
        for other in assembly.templates:
            for logical_id, resource in other.resources.items():
                if _is_task(resource) and _props(resource).get("Family") == family:
                    yield other.path, logical_id
        return
    if isinstance(value, list):
        for item in value:
            yield from _targets(template, item, assembly, depth + 1)
        return
    if not isinstance(value, Mapping):
        return
    if "Ref" in value and isinstance(value["Ref"], str):
        yield from _ref(template, value["Ref"], assembly, depth)
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
                    yield from _targets(child, output.get("Value"), assembly, depth + 1)
        return
    if "Fn::ImportValue" in value and isinstance(value["Fn::ImportValue"], str):
        exported = assembly.exports.get(value["Fn::ImportValue"])
        if exported is not None:
            yield from _targets(exported[0], exported[1], assembly, depth + 1)
        return
    for item in value.values():
        yield from _targets(template, item, assembly, depth + 1)


def _ref(
    template: Template, name: str, assembly: _Assembly, depth: int
) -> Iterator[tuple[str, str]]:
    if _is_task(template.resources.get(name)):
        yield template.path, name
        return
    if template.parent is not None and template.stack_id is not None:
        stack = template.parent.resources.get(template.stack_id, {})
        parameters = _props(stack).get("Parameters", {})
        if isinstance(parameters, Mapping) and name in parameters:
            yield from _targets(template.parent, parameters[name], assembly, depth + 1)
            return
    declared = template.body.get("Parameters")
    parameter = declared.get(name) if isinstance(declared, Mapping) else None
    if not isinstance(parameter, Mapping) or not isinstance(parameter.get("Default"), str):
        return
    if str(parameter.get("Type", "")).startswith("AWS::SSM::Parameter::Value"):
        for other in assembly.templates:
            for resource in other.resources.values():
                if (
                    isinstance(resource, Mapping)
                    and resource.get("Type") == "AWS::SSM::Parameter"
                    and _props(resource).get("Name") == parameter["Default"]
                ):
                    yield from _targets(other, _props(resource).get("Value"), assembly, depth + 1)
    else:
        yield from _targets(template, parameter["Default"], assembly, depth + 1)


def _is_task(resource: object) -> bool:
    return isinstance(resource, Mapping) and resource.get("Type") == "AWS::ECS::TaskDefinition"
