"""syrupy's snapshot assertion, taking the CDK options where it takes its own."""

from __future__ import annotations

from typing import Any

from syrupy.assertion import SnapshotAssertion

from .extension import CdkTemplateSnapshotExtension


class CdkSnapshotAssertion(SnapshotAssertion):  # type: ignore[misc]
    """``cdk_snapshot``: ``snapshot(...)`` and ``snapshot.with_defaults(...)`` accept the CDK
    options (``ignore_tags=True``, ``yaml=True`` ...) beside syrupy's own."""

    def __call__(self, *, extension_class: Any = None, **kwargs: Any) -> Any:
        _check_syrupy_options(kwargs)
        options = {k: kwargs.pop(k) for k in list(kwargs) if k not in _SYRUPY_CALL}
        if options:
            extension_class = _configured(extension_class or self.extension_class, options)
        return super().__call__(extension_class=extension_class, **kwargs)

    def with_defaults(self, *, extension_class: Any = None, **kwargs: Any) -> Any:
        """A new ``cdk_snapshot`` whose every assertion uses these options (syrupy's and CDK's)."""
        _check_syrupy_options(kwargs)
        options = {k: kwargs.pop(k) for k in list(kwargs) if k not in _SYRUPY_DEFAULTS}
        if options:
            extension_class = _configured(extension_class or self.extension_class, options)
        return super().with_defaults(extension_class=extension_class, **kwargs)

    def _assert(self, data: Any) -> bool:
        matched: bool = super()._assert(data)
        # syrupy reports any error of serializing as a failed comparison; bad input (an option
        # that does not fit the stack, an object that is no template) is raised as itself.
        failure = self._execution_results[self.num_executions - 1].exception
        if isinstance(failure, ValueError | TypeError):
            raise failure
        return matched


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


def _check_syrupy_options(kwargs: dict[str, Any]) -> None:
    # syrupy calls these while serializing and would report a wrong type as a failed snapshot.
    for name in ("exclude", "include", "matcher"):
        value = kwargs.get(name)
        if value is not None and not callable(value):
            raise TypeError(
                f"cdk_snapshot option {name} must be a function, such as syrupy.filters."
                f"{'props' if name != 'matcher' else 'path_type'}(...), got {value!r} "
                f"({type(value).__name__})"
            )
