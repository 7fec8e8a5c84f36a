"""The templates of a cloud assembly, nested stacks of any depth included.

A validation plugin is given the top-level templates only. A nested stack's template is a file
asset next to them: named by the resource's ``aws:asset:path`` metadata (``cdk synth`` adds
it), or else found through the asset manifests by the hash in its ``TemplateURL``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._model import Finding, unreadable


@dataclass
class Template:
    path: str
    body: Mapping[str, Any]
    parent: Template | None = None
    #: Logical id of the ``AWS::CloudFormation::Stack`` resource in ``parent``.
    stack_id: str | None = None
    children: dict[str, Template] = field(default_factory=dict)

    @property
    def resources(self) -> Mapping[str, Any]:
        resources = self.body.get("Resources")
        return resources if isinstance(resources, Mapping) else {}


def load(paths: list[str]) -> tuple[list[Template], list[tuple[Finding, str]]]:
    """Every template (top-level ones first, then nested, depth first) and a warning for each
    nested stack whose template cannot be read."""
    templates: list[Template] = []
    problems: list[tuple[Finding, str]] = []
    seen: set[str] = set()
    for path in paths:
        with open(path, encoding="utf-8") as file:
            body = json.load(file)
        _walk(Template(path, body if isinstance(body, Mapping) else {}), templates, problems, seen)
    return templates, problems


def _walk(
    template: Template,
    templates: list[Template],
    problems: list[tuple[Finding, str]],
    seen: set[str],
) -> None:
    templates.append(template)
    seen.add(os.path.realpath(template.path))
    for logical_id, resource in sorted(template.resources.items()):
        if (
            not isinstance(resource, Mapping)
            or resource.get("Type") != "AWS::CloudFormation::Stack"
        ):
            continue
        where = "Properties/TemplateURL"
        nested_path = _nested_path(template.path, resource)
        if nested_path is None:
            problems.append(
                (unreadable(logical_id, where, "the nested stack's template: it is not in the "
                 "cloud assembly (no aws:asset:path metadata, no asset with its TemplateURL)"),
                 template.path)
            )  # fmt: skip
            continue
        if os.path.realpath(nested_path) in seen:
            continue
        try:
            with open(nested_path, encoding="utf-8") as file:
                body = json.load(file)
        except (OSError, ValueError) as error:
            problems.append(
                (unreadable(logical_id, where, f"the nested stack's template "
                 f"{os.path.basename(nested_path)} ({type(error).__name__})"), template.path)
            )  # fmt: skip
            continue
        resources = body.get("Resources") if isinstance(body, Mapping) else None
        if not isinstance(resources, Mapping) or not resources:
            problems.append(
                (unreadable(logical_id, where, f"the nested stack's template "
                 f"{os.path.basename(nested_path)}: it has no resources"), template.path)
            )  # fmt: skip
            continue
        child = Template(nested_path, body, parent=template, stack_id=logical_id)
        template.children[logical_id] = child
        _walk(child, templates, problems, seen)


def _nested_path(template_path: str, resource: Mapping[str, Any]) -> str | None:
    folder = os.path.dirname(template_path)
    metadata = resource.get("Metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("aws:asset:path"), str):
        return os.path.join(folder, metadata["aws:asset:path"])
    properties = resource.get("Properties")
    url = properties.get("TemplateURL") if isinstance(properties, Mapping) else None
    digest = re.search(r"([0-9a-f]{64})\.json", json.dumps(url))
    if digest is None:
        return None
    for source in _asset_sources(folder):
        if source[0] == digest.group(1):
            return os.path.join(folder, source[1])
    return None


def _asset_sources(folder: str) -> Iterator[tuple[str, str]]:
    try:
        names = sorted(name for name in os.listdir(folder) if name.endswith(".assets.json"))
    except OSError:
        return
    for name in names:
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as file:
                manifest = json.load(file)
        except (OSError, ValueError):
            continue
        files = manifest.get("files") if isinstance(manifest, Mapping) else None
        for digest, asset in (files or {}).items():
            source = asset.get("source") if isinstance(asset, Mapping) else None
            if isinstance(source, Mapping) and isinstance(source.get("path"), str):
                yield digest, source["path"]
