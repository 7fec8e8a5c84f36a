"""Snapshot testing of CDK templates (``pip install cdk-restart-policy[testing]``)."""

from __future__ import annotations

from typing import Any

from ._normalize import CdkSnapshotWarning, StackTemplate, normalize_template
from ._options import SnapshotOptions

__all__ = [
    "CdkSnapshotAssertion",
    "CdkSnapshotWarning",
    "CdkTemplateSnapshotExtension",
    "SnapshotOptions",
    "StackTemplate",
    "normalize_template",
]


try:  # syrupy comes with the [testing] extra; without it only normalize_template is usable
    from ._assertion import CdkSnapshotAssertion
    from .extension import CdkTemplateSnapshotExtension
except ImportError:  # pragma: no cover - exercised only without syrupy
    pass


def __getattr__(name: str) -> Any:
    # syrupy is only needed by the extension, not by normalize_template.
    if name == "CdkTemplateSnapshotExtension":
        from .extension import CdkTemplateSnapshotExtension

        return CdkTemplateSnapshotExtension
    if name == "CdkSnapshotAssertion":
        from ._assertion import CdkSnapshotAssertion

        return CdkSnapshotAssertion
    raise AttributeError(f"module 'restart_policy.testing' has no attribute {name!r}")
