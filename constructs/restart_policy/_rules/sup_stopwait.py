"""RP-SUP-STOPWAIT: a stopping process is killed within the policy's stop timeout."""

from __future__ import annotations

from collections.abc import Iterator

from ._model import Finding, Options, ProcessSection, Rule
from ._process import NotJudged, setting, shown


def check(section: ProcessSection, options: Options) -> Iterator[Finding]:
    try:
        wait = setting(section, "stopwaitsecs")
    except NotJudged as error:
        yield error.finding
        return
    limit = section.policy.stop_timeout
    if not 1 <= wait <= limit:
        yield section.finding(RULE.id, f"{shown(section, 'stopwaitsecs')}, not 1..{limit:g} s")


RULE = Rule(
    id="RP-SUP-STOPWAIT",
    title="supervisor process whose stopwaitsecs is outside the policy's stop timeout",
    fix="set stopwaitsecs in the section from 1 to the policy's stop_timeout (the policy: 120)",
    subject="process",
    check=check,
)
