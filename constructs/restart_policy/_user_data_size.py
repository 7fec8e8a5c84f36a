"""The size of user data as EC2 gets it, from its resolved CloudFormation value. Pure Python.

CDK renders user data as a string with tokens; ``MultipartUserData`` puts each part in
``Fn::Base64``, which a count of the rendered string misses (a token of a few bytes stands for a
part that grows by a third when encoded). Resolved, every shape is a tree of ``Fn::Join``,
``Fn::Base64`` and references whose size can be bounded.
"""

from __future__ import annotations

import json
import math

#: A reference whose value is only known at deploy time counts at the longest a CloudFormation
#: name can be (a log group name: 512).
REFERENCE_MAX = 512
# Pseudo parameters have short, known values.
_PSEUDO_MAX = {
    "AWS::AccountId": 12,
    "AWS::Region": 25,
    "AWS::Partition": 16,
    "AWS::URLSuffix": 32,
    "AWS::StackName": 128,
    "AWS::StackId": 256,
    "AWS::NoValue": 0,
}


def resolved_size(value: object) -> int:
    """Bytes of a resolved user-data value, each deploy-time value at its longest."""
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, bool):
        return len(json.dumps(value))
    if isinstance(value, int | float):
        return len(str(value))
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::Base64":
            return 4 * math.ceil(resolved_size(argument) / 3)
        if function == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
            separator, parts = argument
            if isinstance(separator, str) and isinstance(parts, list):
                sizes = [resolved_size(part) for part in parts]
                return sum(sizes) + len(separator.encode("utf-8")) * max(len(sizes) - 1, 0)
        if function == "Ref" and isinstance(argument, str):
            return _PSEUDO_MAX.get(argument, REFERENCE_MAX)
    return REFERENCE_MAX
