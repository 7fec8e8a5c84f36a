"""The host's with-secrets wrapper, run for real with a stand-in `aws` CLI: a fetch that fails
(throttled, denied, no network) must fail the program's start, never start it without its secret,
so that the back-off agent retries it like any failed start."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from restart_policy._host_files import _SECRETS_WRAPPER, SECRETS_LIST

PARAMETER = "arn:aws:ssm:eu-west-1:111122223333:parameter/app/db-password"
SECRET = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:db-AbCdEf"


def wrapper(tmp_path: Path, aws_body: str) -> tuple[list[str], dict[str, str]]:
    listing = tmp_path / "secrets.list"
    listing.write_text(f"app DB_PASSWORD {PARAMETER}\napp DB_USER {SECRET} username\n")
    assert SECRETS_LIST in _SECRETS_WRAPPER  # the stand-in path below replaces the host's
    script = tmp_path / "with-secrets"
    script.write_text(_SECRETS_WRAPPER.replace(SECRETS_LIST, str(listing)))
    script.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    aws = bin_dir / "aws"
    aws.write_text("#!/bin/sh\n" + aws_body)
    aws.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    program = ["sh", "-c", 'echo "started with $DB_PASSWORD/$DB_USER"']
    return [str(script), "app", *program], env


def test_the_program_starts_with_its_fetched_secrets(tmp_path: Path) -> None:
    command, env = wrapper(
        tmp_path,
        'case "$*" in *ssm*) echo s3cret ;; *) echo \'{"username": "svc"}\' ;; esac\n',
    )
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "started with s3cret/svc\n")


@pytest.mark.parametrize("failing", ["ssm", "secretsmanager"])
def test_a_throttled_fetch_fails_the_start_without_starting_the_program(
    tmp_path: Path, failing: str
) -> None:
    command, env = wrapper(
        tmp_path,
        f'case "$*" in *{failing}*)\n'
        '  echo "An error occurred (ThrottlingException): Rate exceeded" >&2; exit 254 ;;\n'
        "esac\n"
        'case "$*" in *ssm*) echo s3cret ;; *) echo \'{"username": "svc"}\' ;; esac\n',
    )
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "started" not in done.stdout
    assert "ThrottlingException" in done.stderr
