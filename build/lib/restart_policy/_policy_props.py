"""The check every construct and helper makes of its optional policy props."""

from __future__ import annotations

from ._errors import Problems
from .log_policy import LogPolicy
from .policy import RestartPolicy


def check_policies(problems: Problems, restart_policy: object, log_policy: object) -> None:
    """``restart_policy`` and ``log_policy``, when given, are of their classes."""
    if restart_policy is not None and not isinstance(restart_policy, RestartPolicy):
        problems.add(
            "restart_policy", restart_policy, "is not a RestartPolicy", "give RestartPolicy(...)"
        )
    if log_policy is not None and not isinstance(log_policy, LogPolicy):
        problems.add("log_policy", log_policy, "is not a LogPolicy", "give LogPolicy(...)")
