"""CloudFormation's coercions, in one place: the rules see the values CloudFormation would use.

CloudFormation accepts ``"true"``/``"false"`` for a Boolean property and a numeric string for
an Integer or Double one (an L1 ``add_property_override`` with a string, a template written by
hand), so judging the raw JSON would fail a setting ECS receives as intended.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: Properties of the judged resource types (AWS::ECS::Service, AWS::ECS::TaskDefinition,
#: AWS::Logs::LogGroup) that CloudFormation types as Boolean.
BOOLEANS = frozenset(
    {"Enable", "Rollback", "ResetOnHealthyTask", "Enabled", "Essential", "Privileged"}
)
#: ... as Integer.
INTEGERS = frozenset(
    {
        "Value",
        "RestartAttemptPeriod",
        "StopTimeout",
        "StartTimeout",
        "MinimumHealthyPercent",
        "MaximumPercent",
        "RetentionInDays",
        "DesiredCount",
        "Weight",
        "Base",
    }
)
#: ... as a list of Integer.
INTEGER_LISTS = frozenset({"IgnoredExitCodes"})

_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def coerce_boolean(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def coerce_number(value: object) -> object:
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        number = float(value)
        return int(number) if number.is_integer() else number
    return value


def coerced(value: Any, key: str | None = None) -> Any:
    """``value`` (a resource's properties) with every known Boolean and number as CloudFormation
    reads it; intrinsic functions and unknown keys are left as they are."""
    if isinstance(value, Mapping):
        return {name: coerced(item, str(name)) for name, item in value.items()}
    if isinstance(value, list):
        if key in INTEGER_LISTS:
            return [coerce_number(item) for item in value]
        return [coerced(item) for item in value]
    if key in BOOLEANS:
        return coerce_boolean(value)
    if key in INTEGERS:
        return coerce_number(value)
    return value
