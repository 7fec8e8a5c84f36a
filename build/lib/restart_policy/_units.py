"""Conversion of CDK ``Duration``/``Size`` (or plain numbers) into plain seconds and bytes.

This module never imports ``aws_cdk``: daemons import the policy model on hosts without CDK.
A value can only be a CDK token if ``aws_cdk`` is already loaded, so it is looked up in
``sys.modules`` instead of being imported.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

if TYPE_CHECKING:
    from aws_cdk import Duration, Size

    DurationLike: TypeAlias = Duration | int | float
    SizeLike: TypeAlias = Size | int
else:  # pragma: no cover - only the annotations differ
    DurationLike = Any
    SizeLike = Any


@runtime_checkable
class _HasSeconds(Protocol):
    def to_seconds(self, *, integral: bool | None = None) -> float: ...


@runtime_checkable
class _HasBytes(Protocol):
    def to_bytes(self, *, rounding: Any = None) -> float: ...


def is_unresolved(value: object) -> bool:
    """True for a CDK token (a value only known at deploy time)."""
    cdk = sys.modules.get("aws_cdk")
    if cdk is None:
        return False
    # Each Token.is_unresolved is a round trip to the jsii kernel; the library asks it for every
    # number it judges. CDK encodes a number token as a huge negative double (about -1.9e289)
    # and a string token as "${Token[...]}", so plain values are told apart here for nothing.
    if isinstance(value, bool | int):
        return False
    if isinstance(value, float) and value > -1e288:
        return False
    if isinstance(value, str) and "Token[" not in value:
        return False
    return bool(cdk.Token.is_unresolved(value))


class UnitError(Exception):
    """A value is not of the expected kind; carries the reason and the fix."""

    def __init__(self, reason: str, fix: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


def to_seconds(value: object) -> float:
    """Seconds from a ``Duration`` or a plain number of seconds; tokens come back as is."""
    if isinstance(value, bool):
        raise UnitError(
            "is a boolean, not a duration", "give a Duration, e.g. Duration.seconds(120)"
        )
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value) and not is_unresolved(value):
            raise UnitError("is not a finite number", "give a Duration, e.g. Duration.seconds(120)")
        return float(value)
    if isinstance(value, _HasSeconds):
        try:
            return float(value.to_seconds(integral=False))
        except Exception as exc:  # jsii raises plain Exceptions for token durations
            raise UnitError(
                f"cannot be read as seconds ({exc})",
                "give Duration.seconds(...) for values only known at deploy time",
            ) from None
    raise UnitError(
        f"is a {type(value).__name__}, not a duration",
        "give a Duration, e.g. Duration.seconds(120), or a number of seconds",
    )


def to_bytes(value: object) -> float:
    """Bytes from a ``Size`` or a plain number of bytes; tokens come back as is."""
    if isinstance(value, bool):
        raise UnitError("is a boolean, not a size", "give a Size, e.g. Size.mebibytes(5)")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, _HasBytes):
        try:
            return float(value.to_bytes())
        except Exception as exc:
            raise UnitError(
                f"cannot be read as bytes ({exc})", "give a Size, e.g. Size.mebibytes(5)"
            ) from None
    raise UnitError(
        f"is a {type(value).__name__}, not a size",
        "give a Size, e.g. Size.mebibytes(5), or a number of bytes",
    )


def describe_seconds(seconds: float) -> str:
    if is_unresolved(seconds):
        return "a deploy-time token"
    if seconds == int(seconds):
        return f"{int(seconds)} seconds"
    return f"{seconds} seconds"
