"""RP-SUP-LOGS: a process's log files are rotated."""

from __future__ import annotations

from collections.abc import Iterator

from ._model import Finding, Options, ProcessSection, Rule
from ._process import NotJudged, setting

#: Log targets supervisor does not rotate: a special file (where it requires maxbytes=0),
#: syslog, or no log file at all.
NOT_ROTATED = ("/dev/stdout", "/dev/stderr", "syslog", "none")


def check(section: ProcessSection, options: Options) -> Iterator[Finding]:
    for stream in ("stdout", "stderr"):
        try:
            if stream == "stderr" and setting(section, "redirect_stderr"):
                continue
            target = section.raw(f"{stream}_logfile")
            if isinstance(target, str) and (
                target.strip().lower() in NOT_ROTATED or target.strip().startswith("/dev/fd/")
            ):
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
