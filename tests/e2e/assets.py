"""A synthesized user data as the host runs it, and the S3 objects it downloads, served to the
chroot's stand-in ``aws`` (tests/e2e/aws) from the cloud assembly's asset files."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from tests.e2e.rootfs import Chroot

#: What the pseudo parameters are on the pretend host.
PSEUDO = {"AWS::AccountId": "123456789012", "AWS::Region": "eu-west-1", "AWS::Partition": "aws"}
_SUB = re.compile(r"\$\{([^}!]*)\}")
# The object the user data downloads: s3://BUCKET/KEY.
S3_SOURCE = re.compile(r"aws s3 cp --only-show-errors 's3://([^/']+)/([^']+)'")


def host_user_data(value: Any, refs: dict[str, str] | None = None) -> str:
    """``Fn::Base64``'s argument as a script, deploy-time values filled in: a ``Ref`` becomes
    ``refs[name]`` or a pseudo parameter's value, ``Fn::Sub`` (the assets bucket) is expanded."""
    names = {**PSEUDO, **(refs or {})}
    if isinstance(value, dict) and "Fn::Base64" in value:
        value = value["Fn::Base64"]
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return names.get(value["Ref"], f"<Ref:{value['Ref']}>")
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"]
        assert isinstance(text, str), value
        return _SUB.sub(lambda match: names[match.group(1)], text)
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(host_user_data(part, refs) for part in parts)
    raise ValueError(f"unexpected part in user data: {value!r}")


def agent_object(user_data: str) -> tuple[str, str]:
    """The bucket and key the user data downloads the back-off agent from."""
    (found,) = S3_SOURCE.finditer(user_data)
    return found.group(1), found.group(2)


def serve_assets(host: Chroot, user_data: str, assembly: Path) -> Path:
    """Puts the agent's asset file of ``assembly`` (a cloud assembly folder) where the stand-in
    ``aws s3 cp`` finds the object the user data names; returns the file served."""
    bucket, key = agent_object(user_data)
    asset_hash = key.removesuffix(".py")
    source = assembly / f"asset.{asset_hash}.py"
    if not source.is_file():  # staged as a folder holding the file
        (source,) = (assembly / f"asset.{asset_hash}").glob("*.py")
    target = host.path(f"/srv/fake-s3/{bucket}/{key}")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    return source
