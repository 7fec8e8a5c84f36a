"""A syrupy extension that snapshots CDK templates without the churn."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, ClassVar

from syrupy.extensions.json import JSONSnapshotExtension

from ._normalize import normalize_template
from ._options import SnapshotOptions
from ._source import stack_template_of


def template_of(data: Any) -> dict[str, Any]:
    """The template as JSON data from a ``Stack``, an ``assertions.Template``, a synthesized
    ``CloudFormationStackArtifact`` or a dict."""
    return dict(stack_template_of(data).template)


class CdkTemplateSnapshotExtension(JSONSnapshotExtension):  # type: ignore[misc]
    """Serializes a CDK template as sorted, indented JSON (or YAML) with CDK's churn masked.

    Use it through the ``cdk_snapshot`` fixture: ``assert stack == cdk_snapshot``, or with
    options ``assert stack == cdk_snapshot(ignore_tags=True)``. With syrupy alone:
    ``snapshot.use_extension(CdkTemplateSnapshotExtension.with_options(yaml=True))``.
    syrupy's ``exclude``, ``include`` and ``matcher`` apply to the masked template.
    """

    options: ClassVar[SnapshotOptions] = SnapshotOptions()

    @classmethod
    def with_options(cls, **changes: Any) -> type[CdkTemplateSnapshotExtension]:
        """This extension with ``changes`` to its options; a bad option raises here."""
        options = SnapshotOptions.of(cls.options, **changes)
        return type(
            cls.__name__,
            (cls,),
            {"options": options, "file_extension": "yaml" if options.yaml else "json"},
        )

    def serialize(
        self,
        data: Any,
        *,
        exclude: Any = None,
        include: Any = None,
        matcher: Any = None,
    ) -> str:
        """The snapshot text of ``data``: masked, filtered by syrupy's options, then dumped."""
        template = normalize_template(stack_template_of(data), self.options)
        filtered = self._filter(
            data=template, depth=0, path=(), exclude=exclude, include=include, matcher=matcher
        )
        if self.options.yaml:
            return _yaml(_plain(filtered))
        return json.dumps(filtered, indent=2, ensure_ascii=False) + "\n"


def _plain(value: Any) -> Any:
    # syrupy's filter returns OrderedDicts, which PyYAML's safe dumper refuses.
    if isinstance(value, OrderedDict | dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _yaml(data: Any) -> str:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError as error:  # pragma: no cover - PyYAML comes with the testing extra
        raise ImportError(
            "cdk_snapshot(yaml=True) needs PyYAML: pip install cdk-restart-policy[testing]"
        ) from error

    class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
        pass

    def text(dumper: Any, value: str) -> Any:
        # User data and inline code read as blocks, one line per line.
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, text)
    dumped: str = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    return dumped
