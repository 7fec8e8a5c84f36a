"""Options of a CDK template snapshot, named after jest-cdk-snapshot's where they mean the same."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

# CloudFormation's own resource types are Org::Service::Type; custom resources are Custom::Name.
_RESOURCE_TYPE = re.compile(
    r"^(?:[A-Za-z0-9]+::[A-Za-z0-9]+::[A-Za-z0-9]+|Custom::[A-Za-z0-9_@.-]+)$"
)

_FLAGS = (
    "ignore_assets",
    "ignore_bootstrap_version",
    "ignore_current_version",
    "ignore_metadata",
    "ignore_tags",
    "yaml",
)

# jest-cdk-snapshot users type camelCase; tell them the Python name.
_JEST_NAMES = {
    "ignoreAssets": "ignore_assets",
    "ignoreBootstrapVersion": "ignore_bootstrap_version",
    "ignoreCurrentVersion": "ignore_current_version",
    "ignoreMetadata": "ignore_metadata",
    "ignoreTags": "ignore_tags",
    "subsetResourceTypes": "subset_resource_types",
    "subsetResourceKeys": "subset_resource_keys",
    "propertyMatchers": "matcher",
}


@dataclass(frozen=True)
class SnapshotOptions:
    """What a CDK template snapshot leaves out. Checked when made, so a typo fails the test."""

    #: Mask asset hashes where CDK puts them (on by default: new asset content is not a change
    #: of the stack). False records the raw hashes, so that any asset content change fails.
    ignore_assets: bool = True
    #: Drop the ``BootstrapVersion`` parameter and the ``CheckBootstrapVersion`` rule (on by
    #: default: they follow the bootstrap stack, not the app).
    ignore_bootstrap_version: bool = True
    #: Mask the hash in ``current_version`` logical ids and their references (on by default:
    #: the hash follows the function's code; the function's own properties stay compared).
    ignore_current_version: bool = True
    #: Drop the template's ``Metadata`` and every resource's ``Metadata`` (off by default).
    ignore_metadata: bool = False
    #: Drop every resource's ``Properties.Tags`` (off by default).
    ignore_tags: bool = False
    #: Keep only resources of these types (all by default). Each type must occur in the stack.
    subset_resource_types: tuple[str, ...] | None = None
    #: Keep only resources with these logical ids (all by default). Each must occur in the stack.
    subset_resource_keys: tuple[str, ...] | None = None
    #: Write the snapshot as YAML (``.yaml``) instead of JSON (off by default); needs PyYAML.
    yaml: bool = False

    def __post_init__(self) -> None:
        for name in _FLAGS:
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise TypeError(
                    f"cdk_snapshot option {name} must be True or False, got {value!r} "
                    f"({type(value).__name__})"
                )
        for name in ("subset_resource_types", "subset_resource_keys"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _strings(name, value))
        for resource_type in self.subset_resource_types or ():
            if not _RESOURCE_TYPE.match(resource_type):
                raise ValueError(
                    f"cdk_snapshot option subset_resource_types: {resource_type!r} is not a "
                    "CloudFormation resource type; write it as in the template, e.g. "
                    "'AWS::Lambda::Function' or 'Custom::MyThing'"
                )

    @classmethod
    def of(cls, base: SnapshotOptions | None = None, **changes: Any) -> SnapshotOptions:
        """``base`` (the defaults when None) with ``changes``; an unknown name is a TypeError."""
        known = {f.name for f in fields(cls)}
        for name in changes:
            if name not in known:
                hint = _JEST_NAMES.get(name) or next(
                    iter(difflib.get_close_matches(name, sorted(known), n=1)), None
                )
                suggestion = f"; did you mean {hint!r}?" if hint else ""
                raise TypeError(
                    f"unknown cdk_snapshot option {name!r}{suggestion} "
                    f"(options: {', '.join(sorted(known))})"
                )
        return replace(base or cls(), **changes)


def _strings(name: str, value: Any) -> tuple[str, ...]:
    # A bare string is iterable too: "AWS::SNS::Topic" would become 14 one-letter types.
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError(
            f"cdk_snapshot option {name} must be a list of strings, got {value!r} "
            f"({type(value).__name__}); write [{value!r}] for one"
        )
    items = tuple(value)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(
                f"cdk_snapshot option {name} must be a list of strings, got {item!r} "
                f"({type(item).__name__}) in it"
            )
    if not items:
        raise ValueError(
            f"cdk_snapshot option {name} is empty: it would snapshot no resource; leave it out "
            "to snapshot all"
        )
    return items
