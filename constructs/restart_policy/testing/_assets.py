"""Finds asset hashes only where CDK's default synthesizer puts them.

A 64-hex string elsewhere (a pinned image digest, a checksum in user data, a user's output) is
the user's data and stays in the snapshot.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

_ACCOUNT = r"(?:\$\{AWS::AccountId\}|\d{12})"
_REGION = r"(?:\$\{AWS::Region\}|[a-z]{2}(?:-[a-z]+)+-\d)"
_HASH = r"([0-9a-f]{64})(?![0-9a-f])"
# The bootstrap stack's file bucket, alone as a value (a string or an Fn::Sub of one).
_BUCKET = re.compile(rf"^cdk-[a-z0-9]+-assets-{_ACCOUNT}-{_REGION}$")
# An object key in that bucket written into a longer string (s3:// or https:// URLs).
_BUCKET_OBJECT = re.compile(rf"cdk-[a-z0-9]+-assets-{_ACCOUNT}-{_REGION}/{_HASH}")
# An image in the bootstrap stack's repository: the tag is the asset hash.
_IMAGE_TAG = re.compile(rf"cdk-[a-z0-9]+-container-assets-{_ACCOUNT}-{_REGION}:{_HASH}")
_OBJECT_KEY = re.compile(rf"^/?{_HASH}")
# `aws:asset:path` metadata (written when the CLI asks for asset metadata).
_ASSET_PATH = re.compile(rf"^asset\.{_HASH}")


def asset_hashes(value: Any) -> Iterator[str]:
    """Every asset hash in ``value`` (a template or part of one), found by where it is."""
    if isinstance(value, str):
        for pattern in (_BUCKET_OBJECT, _IMAGE_TAG):
            for match in pattern.finditer(value):
                yield match.group(1)
    elif isinstance(value, list):
        for item in value:
            yield from asset_hashes(item)
    elif isinstance(value, dict):
        yield from _in_object(value)
        for item in value.values():
            yield from asset_hashes(item)


def _in_object(value: dict[str, Any]) -> Iterator[str]:
    path = value.get("aws:asset:path")
    if isinstance(path, str) and (match := _ASSET_PATH.match(path)):
        yield match.group(1)
    join = value.get("Fn::Join")
    if isinstance(join, list) and len(join) == 2 and isinstance(join[1], list):
        # ["https://s3.", region, ..., <bucket>, "/<hash>.json"]: the key follows the bucket.
        parts = join[1]
        for before, after in itertools.pairwise(parts):
            if _is_bucket(before) and isinstance(after, str):
                yield from _key_hash(after)
    buckets = [v for k, v in value.items() if "bucket" in k.lower()]
    if not buckets:
        return
    for key, item in value.items():
        if not key.endswith(("Key", "Keys")):
            continue
        if isinstance(item, str) and any(_is_bucket(b) for b in buckets):
            # {"S3Bucket": <bucket>, "S3Key": "<hash>.zip"} and its kin (Bucket/Key, ...).
            yield from _key_hash(item)
        elif isinstance(item, list):
            # BucketDeployment: SourceBucketNames[i] holds SourceObjectKeys[i].
            for index, key_item in enumerate(item):
                if isinstance(key_item, str) and any(
                    _is_bucket(b[index] if isinstance(b, list) and index < len(b) else b)
                    for b in buckets
                ):
                    yield from _key_hash(key_item)


def _is_bucket(value: Any) -> bool:
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        value = value["Fn::Sub"]
    return isinstance(value, str) and _BUCKET.match(value) is not None


def _key_hash(key: str) -> Iterator[str]:
    if match := _OBJECT_KEY.match(key):
        yield match.group(1)
