"""Snapshot testing of CDK templates (``pip install cdk-restart-policy[testing]``)."""

from __future__ import annotations

from ._normalize import normalize_template

__all__ = ["CdkTemplateSnapshotExtension", "normalize_template"]


def __getattr__(name: str) -> object:
    # syrupy is only needed by the extension, not by normalize_template.
    if name == "CdkTemplateSnapshotExtension":
        from .extension import CdkTemplateSnapshotExtension

        return CdkTemplateSnapshotExtension
    raise AttributeError(f"module 'restart_policy.testing' has no attribute {name!r}")
