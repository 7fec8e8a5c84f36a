"""ECS and Fargate limits, as plain numbers, and the checks of a policy against them."""

from __future__ import annotations

from ._errors import Problems
from ._units import describe_seconds, is_unresolved
from .policy import RestartPolicy

RESTART_PERIOD_MIN = 60
RESTART_PERIOD_MAX = 1800
FARGATE_STOP_TIMEOUT_MAX = 120
MAX_IGNORED_EXIT_CODES = 50

# Fargate task sizes: cpu units -> the memory sizes (MiB) Fargate accepts with them.
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}


def check_policy_for_ecs(problems: Problems, policy: RestartPolicy, *, fargate: bool) -> None:
    window = policy.start_window_seconds
    if not is_unresolved(window) and not RESTART_PERIOD_MIN <= window <= RESTART_PERIOD_MAX:
        problems.add(
            "restart_policy.start_window",
            describe_seconds(window),
            "is the container's restart attempt period, which ECS accepts only from "
            f"{RESTART_PERIOD_MIN} to {RESTART_PERIOD_MAX} seconds",
            f"give a start_window from Duration.seconds({RESTART_PERIOD_MIN}) to "
            f"Duration.seconds({RESTART_PERIOD_MAX})",
        )
    timeout = policy.stop_timeout_seconds
    if fargate and not is_unresolved(timeout) and timeout > FARGATE_STOP_TIMEOUT_MAX:
        problems.add(
            "restart_policy.stop_timeout",
            describe_seconds(timeout),
            "is above Fargate's maximum container stop timeout of "
            f"{FARGATE_STOP_TIMEOUT_MAX} seconds",
            f"give at most Duration.seconds({FARGATE_STOP_TIMEOUT_MAX}), or run on EC2 capacity",
        )
