"""The log policy: bounded log files on hosts and bounded retention in CloudWatch Logs.

Pure Python: importing it never loads ``aws_cdk``.
"""

from __future__ import annotations

import posixpath
from typing import Any

from ._errors import Problems
from ._frozen import Frozen
from ._retention import NAME_OF_DAYS, RETENTION_DAYS
from ._units import SizeLike, UnitError, is_unresolved, to_bytes, to_seconds

_DEFAULTS: dict[str, Any] = {
    "max_file_size": 5 * 1024 * 1024,
    "backups": 10,
    "separate_stderr": True,
    "directory": "/var/log/supervisor",
    "retention": 30,
}

_DAY = 24 * 60 * 60


class LogPolicy(Frozen):
    """Where a daemon's output goes and how long it is kept.

    :param max_file_size: Size at which a log file on a host is rotated (supervisor's
        ``*_logfile_maxbytes``). Default: 5 MiB, the policy document's ``5MB``.
    :param backups: Rotated files kept per log (``*_logfile_backups``).
        Default: 10, the policy document's ``10``.
    :param separate_stderr: Write stderr to its own file (``redirect_stderr=false``), so that
        tracebacks stand apart from ordinary output. Default: true, as the policy document.
    :param directory: Absolute folder for log files on hosts. Default: ``/var/log/supervisor``,
        as the policy document.
    :param retention: How long CloudWatch Logs keeps the logs: an ``aws_logs.RetentionDays``
        member, a ``Duration`` of whole days, or a number of days, one of the values CloudWatch
        accepts. ``INFINITE`` is refused: the policy bounds cost. Default: 30 days (one month),
        three times the 10 rotated files a host keeps at a typical 1 file a day; the policy
        document sets no CloudWatch retention, so this is the library's choice.
    """

    __slots__ = (
        "_given",
        "backups",
        "directory",
        "max_file_size_bytes",
        "retention_days",
        "separate_stderr",
    )

    _given: dict[str, Any]
    max_file_size_bytes: int
    backups: int
    separate_stderr: bool
    directory: str
    retention_days: int

    def __init__(
        self,
        *,
        max_file_size: SizeLike | None = None,
        backups: int | None = None,
        separate_stderr: bool | None = None,
        directory: str | None = None,
        retention: object | None = None,
    ) -> None:
        given = {
            "max_file_size": max_file_size,
            "backups": backups,
            "separate_stderr": separate_stderr,
            "directory": directory,
            "retention": retention,
        }
        given = {name: value for name, value in given.items() if value is not None}
        values = {**_DEFAULTS, **given}
        problems = Problems("LogPolicy")

        size = _size(problems, values["max_file_size"])
        backups_ = values["backups"]
        if not isinstance(backups_, int) or isinstance(backups_, bool):
            problems.add("backups", backups_, "is not a whole number", "give e.g. 10")
        elif backups_ < 1:
            problems.add(
                "backups",
                backups_,
                "is below 1: rotation would drop the log being rotated",
                "give at least 1 (the policy document uses 10)",
            )
        separate = values["separate_stderr"]
        if not isinstance(separate, bool):
            problems.add("separate_stderr", separate, "is not a boolean", "give True or False")
        folder = _directory(problems, values["directory"])
        days = _retention(problems, values["retention"])
        problems.raise_if_any()

        self._freeze(
            given,
            max_file_size_bytes=size,
            backups=backups_,
            separate_stderr=separate,
            directory=folder,
            retention_days=days,
        )

    def replace(self, **changes: Any) -> LogPolicy:
        """A copy with some fields changed, e.g. ``logs.replace(backups=5)``, validated like a
        new ``LogPolicy``: the keyword arguments are those of the constructor."""
        return super().replace(**changes)

    @property
    def retention_name(self) -> str:
        """The ``aws_logs.RetentionDays`` member name of ``retention_days``."""
        return NAME_OF_DAYS[self.retention_days]

    def __repr__(self) -> str:
        return (
            f"LogPolicy(max_file_size={self.max_file_size_bytes} bytes, backups={self.backups}, "
            f"separate_stderr={self.separate_stderr}, directory={self.directory!r}, "
            f"retention={self.retention_days} days)"
        )


def _size(problems: Problems, value: object) -> int:
    try:
        size = to_bytes(value)
    except UnitError as exc:
        problems.add("max_file_size", value, exc.reason, exc.fix)
        return 0
    if is_unresolved(size):
        problems.add(
            "max_file_size",
            "a deploy-time token",
            "is written into files on the host, so it must be known at synth time",
            "give a Size, e.g. Size.mebibytes(5)",
        )
        return 0
    if size <= 0 or size != int(size):
        problems.add(
            "max_file_size",
            value if not isinstance(value, float | int) else size,
            "is not a positive whole number of bytes (0 would mean never rotate)",
            "give a positive Size, e.g. Size.mebibytes(5)",
        )
        return 0
    return int(size)


def _directory(problems: Problems, value: object) -> str:
    if not isinstance(value, str) or not posixpath.isabs(value):
        problems.add("directory", value, "is not an absolute path", "give e.g. /var/log/supervisor")
        return ""
    if any(char.isspace() for char in value) or any(c in value for c in ";#%\"'\\"):
        problems.add(
            "directory",
            value,
            "holds white space or one of ; # % \" ' \\, which log file settings cannot carry",
            "use a plain folder name such as /var/log/supervisor",
        )
        return ""
    return posixpath.normpath(value)


def _retention(problems: Problems, value: object) -> int:
    fix = (
        "give an aws_logs.RetentionDays member (not INFINITE) or one of "
        + ", ".join(str(days) for days in RETENTION_DAYS.values())
        + " days"
    )
    name = getattr(value, "name", None)
    if isinstance(name, str) and type(value).__name__ == "RetentionDays":
        if name in RETENTION_DAYS:
            return RETENTION_DAYS[name]
        problems.add("retention", name, "keeps logs for ever, which the policy does not allow", fix)
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        days: float = value
    else:
        try:
            days = to_seconds(value) / _DAY
        except UnitError as exc:
            problems.add("retention", value, exc.reason, fix)
            return 0
    if days not in NAME_OF_DAYS:
        problems.add(
            "retention", value, f"is {days:g} days, which CloudWatch Logs does not accept", fix
        )
        return 0
    return int(days)
