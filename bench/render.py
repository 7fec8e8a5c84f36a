"""Renderer speed and user-data capacity: pure Python, no jsii for the rendering itself."""

from __future__ import annotations

import statistics
import time

from restart_policy import Program, render_program

USER_DATA_LIMIT = 16384


def doc_program(index: int) -> Program:
    """A program shaped like the policy document's: name, command, numprocs, user."""
    return Program(
        name=f"daemon_worker_{index:04d}_consumer",
        command="/srv/bos/scripts/celery/%(program_name)s.sh",
        numprocs=1 + index % 3,
        user="root",
    )


def env_program(index: int) -> Program:
    """A heavier one: two processes and two environment variables."""
    return Program(
        name=f"daemon_worker_{index:04d}",
        command=f"/srv/bos/scripts/celery/daemon_worker_{index:04d}.sh",
        numprocs=2,
        user="root",
        environment={"QUEUE": f"queue-{index}", "DJANGO_SETTINGS_MODULE": "bos.settings.prod"},
    )


def render_thousand(repeats: int = 7) -> float:
    """Median seconds to validate (construct) and render 1,000 programs."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        for index in range(1000):
            render_program(doc_program(index))
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def user_data_size(programs: list[Program]) -> int:
    """Bytes of the user data as the construct counts it: resolved, each deploy-time value (the
    log group's name, the back-off agent's bucket and region) at its longest."""
    from aws_cdk import App, Stack

    from restart_policy import SupervisorPrograms
    from restart_policy._user_data_size import resolved_size

    stack = Stack(App(), "S")
    construct = SupervisorPrograms(stack, "Programs", programs=programs)
    return resolved_size(stack.resolve(construct.user_data.render()))


def capacity(make: object) -> tuple[int, int]:
    """The most programs of a kind that fit in 16,384 bytes, and the size of 200 of them."""
    from restart_policy import PolicyError

    assert callable(make)
    low, high = 1, 2000
    while low < high:
        middle = (low + high + 1) // 2
        try:
            user_data_size([make(i) for i in range(middle)])
            low = middle
        except PolicyError:
            high = middle - 1
    return low, user_data_size([make(i) for i in range(200)])
