"""Reads what a snapshot needs from a Stack: its template, construct paths and nested stacks.

This is the only module of the helper that talks to jsii; the normalizer sees plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._normalize import StackTemplate


def stack_template_of(data: Any) -> StackTemplate:
    """The template (with paths and nested stacks when known) of a Stack, Template or dict."""
    if isinstance(data, StackTemplate):
        return data
    if isinstance(data, Mapping):
        return StackTemplate(data)
    if hasattr(data, "template_options") and hasattr(data, "node"):
        return _from_stack(data)
    if hasattr(data, "find_metadata_by_type") and isinstance(
        getattr(data, "template", None), Mapping
    ):
        return _from_artifact(data)
    to_json = getattr(data, "to_json", None)
    if callable(to_json):
        result = to_json()
        if isinstance(result, Mapping):
            return StackTemplate(result)
    raise TypeError(
        f"cannot snapshot a {type(data).__name__} as a CDK template: give a Stack, an "
        "assertions.Template, a CloudFormationStackArtifact or the template as a dict"
    )


def _from_stack(stack: Any) -> StackTemplate:
    # Only a Stack gets here, so CDK is loaded already.
    from aws_cdk import CfnResource, NestedStack, Stack, assertions

    template = dict(assertions.Template.from_stack(stack).to_json())
    paths: dict[str, str] = {}
    nested: dict[str, StackTemplate] = {}
    for construct in stack.node.find_all():
        if NestedStack.is_nested_stack(construct):
            if construct.nested_stack_parent is stack:
                nested[construct.node.path] = _from_stack(construct)
        elif CfnResource.is_cfn_resource(construct) and Stack.of(construct) is stack:
            paths[stack.resolve(construct.logical_id)] = construct.node.path
    return StackTemplate(template, paths, nested)


def _from_artifact(artifact: Any) -> StackTemplate:
    # A synthesized stack (``app.synth().get_stack_by_name(...)``) lists each logical id with its
    # construct path (``/Stack/Queue/Resource``); its nested templates are files, left out.
    paths = {
        str(entry.data): str(entry.path).lstrip("/")
        for entry in artifact.find_metadata_by_type("aws:cdk:logicalId")
    }
    return StackTemplate(artifact.template, paths)
