"""CDK's own Lambda handlers, known by their construct path.

CDK picks the runtime of the handlers it adds (custom-resource providers, singleton functions,
the Provider framework) and raises it in minor releases. A user's own function at any other path
keeps its runtime in the snapshot. The ids are those aws-cdk-lib 2.x gives these constructs
(from its source); a handler missing here only shows churn, it never hides a user's change.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

# `CustomResourceProvider.getOrCreate(stack, uniqueid)` adds `<uniqueid>CustomResourceProvider`
# under the stack, with its function at `.../Handler`.
_PROVIDER_IDS = frozenset(
    f"{uniqueid}CustomResourceProvider"
    for uniqueid in (
        "Custom::S3AutoDeleteObjects",
        "Custom::ECRAutoDeleteImages",
        "Custom::SyntheticsAutoDeleteUnderlyingResources",
        "Custom::VpcRestrictDefaultSG",
        "Custom::CrossRegionExportWriter",
        "Custom::CrossRegionExportReader",
        "Custom::CrossRegionStringParameterReader",
        "Custom::CrossAccountZoneDelegation",
        "Custom::DeleteExistingRecordSet",
        "Custom::AWSCDKOpenIdConnectProvider",
        "AWSCDKCfnUtilsProvider",
        "AWSCDK.TriggerCustomResourceProvider",
    )
)

# `SingletonFunction` adds `<lambdaPurpose><uuid without dashes>` under the stack, with its
# function at `.../Resource`; BucketDeployment appends its memory/VPC settings to the uuid.
_SINGLETON_PREFIXES = (
    "AWS679f53fac002430cb0da5b7982bd2287",  # custom_resources.AwsCustomResource
    "LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a",  # log_retention of functions
    "Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C",  # s3_deployment
    "BucketNotificationsHandler050a0587b7544547bf325f094a3db834",  # S3 event notifications
    "AWSb4cf1abd4e4f4bc699441af7ccd9ec37",  # events_targets.AwsApi
    "CrossRegionAwsSdk8a0c93f3dbef4b71ac137aaf2048ce7e",  # stepfunctions_tasks cross-region
    "SingletonLambda224e77f9a32e4b4dac32983477abba16",  # ses DropSpamReceiptRule
)

# custom_resources.Provider adds these functions under the user's Provider construct.
_FRAMEWORK_IDS = frozenset({"framework-onEvent", "framework-isComplete", "framework-onTimeout"})


def is_cdk_handler_path(path: str) -> bool:
    """Whether the construct path of a Lambda function resource is one of CDK's own handlers."""
    parts = path.split("/")
    if len(parts) < 2:
        return False
    parent, leaf = parts[-2], parts[-1]
    if leaf == "Handler":
        return parent in _PROVIDER_IDS
    if leaf == "Resource":
        return parent in _FRAMEWORK_IDS or parent.startswith(_SINGLETON_PREFIXES)
    return False


def known_handler_logical_ids() -> frozenset[str]:
    """The logical ids CDK gives its handlers directly under a stack (computed from the paths).

    A template synthesized without path metadata (a plain ``App()``) still names these.
    """
    return _KNOWN_LOGICAL_IDS


def logical_id(components: Iterable[str]) -> str:
    """CDK's logical id of the construct at ``components`` (its path below the stack)."""
    parts = [part for part in components if part != "Default"]
    if len(parts) == 1:
        return _alphanumeric(parts[0])
    digest = hashlib.md5("/".join(parts).encode(), usedforsecurity=False).hexdigest()
    deduplicated: list[str] = []
    for part in parts:
        if not deduplicated or not deduplicated[-1].endswith(part):
            deduplicated.append(part)
    human = "".join(_alphanumeric(part) for part in deduplicated if part != "Resource")
    return human[:240] + digest[:8].upper()


def _alphanumeric(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", text)


_KNOWN_LOGICAL_IDS = frozenset(
    [logical_id([provider, "Handler"]) for provider in _PROVIDER_IDS]
    + [logical_id([singleton, "Resource"]) for singleton in _SINGLETON_PREFIXES]
)
