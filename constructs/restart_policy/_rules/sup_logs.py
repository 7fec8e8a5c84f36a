"""RP-SUP-LOGS: a process's log files are rotated."""

from __future__ import annotations

from collections.abc import Iterator

from ._model import Finding, Options, ProcessSection, Rule
from ._process import NotJudged, setting


def check(section: ProcessSection, options: Options) -> Iterator[Finding]:
    for stream in ("stdout", "stderr"):
        try:
            if stream == "stderr" and setting(section, "redirect_stderr"):
                continue
            size = setting(section, f"{stream}_logfile_maxbytes")
            backups = setting(section, f"{stream}_logfile_backups")
        except NotJudged as error:
            yield error.finding
            continue
        if size == 0 or backups < 1:
            yield section.finding(
                RULE.id,
                f"{stream}_logfile_maxbytes={size} bytes, {stream}_logfile_backups={backups}",
            )


RULE = Rule(
    id="RP-SUP-LOGS",
    title="supervisor process whose log files are not rotated",
    fix="set stdout_logfile_maxbytes/stderr_logfile_maxbytes above 0 and "
    "stdout_logfile_backups/stderr_logfile_backups to at least 1 in the section (the policy: "
    "5MB and 10)",
    subject="process",
    check=check,
)
