"""Masks what churns in a synthesized CloudFormation template, on plain JSON data.

Masking goes by location (where CDK writes a hash), never by shape: a 64-hex string anywhere
else is the user's data and stays in the snapshot.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._assets import asset_hashes, mask_assets
from ._cdk_handlers import is_cdk_handler_path, known_handler_logical_ids
from ._cdk_handlers import logical_id as _path_id
from ._options import SnapshotOptions

#: The key under which nested stacks' templates sit in a snapshot, by construct path.
NESTED_STACKS = "NestedStacks"
CDK_HANDLER_RUNTIME = "[CDK_HANDLER_RUNTIME]"

_CURRENT_VERSION = re.compile(r"^(.+CurrentVersion[0-9A-F]{8})[0-9a-f]{32}$")
_INIT_FINGERPRINT = re.compile(r"(^|\n)(# fingerprint: )[0-9a-f]{16}(?=\n|$)")
# What CDK puts in a template when a context lookup has no value yet: the dummy values of
# aws-cdk-lib 2.275's context providers (read from its source, by lookup).
_DUMMY_VALUES = frozenset(
    {
        # Stack.availability_zones, and the VPC endpoint service's zones
        "dummy1a",
        "dummy1b",
        "dummy1c",
        # ec2.Vpc.from_lookup
        "vpc-12345",
        "s-12345",
        "s-67890",
        "p-12345",
        "p-67890",
        "rtb-12345s",
        "rtb-67890s",
        "rtb-12345p",
        "rtb-57890p",
        "1.2.3.4/5",
        # ec2.MachineImage.lookup
        "ami-1234",
        # ec2.SecurityGroup.from_lookup_by_name / _by_id / _by_filters
        "sg-12345678",
        # ec2.PrefixList.from_lookup
        "pl-xxxxxxxx",
        # elbv2 load balancer and listener from_lookup
        "sg-1234",
        "sg-123456789012",
        "Z3DZXE0EXAMPLE",
        "my-load-balancer-123456789012.us-west-2.elb.amazonaws.com",
        # iam.Role.from_lookup, ecr.Repository.from_lookup (the name in the dummy ARN)
        "DUMMY_ARN",
        # rds.DatabaseInstance / DatabaseCluster.from_lookup
        "TESTARN",
        "TESTADDRESS",
        "TESTREADERADDRESS",
    }
)
# Found inside a longer string too (an ARN, or a part of an Fn::Join that builds one).
_DUMMY_PARTS = (
    "dummy-value-for-",  # ssm.StringParameter.value_from_lookup
    "1234abcd-12ab-34cd-56ef-1234567890ab",  # kms.Key.from_lookup
    "/my-load-balancer/50dc6c495c0c9188",  # elbv2 load balancer and listener from_lookup
    ":role/DUMMY_ARN",
    ":repository/DUMMY_ARN",
)
# route53.HostedZone.from_lookup's dummy id is "DUMMY": a word users write too, so it counts
# only where a hosted zone id goes. (rds lookups' "TEST" and "TESTID" are not looked for.)
_DUMMY_ZONE = "DUMMY"


class CdkSnapshotWarning(UserWarning):
    """A snapshot records something that is not the real stack (dummy values of lookups)."""


@dataclass(frozen=True)
class StackTemplate:
    """A template with what the dict alone cannot tell: construct paths and nested stacks."""

    template: Mapping[str, Any]
    #: Construct path of each resource, by logical id (else read from ``aws:cdk:path``).
    paths: Mapping[str, str] = field(default_factory=dict)
    #: Each nested stack's template, by the nested stack's construct path.
    nested: Mapping[str, StackTemplate] = field(default_factory=dict)
    #: The construct paths of the assets (``s3_assets.Asset``, ``DockerImageAsset``) with each
    #: asset hash; an asset not here is named after a resource that uses it.
    assets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def normalize_template(
    template: Mapping[str, Any] | StackTemplate,
    options: SnapshotOptions | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """A copy of ``template`` with only what CDK churns masked; options as keyword arguments.

    - ``CDKMetadata`` is dropped, and (``ignore_bootstrap_version``) the ``BootstrapVersion``
      parameter and ``CheckBootstrapVersion`` rule.
    - (``ignore_assets``) Asset hashes become ``[ASSET <construct path>]`` where CDK puts them:
      ``S3Key`` next to an asset bucket, the object key after the bucket in a URL (nested
      stacks' ``TemplateURL``), the tag after ``container-assets-...:``, ``aws:asset:path``,
      and ``add_s3_download_command``'s ``/tmp/<key>`` in the same user data. One hash has one
      name at all of these, in the stack and its nested stacks; the same 64 hex digits
      anywhere else are the user's and stay.
      Also the hashes CDK derives from asset URLs: the 16 hex digits appended to an
      ``ec2.Instance``'s logical id and the ``# fingerprint:`` of ``CloudFormationInit``.
    - (``ignore_current_version``) ``<fn>CurrentVersion<8 hex><32 hex>`` logical ids lose the
      32 hex digits (which follow the code), in every reference too; so does an API Gateway
      deployment's logical id (its hash covers the API's model, version ids included).
    - The ``Runtime`` of CDK's own handlers, known by construct path, is ``[CDK_HANDLER_RUNTIME]``.
    - Nested stacks (given in a ``StackTemplate``) are under ``NestedStacks``, by construct path.
    """
    options = SnapshotOptions.of(options, **changes)
    if isinstance(template, StackTemplate):
        stack = template
    elif isinstance(template, Mapping):
        stack = StackTemplate(template)
    else:
        raise TypeError(
            f"cannot normalize a {type(template).__name__} as a CloudFormation template: give "
            "the template as a dict or a StackTemplate"
        )
    found_types: set[str] = set()
    found_keys: set[str] = set()
    dummies: list[str] = []
    names = _asset_names(stack, options) if options.ignore_assets else {}
    result = _normalize(stack, options, names, found_types, found_keys, dummies, "")
    _check_subsets(options, found_types, found_keys)
    if dummies:
        shown = ", ".join(dummies[:5]) + (
            f" and {len(dummies) - 5} more" if len(dummies) > 5 else ""
        )
        warnings.warn(
            CdkSnapshotWarning(
                f"the template holds CDK's dummy values for context lookups that had no value "
                f"({shown}): the snapshot records placeholders, not your stack. Synthesize once "
                "with credentials (`cdk synth` fills cdk.context.json) or give the context to "
                "App(context=...), then update the snapshot."
            ),
            stacklevel=2,
        )
    return result


def _normalize(
    stack: StackTemplate,
    options: SnapshotOptions,
    names: Mapping[str, str],
    found_types: set[str],
    found_keys: set[str],
    dummies: list[str],
    where: str,
) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(dict(stack.template))
    resources: dict[str, Any] = data.get("Resources", {})
    paths = _paths_of(stack)
    nested_resources = [
        logical_id
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::CloudFormation::Stack"
        and any(True for _ in asset_hashes(resource.get("Properties", {}).get("TemplateURL")))
    ]
    _find_dummies(data, where, dummies)
    _drop_cdk_plumbing(data, options)

    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        path = paths.get(logical_id)
        if is_cdk_handler_path(path) if path else logical_id in known_handler_logical_ids():
            resource.setdefault("Properties", {})["Runtime"] = CDK_HANDLER_RUNTIME

    version_ids = _version_ids(resources, paths, options)
    renames: dict[str, str] = dict(version_ids)
    if options.ignore_assets:
        renames.update(_hash_suffixed_ids(resources, paths, "AWS::EC2::Instance", 16))
        # By location only: the same 64 hex digits in a user's value stay as they are.
        data = mask_assets(data, lambda found: names.get(found, found))
        resources = data.get("Resources", {})
        if any("AWS::CloudFormation::Init" in r.get("Metadata", {}) for r in resources.values()):
            for resource in resources.values():
                _mask_init_fingerprint(resource.get("Properties", {}))

    found_types.update(str(r.get("Type")) for r in resources.values())
    found_keys.update(resources)
    found_keys.update(version_ids.values())
    if options.subset_resource_types is not None and "Resources" in data:
        wanted = set(options.subset_resource_types)
        data["Resources"] = {k: r for k, r in resources.items() if r.get("Type") in wanted}
    if options.subset_resource_keys is not None and "Resources" in data:
        keys = set(options.subset_resource_keys)
        data["Resources"] = {
            k: r
            for k, r in data.get("Resources", {}).items()
            if k in keys or version_ids.get(k) in keys
        }

    if options.ignore_metadata:
        data.pop("Metadata", None)
        for resource in data.get("Resources", {}).values():
            resource.pop("Metadata", None)
    if options.ignore_tags:
        for resource in data.get("Resources", {}).values():
            resource.get("Properties", {}).pop("Tags", None)

    result: dict[str, Any] = _rename(data, renames)
    if len(nested_resources) > len(stack.nested):
        warnings.warn(
            CdkSnapshotWarning(
                f"{where}the nested stacks {', '.join(nested_resources)} are not in the snapshot: "
                "a change inside them would pass. Snapshot the Stack object, not its template."
            ),
            stacklevel=3,
        )
    if stack.nested:
        result[NESTED_STACKS] = {
            path: _normalize(nested, options, names, found_types, found_keys, dummies, f"{path}: ")
            for path, nested in sorted(stack.nested.items())
        }
    return result


def _drop_cdk_plumbing(data: dict[str, Any], options: SnapshotOptions) -> None:
    resources = data.get("Resources", {})
    if resources.get("CDKMetadata", {}).get("Type") == "AWS::CDK::Metadata":
        del resources["CDKMetadata"]
        data.get("Conditions", {}).pop("CDKMetadataAvailable", None)
    if options.ignore_bootstrap_version:
        parameter = data.get("Parameters", {}).get("BootstrapVersion", {})
        if str(parameter.get("Default", "")).startswith("/cdk-bootstrap/"):
            del data["Parameters"]["BootstrapVersion"]
            data.get("Rules", {}).pop("CheckBootstrapVersion", None)
    for section in ("Parameters", "Rules", "Conditions"):
        if section in data and not data[section]:
            del data[section]


def _paths_of(stack: StackTemplate) -> dict[str, str]:
    resources = stack.template.get("Resources", {})
    return dict(stack.paths) or {
        logical_id: str(resource.get("Metadata", {}).get("aws:cdk:path"))
        for logical_id, resource in resources.items()
        if isinstance(resource, dict) and "aws:cdk:path" in resource.get("Metadata", {})
    }


def _version_ids(
    resources: Mapping[str, Any], paths: Mapping[str, str], options: SnapshotOptions
) -> dict[str, str]:
    version_ids: dict[str, str] = {}
    if options.ignore_current_version:
        for logical_id, resource in resources.items():
            match = _CURRENT_VERSION.match(logical_id)
            if match and resource.get("Type") == "AWS::Lambda::Version":
                version_ids[logical_id] = f"{match.group(1)}[HASH]"
        version_ids.update(_hash_suffixed_ids(resources, paths, "AWS::ApiGateway::Deployment", 32))
    return version_ids


def _stacks(stack: StackTemplate) -> list[StackTemplate]:
    # The parent first, then its nested stacks by construct path, depth first.
    found = [stack]
    for _, nested in sorted(stack.nested.items()):
        found.extend(_stacks(nested))
    return found


def _asset_names(top: StackTemplate, options: SnapshotOptions) -> dict[str, str]:
    """One name for each asset hash of the stack and its nested stacks (the same hash in a
    parent and a nested stack gets the same name; two hashes never share one).

    An asset made by the user (an ``s3_assets.Asset``, a ``DockerImageAsset``) is named after
    its own construct path. One that CDK makes under the first construct it is bound to (a
    function's ``Code``, a container's ``AssetImage``) moves when a new user is defined first,
    so it is named after the smallest path among its users and those places. Any other is
    named after the first resource that uses it, by sorted path.
    """
    stacks = _stacks(top)
    own: dict[str, set[str]] = {}
    for stack in stacks:
        for found, made in stack.assets.items():
            own.setdefault(found, set()).update(made)
    owners = [owner for stack in stacks for owner in _owners(stack, options)]
    users: dict[str, set[str]] = {}
    for owner, value, is_resource in owners:
        if is_resource:
            for found in asset_hashes(value):
                users.setdefault(found, set()).add(owner)
    bases: list[tuple[str, str]] = []
    for found, asset_paths in own.items():
        made_by_user = [path for path in asset_paths if not path.endswith(_BOUND_ASSET_IDS)]
        if made_by_user:
            bases.append((min(made_by_user), found))
            continue
        places = {path.rsplit("/", 1)[0] for path in asset_paths}
        # A task definition holds its containers' images: named after the container instead.
        places.update(
            user
            for user in users.get(found, ())
            if not any(path.startswith(user + "/") for path in asset_paths)
        )
        bases.append((min(places), found))
    names: dict[str, str] = {}
    used: set[str] = set()

    def claim(found: str, base: str) -> None:
        name, count = f"[ASSET {base}]", 1
        while name in used:
            count += 1
            name = f"[ASSET {base} #{count}]"
        names[found] = name
        used.add(name)

    for base, found in sorted(bases):
        claim(found, base)
    for owner, value, _ in owners:
        for found in asset_hashes(value):
            if found not in names:
                claim(found, owner)
    return names


# The ids CDK gives the asset it makes for a function's code and a container's image.
_BOUND_ASSET_IDS = ("/Code", "/AssetImage")


def _owners(stack: StackTemplate, options: SnapshotOptions) -> list[tuple[str, Any, bool]]:
    data = stack.template
    resources: Mapping[str, Any] = data.get("Resources", {})
    paths = _paths_of(stack)
    id_renames = _version_ids(resources, paths, options)
    id_renames.update(_hash_suffixed_ids(resources, paths, "AWS::EC2::Instance", 16))
    owners: list[tuple[str, Any, bool]] = []
    for logical_id in sorted(resources, key=lambda lid: paths.get(lid, id_renames.get(lid, lid))):
        path = paths.get(logical_id)
        # CDK leaves "Resource" and "Default" out of ids for people too.
        owner = (
            path.removesuffix("/Resource").removesuffix("/Default")
            if path
            else id_renames.get(logical_id, logical_id)
        )
        owners.append((owner, resources[logical_id], True))
    for section in sorted(set(data) - {"Resources"}):
        owners.append((section, data[section], False))
    return owners


def _hash_suffixed_ids(
    resources: Mapping[str, Any], paths: Mapping[str, str], resource_type: str, digits: int
) -> dict[str, str]:
    """Resources of ``resource_type`` whose logical id CDK suffixes with ``digits`` hex digits.

    An instance (``user_data_causes_replacement``, ``init``) gets a hash of its user data and
    init config, which follow asset URLs; an API Gateway deployment a hash of the API's model,
    which holds ``current_version`` ids. What was hashed stays compared in its own place.
    """
    suffixed = re.compile(rf"^([A-Za-z0-9]*[0-9A-F]{{8}})[0-9a-f]{{{digits}}}$")
    renames: dict[str, str] = {}
    for logical_id, resource in resources.items():
        match = suffixed.match(logical_id)
        if not match or resource.get("Type") != resource_type:
            continue
        path = paths.get(logical_id)
        if path is not None:
            # The id without the suffix must be the one CDK gives the path below some stack.
            parts = path.split("/")
            if not any(_path_id(parts[k:]) == match.group(1) for k in range(1, len(parts))):
                continue
        renames[logical_id] = f"{match.group(1)}[HASH]"
    return renames


def _mask_init_fingerprint(value: Any) -> Any:
    # CloudFormationInit writes "# fingerprint: <16 hex>" of its config (asset URLs included)
    # into user data, so that instances are replaced when it changes.
    if isinstance(value, dict):
        for key, inner in value.items():
            value[key] = _mask_init_fingerprint(inner)
    elif isinstance(value, list):
        value[:] = [_mask_init_fingerprint(inner) for inner in value]
    elif isinstance(value, str):
        return _INIT_FINGERPRINT.sub(r"\1\2[HASH]", value)
    return value


def _rename(value: Any, renames: Mapping[str, str]) -> Any:
    if not renames:
        return _sorted(value)
    # Whole tokens only: an id or hash is never part of a longer word of the same alphabet.
    pattern = re.compile(
        r"(?<![A-Za-z0-9])("
        + "|".join(map(re.escape, sorted(renames, key=len, reverse=True)))
        + r")(?![A-Za-z0-9])"
    )

    def text(found: str) -> str:
        return pattern.sub(lambda match: renames[match.group(1)], found)

    def walk(item: Any) -> Any:
        if isinstance(item, dict):
            return {text(key): walk(inner) for key, inner in sorted(item.items())}
        if isinstance(item, list):
            return [walk(inner) for inner in item]
        if isinstance(item, str):
            return text(item)
        return item

    return walk(value)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(inner) for key, inner in sorted(value.items())}
    if isinstance(value, list):
        return [_sorted(inner) for inner in value]
    return value


def _find_dummies(value: Any, where: str, found: list[str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _find_dummies(inner, f"{where}{key}.", found)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _find_dummies(inner, f"{where}{index}.", found)
    elif isinstance(value, str) and (
        value in _DUMMY_VALUES
        or any(part in value for part in _DUMMY_PARTS)
        or (value == _DUMMY_ZONE and _in_zone_id(where))
    ):
        found.append(f"{value!r} at {where.rstrip('.')}")


def _in_zone_id(where: str) -> bool:
    # "Resources.Record.Properties.HostedZoneId." or ".AliasTarget.HostedZoneId." and kin.
    keys = [key for key in where.rstrip(".").split(".") if not key.isdigit()]
    return bool(keys) and keys[-1].endswith("ZoneId")


def _check_subsets(options: SnapshotOptions, found_types: set[str], found_keys: set[str]) -> None:
    missing_types = [t for t in options.subset_resource_types or () if t not in found_types]
    if missing_types:
        raise ValueError(
            f"cdk_snapshot option subset_resource_types: no resource of type "
            f"{', '.join(map(repr, missing_types))} in the stack (its types: "
            f"{', '.join(sorted(found_types)) or 'none'}); mend the type or leave it out"
        )
    missing_keys = [k for k in options.subset_resource_keys or () if k not in found_keys]
    if missing_keys:
        raise ValueError(
            f"cdk_snapshot option subset_resource_keys: no resource with logical id "
            f"{', '.join(map(repr, missing_keys))} in the stack (its ids: "
            f"{', '.join(sorted(found_keys)) or 'none'}); mend the id or leave it out"
        )
