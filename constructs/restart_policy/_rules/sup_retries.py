"""RP-SUP-RETRIES: failed starts are retried a bounded number of times."""

from __future__ import annotations

from collections.abc import Iterator

from ._model import Finding, Options, ProcessSection, Rule
from ._process import NotJudged, setting, shown


def check(section: ProcessSection, options: Options) -> Iterator[Finding]:
    try:
        retries = setting(section, "startretries")
    except NotJudged as error:
        yield error.finding
        return
    limit = max(options.max_start_retries, section.policy.start_retries)
    if not 1 <= retries <= limit:
        yield section.finding(RULE.id, f"{shown(section, 'startretries')}, not 1..{limit}")


RULE = Rule(
    id="RP-SUP-RETRIES",
    title="supervisor process without a bounded startretries",
    fix="set startretries in the section from 1 to the checks' max_start_retries (the policy "
    "uses 5)",
    subject="process",
    check=check,
)
