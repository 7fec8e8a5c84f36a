"""RP-SUP-STARTSECS: a process counts as started only after the policy's start window, so that
a daemon that dies during start-up is bounded by startretries instead of respawned for ever."""

from __future__ import annotations

from collections.abc import Iterator

from ._model import Finding, Options, ProcessSection, Rule
from ._process import NotJudged, setting, shown


def check(section: ProcessSection, options: Options) -> Iterator[Finding]:
    try:
        startsecs = setting(section, "startsecs")
    except NotJudged as error:
        yield error.finding
        return
    window = section.policy.start_window
    if startsecs < window:
        yield section.finding(
            RULE.id, f"{shown(section, 'startsecs')} is below the start window of {window:g} s"
        )


RULE = Rule(
    id="RP-SUP-STARTSECS",
    title="supervisor process whose startsecs is below the policy's start window",
    fix="set startsecs in the section to the policy's start_window (render it with "
    "restart_policy.render_program or SupervisorPrograms)",
    subject="process",
    check=check,
)
