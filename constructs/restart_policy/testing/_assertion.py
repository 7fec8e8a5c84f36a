"""syrupy's snapshot assertion, taking the CDK options where it takes its own."""

from __future__ import annotations

from typing import Any

from syrupy.assertion import SnapshotAssertion

from .extension import CdkTemplateSnapshotExtension


class CdkSnapshotAssertion(SnapshotAssertion):  # type: ignore[misc]
    """``cdk_snapshot``: ``snapshot(...)`` and ``snapshot.with_defaults(...)`` accept the CDK
    options (``ignore_tags=True``, ``yaml=True`` ...) beside syrupy's own."""

    def __call__(self, *, extension_class: Any = None, **kwargs: Any) -> Any:
        options = {k: kwargs.pop(k) for k in list(kwargs) if k not in _SYRUPY_CALL}
        if options:
            extension_class = _configured(extension_class or self.extension_class, options)
        return super().__call__(extension_class=extension_class, **kwargs)

    def with_defaults(self, *, extension_class: Any = None, **kwargs: Any) -> Any:
        """A new ``cdk_snapshot`` whose every assertion uses these options (syrupy's and CDK's)."""
        options = {k: kwargs.pop(k) for k in list(kwargs) if k not in _SYRUPY_DEFAULTS}
        if options:
            extension_class = _configured(extension_class or self.extension_class, options)
        return super().with_defaults(extension_class=extension_class, **kwargs)


_SYRUPY_CALL = frozenset({"diff", "diff_data", "exclude", "include", "matcher", "name"})
_SYRUPY_DEFAULTS = frozenset({"exclude", "include", "matcher"})


def _configured(extension_class: Any, options: dict[str, Any]) -> Any:
    if not (
        isinstance(extension_class, type)
        and issubclass(extension_class, CdkTemplateSnapshotExtension)
    ):
        raise TypeError(
            f"CDK options ({', '.join(sorted(options))}) need a CdkTemplateSnapshotExtension, "
            f"not {extension_class!r}"
        )
    return extension_class.with_options(**options)
