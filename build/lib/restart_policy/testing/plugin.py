"""pytest plugin (entry point ``restart_policy``): the ``cdk_snapshot`` fixture.

Registered for every install of cdk-restart-policy, so it imports syrupy only when the fixture
is used; ``pip install cdk-restart-policy[testing]`` brings syrupy.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def cdk_snapshot(snapshot: Any) -> Any:
    """syrupy's ``snapshot`` with CDK template masking: ``assert stack == cdk_snapshot``."""
    from .extension import CdkTemplateSnapshotExtension

    return snapshot.use_extension(CdkTemplateSnapshotExtension)
