"""RP-UNREADABLE: a value the checks cannot read is a warning naming it, never silence."""

from __future__ import annotations

from ._model import Rule

RULE = Rule(
    id="RP-UNREADABLE",
    title="value the checks cannot read (an intrinsic function, user data or a nested template "
    "they cannot parse, a supervisor expansion)",
    fix="make the named value a literal, or acknowledge the warning after checking it by hand",
    subject="reader",
)
