"""A syrupy extension that snapshots CDK templates without the churn."""

from __future__ import annotations

import json
from typing import Any

from syrupy.extensions.json import JSONSnapshotExtension

from ._normalize import normalize_template


def template_of(data: Any) -> dict[str, Any]:
    """The template as JSON data from a ``Stack``, an ``assertions.Template`` or a dict."""
    if isinstance(data, dict):
        return data
    to_json = getattr(data, "to_json", None)
    if callable(to_json):
        result = to_json()
        if isinstance(result, dict):
            return result
    if hasattr(data, "template_options") and hasattr(data, "node"):
        from aws_cdk import assertions  # only a Stack gets here, so CDK is loaded already

        return dict(assertions.Template.from_stack(data).to_json())
    raise TypeError(
        f"cannot snapshot a {type(data).__name__} as a CDK template: give a Stack, an "
        "assertions.Template or the template as a dict"
    )


class CdkTemplateSnapshotExtension(JSONSnapshotExtension):  # type: ignore[misc]
    """Serializes a CDK template as sorted, indented JSON with asset hashes and other churn masked.

    Use it through the ``cdk_snapshot`` fixture: ``assert stack == cdk_snapshot``.
    """

    def serialize(self, data: Any, **kwargs: Any) -> str:
        template = normalize_template(template_of(data))
        return json.dumps(template, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
