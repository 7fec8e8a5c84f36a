"""Finds and masks asset hashes only where CDK's default synthesizer puts them.

A 64-hex string elsewhere (a pinned image digest, a checksum in user data, a user's output, a
key in the user's own bucket) is the user's data and stays in the snapshot, even when it equals
an asset's hash: masking goes by location, never by value.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from typing import Any

_ACCOUNT = r"(?:\$\{AWS::AccountId\}|\d{12})"
_REGION = r"(?:\$\{AWS::Region\}|[a-z]{2}(?:-[a-z]+)+-\d)"
_HASH = r"([0-9a-f]{64})(?![0-9a-f])"
# The bootstrap stack's file bucket, alone as a value (a string or an Fn::Sub of one).
_BUCKET = re.compile(rf"^cdk-[a-z0-9]+-assets-{_ACCOUNT}-{_REGION}$")
# An object key in that bucket written into a longer string (s3:// or https:// URLs).
_BUCKET_OBJECT = re.compile(rf"(cdk-[a-z0-9]+-assets-{_ACCOUNT}-{_REGION}/){_HASH}")
# An image in the bootstrap stack's repository: the tag is the asset hash.
_IMAGE_TAG = re.compile(rf"(cdk-[a-z0-9]+-container-assets-{_ACCOUNT}-{_REGION}:){_HASH}")
_OBJECT_KEY = re.compile(rf"^(/?){_HASH}")
# Windows user data: Read-S3Object -BucketName '<bucket>' -key '<hash>.zip'.
_PS_KEY = re.compile(rf"^(' -key '){_HASH}")
# The file add_s3_download_command downloads to when not told: /tmp/<key> or C:/temp/<key>.
# It is returned to the caller, so the same path may sit in later commands of that user data.
_LOCAL_FILE = re.compile(rf"(?<![\w/.:])((?:/tmp|C:/temp)/){_HASH}")
# `aws:asset:path` metadata (written when the CLI asks for asset metadata).
_ASSET_PATH = re.compile(rf"^(asset\.){_HASH}")

#: What to write for a hash found at an asset location (the hash itself to keep it).
Replace = Callable[[str], str]


def asset_hashes(value: Any) -> Iterator[str]:
    """Every asset hash in ``value`` (a template or part of one), found by where it is."""
    found: list[str] = []

    def record(asset_hash: str) -> str:
        found.append(asset_hash)
        return asset_hash

    mask_assets(value, record)
    yield from found


def mask_assets(value: Any, replace: Replace) -> Any:
    """A copy of ``value`` with each hash at an asset location replaced by ``replace(hash)``."""
    if isinstance(value, str):
        for pattern in (_BUCKET_OBJECT, _IMAGE_TAG):
            value = pattern.sub(lambda m: m.group(1) + replace(m.group(2)), value)
        return value
    if isinstance(value, list):
        return [mask_assets(item, replace) for item in value]
    if isinstance(value, dict):
        masked = {key: mask_assets(item, replace) for key, item in value.items()}
        _in_object(value, masked, replace)
        return masked
    return value


def _in_object(value: dict[str, Any], masked: dict[str, Any], replace: Replace) -> None:
    path = value.get("aws:asset:path")
    if isinstance(path, str):
        masked["aws:asset:path"] = _sub(_ASSET_PATH, path, replace)
    join = value.get("Fn::Join")
    if isinstance(join, list) and len(join) == 2 and isinstance(join[1], list):
        # ["https://s3.", region, ..., <bucket>, "/<hash>.json"]: the key follows the bucket.
        parts = join[1]
        masked_parts = masked["Fn::Join"][1]
        keys: set[str] = set()
        for index, (before, after) in enumerate(itertools.pairwise(parts), start=1):
            if _is_bucket(before) and isinstance(after, str):
                match = _OBJECT_KEY.match(after) or _PS_KEY.match(after)
                if match:
                    keys.add(match.group(2))
                    masked_parts[index] = _sub(_OBJECT_KEY, _sub(_PS_KEY, after, replace), replace)
        if keys:
            # UserData.add_s3_download_command's own local path for the object it downloads.
            for index, part in enumerate(masked_parts):
                if isinstance(part, str):
                    masked_parts[index] = _LOCAL_FILE.sub(
                        lambda m: (
                            m.group(1) + replace(m.group(2)) if m.group(2) in keys else m.group(0)
                        ),
                        part,
                    )
    buckets = [v for k, v in value.items() if "bucket" in k.lower()]
    if not buckets:
        return
    for key, item in value.items():
        if not key.endswith(("Key", "Keys")):
            continue
        if isinstance(item, str) and any(_is_bucket(b) for b in buckets):
            # {"S3Bucket": <bucket>, "S3Key": "<hash>.zip"} and its kin (Bucket/Key, ...).
            masked[key] = _sub(_OBJECT_KEY, item, replace)
        elif isinstance(item, list):
            # BucketDeployment: SourceBucketNames[i] holds SourceObjectKeys[i].
            for index, key_item in enumerate(item):
                if isinstance(key_item, str) and any(
                    _is_bucket(b[index] if isinstance(b, list) and index < len(b) else b)
                    for b in buckets
                ):
                    masked[key][index] = _sub(_OBJECT_KEY, key_item, replace)


def _is_bucket(value: Any) -> bool:
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        value = value["Fn::Sub"]
    return isinstance(value, str) and _BUCKET.match(value) is not None


def _sub(pattern: re.Pattern[str], text: str, replace: Replace) -> str:
    return pattern.sub(lambda m: m.group(1) + replace(m.group(2)), text, count=1)
