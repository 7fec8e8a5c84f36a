"""RP-SUP-RETRIES: failed starts are retried a bounded number of times: by supervisor
(``startretries``), or, for a program the library's back-off agent restarts (``startretries=0``,
listed in its payload's ``backoff.json``), by the agent (its ``start_retries``)."""

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
    if retries == 0 and section.agent is not None:
        agent_retries = section.agent["start_retries"]
        if not 1 <= agent_retries <= limit:
            yield section.finding(
                RULE.id,
                f"startretries=0 under the back-off agent, whose start_retries={agent_retries} "
                f"(backoff.json) is not 1..{limit}",
            )
    elif not 1 <= retries <= limit:
        yield section.finding(RULE.id, f"{shown(section, 'startretries')}, not 1..{limit}")


RULE = Rule(
    id="RP-SUP-RETRIES",
    title="supervisor process without a bounded startretries",
    fix="set startretries in the section from 1 to the checks' max_start_retries (the policy "
    "uses 5); under the back-off agent (startretries=0), the policy's start_retries in that "
    "range",
    subject="process",
    check=check,
)
