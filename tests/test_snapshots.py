"""Snapshots of every stack of the example app, through the library's own CDK extension."""

from __future__ import annotations

from typing import Any

import pytest

from bin.app import STACKS


@pytest.mark.parametrize("stack_name", STACKS)
def test_example_stack_snapshot(
    stack_name: str, example_templates: dict[str, dict[str, Any]], cdk_snapshot: Any
) -> None:
    assert example_templates[stack_name] == cdk_snapshot
