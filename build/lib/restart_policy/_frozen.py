"""Immutability, equality and ``replace`` for the policy classes (plain Python)."""

from __future__ import annotations

from typing import Any, Self


class Frozen:
    """A value object: set once in ``__init__`` (through ``_freeze``), compared by value.

    Subclasses declare ``__slots__`` (``_given`` first: the arguments as given, which
    ``replace`` re-validates with the changes).
    """

    __slots__ = ()
    _given: dict[str, Any]

    def _freeze(self, given: dict[str, Any], **values: object) -> None:
        object.__setattr__(self, "_given", given)
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed, validated like a new object."""
        return type(self)(**{**self._given, **changes})

    def _key(self) -> tuple[object, ...]:
        names: tuple[str, ...] = type(self).__slots__
        return tuple(getattr(self, name) for name in names if name != "_given")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; use replace({name}=...)")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._key() == other._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._key())
