"""Reading one judged setting of a supervisor section, shared by the ``RP-SUP-*`` rules."""

from __future__ import annotations

from typing import Any

from ._model import UNREADABLE, Finding, ProcessSection
from ._model import shown as one_line
from ._supervisor_reader import CONVERTERS, DEFAULTS


class NotJudged(Exception):
    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def setting(section: ProcessSection, key: str) -> Any:
    """The converted value supervisor would use (its default when unset); raises ``NotJudged``
    with a warning when it is unreadable or one supervisor would refuse."""
    raw = section.raw(key)
    if raw is UNREADABLE:
        raise NotJudged(section.unreadable(key))
    text = DEFAULTS[key] if raw is None else str(raw)
    try:
        return CONVERTERS[key](text)
    except ValueError:
        raise NotJudged(
            Finding(
                "RP-UNREADABLE", section.logical_id, section.where,
                f"[{section.header}] {key}={text!r} is not a value supervisor accepts; "
                "supervisor would not load this config",
                warning=True,
            )
        ) from None  # fmt: skip


def shown(section: ProcessSection, key: str) -> str:
    value = section.settings.get(key)
    return (
        f"{key}={one_line(value)}"
        if value is not None
        else f"{key} unset (supervisor's {DEFAULTS[key]})"
    )
