"""RP-SUP-AUTORESTART and RP-SUP-RETRIES for programs the back-off agent restarts: a library
payload's ``autorestart=false``/``startretries=0`` pass only when its ``backoff.json`` lists the
program, and then the agent's ``start_retries`` is what is bounded."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable

import pytest
from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2

from restart_policy import Program, SupervisorPrograms
from restart_policy._user_data_script import FILE_MARKER, PAYLOAD_DELIMITER
from tests.test_checks import check, check_messages, rules

UNDER_AGENT = """[program:worker]
command=/srv/worker.sh
autorestart=false
startsecs=120
startretries=0
stopwaitsecs=60
"""


def agent_json(names: list[str], start_retries: object = 5) -> str:
    settings = {"initial": 10, "maximum": 300, "start_retries": start_retries}
    return json.dumps([{"settings": settings, "programs": names}]) + "\n"


def payload_script(members: dict[str, str]) -> str:
    """A user data script carrying ``members`` as the library's payload does."""
    bundle = "".join(f"{FILE_MARKER}{path}\n{text}" for path, text in members.items())
    encoded = base64.b64encode(gzip.compress(bundle.encode("utf-8"))).decode("ascii")
    return f"base64 -d > /tmp/payload.gz <<'{PAYLOAD_DELIMITER}'\n{encoded}\n{PAYLOAD_DELIMITER}\n"


def host(script: str) -> Callable[[Stack], None]:
    def build(stack: Stack) -> None:
        user_data = ec2.UserData.for_linux()
        user_data.add_commands(script)
        ec2.LaunchTemplate(stack, "Hosts", user_data=user_data)

    return build


def payload_host(section: str = UNDER_AGENT, agent: str | None = None) -> Callable[[Stack], None]:
    members = {"programs/worker.conf": section}
    if agent is not None:
        members["backoff.json"] = agent
    return host(payload_script(members))


def test_a_library_host_with_the_agent_passes_the_checks() -> None:
    def build(stack: Stack) -> None:
        programs = SupervisorPrograms(
            stack, "Programs", programs=[Program(name="p", command="/bin/p")], monitoring=False
        )
        ec2.LaunchTemplate(stack, "Hosts", user_data=programs.user_data)

    assert check(build) == (True, [])


def test_autorestart_false_passes_for_a_program_the_agent_restarts() -> None:
    findings = check(payload_host(agent=agent_json(["worker"])))[1]
    assert "RP-SUP-AUTORESTART" not in rules(findings)


def test_startretries_zero_passes_for_a_program_the_agent_restarts() -> None:
    findings = check(payload_host(agent=agent_json(["worker"])))[1]
    assert "RP-SUP-RETRIES" not in rules(findings)


@pytest.mark.parametrize("start_retries", [0, 11], ids=["none", "above-the-limit"])
def test_the_agents_start_retries_is_bounded_instead(start_retries: int) -> None:
    passed, findings, messages = check_messages(
        payload_host(agent=agent_json(["worker"], start_retries))
    )
    assert not passed and findings == [("RP-SUP-RETRIES", "Test/Hosts/Resource", "error")]
    assert f"start_retries={start_retries} (backoff.json) is not 1..10" in messages


def test_the_agents_start_retries_bound_is_the_checks_max_start_retries() -> None:
    agent = agent_json(["worker"], start_retries=20)
    assert check(payload_host(agent=agent), max_start_retries=20) == (True, [])


def test_a_payload_without_backoff_json_keeps_supervisors_rules() -> None:
    findings = check(payload_host())[1]
    assert rules(findings) == {"RP-SUP-AUTORESTART", "RP-SUP-RETRIES"}


def test_a_program_backoff_json_does_not_list_keeps_supervisors_rules() -> None:
    findings = check(payload_host(agent=agent_json(["other"])))[1]
    assert rules(findings) == {"RP-SUP-AUTORESTART", "RP-SUP-RETRIES"}


def test_an_event_listener_of_a_listed_name_keeps_supervisors_rules() -> None:
    section = UNDER_AGENT.replace("[program:worker]", "[eventlistener:worker]\nevents=TICK_5")
    findings = check(payload_host(section, agent=agent_json(["worker"])))[1]
    assert rules(findings) == {"RP-SUP-AUTORESTART", "RP-SUP-RETRIES"}


def test_supervisors_own_startretries_is_still_bounded_under_the_agent() -> None:
    section = UNDER_AGENT.replace("startretries=0", "startretries=100")
    findings = check(payload_host(section, agent=agent_json(["worker"])))[1]
    assert rules(findings) == {"RP-SUP-RETRIES"}


def test_a_hand_written_section_is_not_excused_by_a_payloads_backoff_json() -> None:
    members = {"programs/other.conf": UNDER_AGENT.replace("worker", "other")}
    members["backoff.json"] = agent_json(["worker", "other"])
    script = (
        payload_script(members) + f"cat > /etc/supervisor/conf.d/w.conf <<'EOF'\n{UNDER_AGENT}EOF"
    )
    _, findings, messages = check_messages(host(script))
    assert rules(findings) == {"RP-SUP-AUTORESTART", "RP-SUP-RETRIES"}
    assert "[program:worker]" in messages and "[program:other]" not in messages


MALFORMED = {
    "not-json": "[{",
    "not-a-list": '{"settings": {"start_retries": 5}, "programs": ["worker"]}',
    "no-settings": '[{"programs": ["worker"]}]',
    "retries-a-string": '[{"settings": {"start_retries": "5"}, "programs": ["worker"]}]',
    "retries-a-bool": '[{"settings": {"start_retries": true}, "programs": ["worker"]}]',
    "names-not-strings": '[{"settings": {"start_retries": 5}, "programs": [1]}]',
}


@pytest.mark.parametrize("text", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_backoff_json_is_an_unreadable_warning(text: str) -> None:
    _, findings, messages = check_messages(payload_host(agent=text + "\n"))
    assert ("RP-UNREADABLE", "Test/Hosts/Resource", "warning") in findings
    assert "cannot read the back-off agent's backoff.json" in messages


def test_a_malformed_backoff_json_leaves_the_sections_to_supervisors_rules() -> None:
    findings = check(payload_host(agent="[{\n"))[1]
    assert rules(findings) == {"RP-SUP-AUTORESTART", "RP-SUP-RETRIES", "RP-UNREADABLE"}
