"""Shared fixtures. jsii work (synthesizing the example app) is done once per session."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

# jsii runs `node` from PATH; prefer the Node 24 that the project installs into its venv.
_venv_node = Path(sys.executable).with_name("node")
if "JSII_NODE" not in os.environ and _venv_node.exists():
    os.environ["JSII_NODE"] = str(_venv_node)
if not shutil.which("node") and _venv_node.exists():
    os.environ["PATH"] = f"{_venv_node.parent}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture(scope="session")
def example_templates() -> dict[str, dict[str, Any]]:
    """Every stack of the example app (bin/app.py), synthesized once, by stack name."""
    from aws_cdk import App

    from bin.app import build_app

    assembly = build_app(App()).synth()
    return {stack.stack_name: stack.template for stack in assembly.stacks}
