"""The one error type of the library and the collector that reports all problems at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


class PolicyError(ValueError):
    """A restart or log policy, a program or a construct prop breaks the policy or a platform limit.

    The message names where (construct path or object), which field, the value given and the fix.
    It lists every problem found in one place, so that one run shows everything to mend.
    """


@dataclass(frozen=True)
class Problem:
    field: str
    value: object
    reason: str
    fix: str

    def render(self) -> str:
        return f"{self.field}={self.value!r}: {self.reason}. Fix: {self.fix}."


@dataclass
class Problems:
    """Collects problems so that one ``PolicyError`` can name all of them."""

    #: Where the problems are; a callable is only asked when there is something to report
    #: (a construct's path costs jsii round trips that a valid construct need not pay).
    where: str | Callable[[], str]
    items: list[Problem] = field(default_factory=list)

    def add(self, field_name: str, value: object, reason: str, fix: str) -> None:
        self.items.append(Problem(field_name, value, reason, fix))

    def extend(self, other: Problems, prefix: str = "") -> None:
        for item in other.items:
            self.items.append(Problem(f"{prefix}{item.field}", item.value, item.reason, item.fix))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        count = len(self.items)
        noun = "problem" if count == 1 else "problems"
        where = self.where() if callable(self.where) else self.where
        lines = [f"{where}: {count} {noun}:"]
        lines.extend(f"  - {item.render()}" for item in self.items)
        raise PolicyError("\n".join(lines))
