"""The size of user data as EC2 gets it, from its resolved CloudFormation value. Pure Python.

CDK renders user data as a string with tokens; ``MultipartUserData`` puts each part in
``Fn::Base64``, which a count of the rendered string misses (a token of a few bytes stands for a
part that grows by a third when encoded). Resolved, every shape is a tree of ``Fn::Join``,
``Fn::Base64`` and references whose size can be bounded.
"""

from __future__ import annotations

import json
import math
import re

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
#: An S3 bucket name has at most 63 characters (the back-off agent's asset bucket).
#: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
BUCKET_NAME_MAX = 63
REGION_MAX = _PSEUDO_MAX["AWS::Region"]
_SUB_VARIABLE = re.compile(r"\$\{(!?)([^}]*)\}")


#: Deploy-time values that are references: counted at their longest, so measured.
_REFERENCES = {"Ref", "Fn::GetAtt", "Fn::ImportValue"}


def resolved_size(value: object, unmeasured: list[str] | None = None) -> int:
    """Bytes of a resolved user-data value, each deploy-time value at its longest. Functions
    that are not references (``Fn::If``, ``Fn::Select``...) count as one reference too, though
    they may stand for more: their names are added to ``unmeasured`` when it is given."""
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, bool):
        return len(json.dumps(value))
    if isinstance(value, int | float):
        return len(str(value))
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::Base64":
            return 4 * math.ceil(resolved_size(argument, unmeasured) / 3)
        if function == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
            separator, parts = argument
            if isinstance(separator, str) and isinstance(parts, list):
                sizes = [resolved_size(part, unmeasured) for part in parts]
                return sum(sizes) + len(separator.encode("utf-8")) * max(len(sizes) - 1, 0)
        if function == "Ref" and isinstance(argument, str):
            return _PSEUDO_MAX.get(argument, REFERENCE_MAX)
        if function == "Fn::Sub":
            return _sub_size(argument, unmeasured)
        if unmeasured is not None and function not in _REFERENCES:
            unmeasured.append(function)
    return REFERENCE_MAX


def _sub_size(argument: object, unmeasured: list[str] | None) -> int:
    """``Fn::Sub``'s text with each ``${...}`` at its longest (the asset bucket's name is
    ``cdk-...-assets-${AWS::AccountId}-${AWS::Region}``)."""
    variables: dict[str, object] = {}
    if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
        argument, variables = argument
    if not isinstance(argument, str):
        return REFERENCE_MAX
    size = 0
    position = 0
    for match in _SUB_VARIABLE.finditer(argument):
        size += len(argument[position : match.start()].encode("utf-8"))
        position = match.end()
        literal, name = match.groups()
        if literal:
            size += len(name.encode("utf-8")) + 3  # ${!x} is written as ${x}
        elif name in variables:
            size += resolved_size(variables[name], unmeasured)
        else:
            size += _PSEUDO_MAX.get(name, REFERENCE_MAX)
    return size + len(argument[position:].encode("utf-8"))
