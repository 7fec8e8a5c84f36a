"""Masks what churns in a synthesized CloudFormation template, on plain JSON data."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

ASSET_HASH = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
_SSM_AMI_TYPE = "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
_LAMBDA_TYPES = ("AWS::Lambda::Function",)


def normalize_template(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``template`` in which only what matters to a reviewer stays.

    - ``BootstrapVersion`` / ``CheckBootstrapVersion`` and ``CDKMetadata`` are dropped: they
      move with the CDK version and the bootstrap stack, not with the app.
    - Asset hashes (64 hex digits in ``S3Key``, image tags, asset paths) become
      ``[ASSET_1]``, ``[ASSET_2]`` ... in order of first appearance, so that two assets stay told
      apart but new asset content does not change the snapshot.
    - SSM parameters that resolve AMI ids are renamed ``SsmAmiParameter1`` ... (their CDK names
      carry a hash that moves between CDK versions); every reference follows.
    - The ``Runtime`` of CDK's own singleton handlers (custom resource providers) becomes
      ``[CDK_HANDLER_RUNTIME]``: CDK upgrades it in minor releases.
    """
    data = copy.deepcopy(template)
    parameters = data.get("Parameters", {})
    parameters.pop("BootstrapVersion", None)
    rules = data.get("Rules", {})
    rules.pop("CheckBootstrapVersion", None)
    resources = data.get("Resources", {})
    resources.pop("CDKMetadata", None)
    data.get("Conditions", {}).pop("CDKMetadataAvailable", None)
    for section in ("Parameters", "Rules", "Conditions"):
        if section in data and not data[section]:
            del data[section]

    renames: dict[str, str] = {}
    for name in sorted(parameters):
        if parameters[name].get("Type") == _SSM_AMI_TYPE:
            renames[name] = f"SsmAmiParameter{len(renames) + 1}"
    if renames:
        data["Parameters"] = {renames.get(k, k): v for k, v in parameters.items()}

    for resource in resources.values():
        if resource.get("Type") in _LAMBDA_TYPES and _is_cdk_handler(resource):
            resource.get("Properties", {})["Runtime"] = "[CDK_HANDLER_RUNTIME]"

    hashes: dict[str, str] = {}

    def mask(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            found = match.group(0)
            if found not in hashes:
                hashes[found] = f"[ASSET_{len(hashes) + 1}]"
            return hashes[found]

        return renames.get(text, ASSET_HASH.sub(one, text))

    normalized: dict[str, Any] = _walk(data, mask)
    return normalized


def _is_cdk_handler(resource: dict[str, Any]) -> bool:
    path = str(resource.get("Metadata", {}).get("aws:cdk:path", ""))
    return "CustomResourceProvider" in path or "SingletonLambda" in path or "/Provider/" in path


def _walk(value: Any, mask: Callable[[str], str]) -> Any:
    if isinstance(value, dict):
        return {mask(key): _walk(item, mask) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [_walk(item, mask) for item in value]
    if isinstance(value, str):
        return mask(value)
    return value
