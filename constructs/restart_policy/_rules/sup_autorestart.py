"""RP-SUP-AUTORESTART: a daemon that exits is started again, as the policy's ``restart`` says:
``always`` is supervisor's ``autorestart=true``, ``on-failure`` its ``unexpected`` (or true).
``autorestart=false`` is right only for a program the library's back-off agent restarts (its
payload's ``backoff.json`` lists it)."""

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
    wanted: tuple[bool | str, ...] = (
        (True,) if section.policy.restart == "always" else (True, "unexpected")
    )
    if section.agent is not None:
        wanted += (False,)
    if mode not in wanted:
        yield section.finding(
            RULE.id, f"{shown(section, 'autorestart')}, but the policy restarts "
            f"{section.policy.restart}",
        )  # fmt: skip


RULE = Rule(
    id="RP-SUP-AUTORESTART",
    title="supervisor process whose autorestart does not restart as the policy says",
    fix="set autorestart=true in the section (the policy's restart='always'); "
    "autorestart=unexpected is enough under restart='on-failure'; autorestart=false only for "
    "programs the back-off agent restarts (SupervisorPrograms renders them so)",
    subject="process",
    check=check,
)
