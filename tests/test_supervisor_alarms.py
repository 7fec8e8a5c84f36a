"""The supervisor hosts' alarms: what the ``fatal`` and ``backoff`` filters count.

Programs under the back-off agent are rendered ``startretries=0``, so supervisor marks each of
their failed starts FATAL by design; the ``fatal`` alarm must not fire for those, but must for the
agent itself (then nothing restarts them) and for programs outside the agent.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Annotations, Match, Template

from restart_policy import Program, RestartPolicy, SupervisorPrograms
from restart_policy._backoff_listener import LISTENER_NAME
from restart_policy._supervisor_alarms import PATTERN_LIMIT, fatal_pattern
from tests.supervisor_harness import running

OFF = RestartPolicy(backoff=False)


def filters(programs: list[Program]) -> tuple[Template, Stack]:
    stack = Stack(App(), "Hosts")
    SupervisorPrograms(stack, "Programs", programs=programs)
    return Template.from_stack(stack), stack


def pattern_of(template: Template, suffix: str) -> str:
    found = template.find_resources(
        "AWS::Logs::MetricFilter",
        {
            "Properties": {
                "MetricTransformations": [
                    Match.object_like({"MetricName": Match.string_like_regexp(f"-{suffix}$")})
                ]
            }
        },
    )
    assert len(found) == 1
    pattern: str = next(iter(found.values()))["Properties"]["FilterPattern"]
    return pattern


def test_with_every_program_under_the_agent_only_the_agents_fatal_counts() -> None:
    template, _ = filters([Program(name="web", command="/srv/web", numprocs=3)])
    assert pattern_of(template, "Fatal") == f'"gave up: {LISTENER_NAME} entered FATAL state"'


def test_each_process_of_a_program_outside_the_agent_is_named() -> None:
    template, _ = filters(
        [
            Program(name="web", command="/srv/web"),
            Program(name="cron", command="/srv/cron", numprocs=2, restart_policy=OFF),
        ]
    )
    assert pattern_of(template, "Fatal") == (
        f'?"gave up: {LISTENER_NAME} entered FATAL state" '
        '?"gave up: cron-0 entered FATAL state" ?"gave up: cron-1 entered FATAL state"'
    )


def test_too_many_programs_outside_the_agent_fall_back_to_every_fatal_with_a_warning() -> None:
    template, stack = filters(
        [Program(name="web", command="/srv/web", numprocs=40, restart_policy=OFF)]
    )
    assert pattern_of(template, "Fatal") == '"entered FATAL state"'
    Annotations.from_stack(stack).has_warning(
        "/Hosts/Programs", Match.string_like_regexp("too many to name in one log filter pattern")
    )


def test_the_fatal_pattern_never_passes_the_limit() -> None:
    for count in range(60):
        pattern, exact = fatal_pattern([f"p{n:03d}-0" for n in range(count)])
        assert len(pattern) <= PATTERN_LIMIT
        assert exact == (pattern != '"entered FATAL state"')


@pytest.mark.parametrize(
    "decision",
    [
        "backoff",
        "give-up",
        "state-write-failed",
        "state-unreadable",
        "settings-unreadable",
        "agent-error",
    ],
)
def test_the_backoff_alarm_counts_decisions_that_need_a_person(decision: str) -> None:
    template, _ = filters([Program(name="web", command="/srv/web")])
    assert f'$.decision = "{decision}"' in pattern_of(template, "Backoff")


def test_routine_decisions_do_not_fire_the_backoff_alarm() -> None:
    template, _ = filters([Program(name="web", command="/srv/web")])
    pattern = pattern_of(template, "Backoff")
    for routine in ("restart", "retry", "rearm", "recovered", "reset", "exited"):
        assert f'"{routine}"' not in pattern


@pytest.mark.supervisord
def test_supervisord_writes_the_phrase_the_fatal_filter_looks_for(tmp_path: Path) -> None:
    # an agent that cannot start (its file missing, say): supervisord gives up on it
    section = (
        f"[eventlistener:{LISTENER_NAME}]\n"
        f"command={shlex.quote(sys.executable)} -c 'raise SystemExit(1)'\n"
        "events=PROCESS_STATE\n"
        "startsecs=1\n"
        "startretries=0\n"
        f"stderr_logfile={tmp_path}/agent.log\n"
    )
    phrase = fatal_pattern([])[0].strip('"')
    with running(tmp_path, section) as supervisord:
        supervisord.wait_state(f"{LISTENER_NAME}:{LISTENER_NAME}", "FATAL", timeout=60)
        deadline = time.monotonic() + 30
        while phrase not in supervisord.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        log: Any = supervisord.log()
    assert phrase in log
