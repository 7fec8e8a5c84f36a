"""pytest plugin (entry point ``restart_policy``): the ``cdk_snapshot`` fixture.

Registered for every install of cdk-restart-policy, so it imports syrupy only when the fixture
is used; ``pip install cdk-restart-policy[testing]`` brings syrupy.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def cdk_snapshot(snapshot: Any) -> Any:
    """syrupy's ``snapshot`` with CDK template masking: ``assert stack == cdk_snapshot``.

    Options go where syrupy's go: ``cdk_snapshot(ignore_tags=True, exclude=...)`` for one
    assertion, ``cdk_snapshot.with_defaults(yaml=True)`` for a fixture of your own.
    """
    from ._assertion import CdkSnapshotAssertion
    from .extension import CdkTemplateSnapshotExtension

    return CdkSnapshotAssertion(
        update_snapshots=snapshot.update_snapshots,
        update_new_snapshots_only=snapshot.update_new_snapshots_only,
        extension_class=CdkTemplateSnapshotExtension,
        test_location=snapshot.test_location,
        session=snapshot.session,
        include=snapshot.include,
        exclude=snapshot.exclude,
        matcher=snapshot.matcher,
    )
