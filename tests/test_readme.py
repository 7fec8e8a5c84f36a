"""Every README code block runs as written, in a fresh folder outside this repository.

A user copies a block into a new project and runs it: so does this test. Python blocks run as
scripts; a block that defines a pytest test runs under pytest (twice: once to write its
snapshots, once to check them); a daemon block gets a real SIGTERM if it is still running.
Shell, Dockerfile and INI blocks are shown, not run (CI runs `make synth` and `make test`
itself). A failure names the block's heading.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# A cold jsii start on a loaded machine takes tens of seconds; a block that hangs is a defect.
BLOCK_TIMEOUT_SECONDS = 600
# A daemon block still running after this long is sent SIGTERM, as supervisor and ECS would.
DAEMON_GRACE_SECONDS = 3

RUN_LANGUAGES = {"python", "py"}
SHOWN_LANGUAGES = {"sh", "bash", "console", "shell", "dockerfile", "ini", "json", "text", ""}


@dataclass(frozen=True)
class Block:
    heading: str
    index: int
    language: str
    code: str
    line: int

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")
        return f"{slug}-{self.index}"


def readme_blocks() -> list[Block]:
    blocks: list[Block] = []
    heading = "top"
    counts: dict[str, int] = {}
    lines = README.read_text(encoding="utf-8").splitlines()
    number = 0
    while number < len(lines):
        line = lines[number]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("```"):
            language = line[3:].strip().lower()
            start = number + 1
            end = start
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            counts[heading] = counts.get(heading, 0) + 1
            blocks.append(
                Block(heading, counts[heading], language, "\n".join(lines[start:end]) + "\n", start)
            )
            number = end
        number += 1
    return blocks


BLOCKS = readme_blocks()
PYTHON_BLOCKS = [b for b in BLOCKS if b.language in RUN_LANGUAGES]


def clean_env(tmp_path: Path) -> dict[str, str]:
    """The user's shell: this venv on PATH, nothing pointing into the repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = os.environ.get("HOME", str(tmp_path))
    env["CDK_OUTDIR"] = str(tmp_path / "cdk.out")
    return env


def test_the_readme_has_python_blocks_to_run() -> None:
    assert len(PYTHON_BLOCKS) >= 5


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_every_block_has_a_known_language(block: Block) -> None:
    assert block.language in RUN_LANGUAGES | SHOWN_LANGUAGES, (
        f"README line {block.line} ({block.heading}): unknown block language {block.language!r}"
    )


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.id for b in PYTHON_BLOCKS])
def test_a_block_that_defines_a_stack_synthesizes_it(block: Block) -> None:
    defines_stack = re.search(r"^class \w+\((\w+\.)?Stack\)", block.code, re.M)
    if defines_stack:
        assert ".synth()" in block.code, (
            f"README line {block.line} ({block.heading}): a stack that is never synthesized "
            "proves nothing; end the block with app.synth()"
        )


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.id for b in PYTHON_BLOCKS])
def test_every_python_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    where = f"README line {block.line} ({block.heading})"
    env = clean_env(tmp_path)
    if re.search(r"^def test_", block.code, re.M):
        script = tmp_path / "test_readme_block.py"
        script.write_text(block.code, encoding="utf-8")
        for extra in (["--snapshot-update"], []):
            result = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=BLOCK_TIMEOUT_SECONDS,
                check=False,
            )
            assert result.returncode == 0, f"{where}:\n{result.stdout}\n{result.stderr}"
        return
    script = tmp_path / "readme_block.py"
    script.write_text(block.code, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stopped = False
    if "runtime.run(" in block.code:
        deadline = time.monotonic() + DAEMON_GRACE_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            stopped = True
    try:
        stdout, stderr = process.communicate(timeout=BLOCK_TIMEOUT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, f"{where} (stopped: {stopped}):\n{stdout}\n{stderr}"
