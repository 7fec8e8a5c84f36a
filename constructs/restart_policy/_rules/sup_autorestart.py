"""RP-SUP-AUTORESTART: a daemon that exits is started again."""

from __future__ import annotations

from collections.abc import Iterator

from ._model import Finding, Options, ProcessSection, Rule
from ._process import NotJudged, setting, shown


def check(section: ProcessSection, options: Options) -> Iterator[Finding]:
    try:
        mode = setting(section, "autorestart")
    except NotJudged as error:
        yield error.finding
        return
    if section.settings.get("autorestart") is None or mode is False:
        yield section.finding(RULE.id, f"{shown(section, 'autorestart')}")


RULE = Rule(
    id="RP-SUP-AUTORESTART",
    title="supervisor process without autorestart",
    fix="set autorestart=true in the section (the policy), or autorestart=unexpected for a "
    "restart on failure only",
    subject="process",
    check=check,
)
