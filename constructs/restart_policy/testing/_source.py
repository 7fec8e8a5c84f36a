"""Reads what a snapshot needs from a Stack: its template, construct paths and nested stacks.

This is the only module of the helper that talks to jsii; the normalizer sees plain data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._assets import asset_hashes
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
    assets: dict[str, list[str]] = {}
    for construct in stack.node.find_all():
        if NestedStack.is_nested_stack(construct):
            if construct.nested_stack_parent is stack:
                nested[construct.node.path] = _from_stack(construct)
        elif CfnResource.is_cfn_resource(construct) and Stack.of(construct) is stack:
            paths[stack.resolve(construct.logical_id)] = construct.node.path
        elif (found := _asset_hash(construct)) is not None:
            assets.setdefault(found, []).append(construct.node.path)
    return StackTemplate(
        template, paths, nested, {found: tuple(sorted(p)) for found, p in assets.items()}
    )


def _asset_hash(construct: Any) -> str | None:
    # The hash the default synthesizer writes for an s3_assets.Asset (its object key) or a
    # DockerImageAsset (its image tag); None for any other construct or synthesizer.
    from aws_cdk import Token, aws_ecr_assets, aws_s3_assets

    if isinstance(construct, aws_s3_assets.Asset):
        value = construct.s3_object_key
    elif isinstance(construct, aws_ecr_assets.DockerImageAsset):
        value = construct.image_tag
    else:
        return None
    if not isinstance(value, str) or Token.is_unresolved(value):
        return None
    match = _HASH.match(value)
    return match.group(1) if match else None


_HASH = re.compile(r"^([0-9a-f]{64})(?![0-9a-f])")
# A nested stack's resource in its parent: <parent>/<id>.NestedStack/<id>.NestedStackResource.
_NESTED_RESOURCE = re.compile(r"^(.*)/([^/]+)\.NestedStack/\2\.NestedStackResource$")


def _from_artifact(artifact: Any) -> StackTemplate:
    # A synthesized stack (``app.synth().get_stack_by_name(...)``) lists the construct path of
    # each logical id of it and of its nested stacks (``/Stack/Queue/Resource``); a nested
    # stack's ids may repeat its parent's, so each path goes to the stack it lies in.
    entries = [
        (str(entry.path).lstrip("/"), str(entry.data))
        for entry in artifact.find_metadata_by_type("aws:cdk:logicalId")
    ]
    nested_stacks = {
        f"{match.group(1)}/{match.group(2)}": (path, logical_id)
        for path, logical_id in entries
        if (match := _NESTED_RESOURCE.match(path))
    }

    def owner(path: str) -> str:
        inside = [nested for nested in nested_stacks if path.startswith(nested + "/")]
        return max(inside, key=len, default="")

    paths: dict[str, dict[str, str]] = {}
    for path, logical_id in entries:
        paths.setdefault(owner(path), {})[logical_id] = path
    directory = Path(str(artifact.assembly.directory))
    files = _nested_template_files(directory)

    def build(key: str, template: Mapping[str, Any]) -> StackTemplate:
        nested: dict[str, StackTemplate] = {}
        resources = template.get("Resources", {})
        for nested_path, (resource_path, logical_id) in nested_stacks.items():
            resource = resources.get(logical_id)
            if owner(resource_path) != key or not isinstance(resource, Mapping):
                continue
            file = _nested_template_file(resource, files, directory)
            if file is not None:
                nested[nested_path] = build(nested_path, json.loads(file.read_text()))
        return StackTemplate(template, paths.get(key, {}), nested)

    return build("", artifact.template)


def _nested_template_files(directory: Path) -> dict[str, Path]:
    # The asset manifests say which file of the assembly each template asset (by hash) is.
    files: dict[str, Path] = {}
    for manifest in directory.glob("*.assets.json"):
        for asset_hash, entry in json.loads(manifest.read_text()).get("files", {}).items():
            source = entry.get("source", {}).get("path")
            if isinstance(source, str) and source.endswith(".template.json"):
                files[asset_hash] = directory / source
                for destination in entry.get("destinations", {}).values():
                    key = destination.get("objectKey", "")
                    if match := _HASH.match(key):
                        files[match.group(1)] = directory / source
    return files


def _nested_template_file(
    resource: Mapping[str, Any], files: Mapping[str, Path], directory: Path
) -> Path | None:
    asset_path = resource.get("Metadata", {}).get("aws:asset:path")
    if isinstance(asset_path, str) and (directory / asset_path).is_file():
        return directory / asset_path
    url = resource.get("Properties", {}).get("TemplateURL")
    for found in asset_hashes(url):
        if found in files and files[found].is_file():
            return files[found]
    return None
