"""Hosts: supervisor configs in user data (every shape) and in CloudFormationInit metadata."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .._policy_record import read_user_data_records
from .._user_data_script import extract_payloads
from . import run
from ._agent_settings import MEMBER as AGENT_MEMBER
from ._agent_settings import agent_programs
from ._cloud_config import is_cloud_config, read_cloud_config
from ._model import (
    Finding,
    Judged,
    Options,
    ProcessSection,
    Recorded,
    intrinsic,
    shown,
    unreadable,
)
from ._shell import file_texts
from ._supervisor_reader import has_process_section, read_config
from ._user_data import decode_user_data, resolve_text

HOSTS = {
    "AWS::EC2::Instance": ("UserData",),
    "AWS::EC2::LaunchTemplate": ("LaunchTemplateData", "UserData"),
    "AWS::AutoScaling::LaunchConfiguration": ("UserData",),
    "AWS::EC2::SpotFleet": ("SpotFleetRequestConfigData", "LaunchSpecifications", "*", "UserData"),
}
INIT = "AWS::CloudFormation::Init"


def judge_host(
    logical_id: str,
    kind: str,
    props: Mapping[str, Any],
    record: Mapping[str, Any],
    app_policy: Judged,
    options: Options,
) -> Iterator[Finding]:
    for where, value in _user_data_values(props, HOSTS[kind]):
        yield from _judge_user_data(logical_id, where, value, record, app_policy, options)


def _user_data_values(
    props: Mapping[str, Any], path: tuple[str, ...]
) -> Iterator[tuple[str, object]]:
    """(location, value) of each user data at ``path`` (``*``: every item of a list)."""
    holders: list[tuple[list[str], object]] = [(["Properties"], props)]
    for name in path:
        following: list[tuple[list[str], object]] = []
        for at, holder in holders:
            if name == "*" and isinstance(holder, list):
                following += [([*at, str(i)], item) for i, item in enumerate(holder)]
            elif name != "*" and isinstance(holder, Mapping) and holder.get(name) is not None:
                following.append(([*at, name], holder[name]))
        holders = following
    for at, value in holders:
        yield "/".join(at), value


def _judge_user_data(
    logical_id: str,
    where: str,
    value: object,
    record: Mapping[str, Any],
    app_policy: Judged,
    options: Options,
) -> Iterator[Finding]:
    decoded = decode_user_data(value)
    for problem in decoded.problems:
        yield unreadable(logical_id, where, problem)
    for script in decoded.scripts:
        try:
            payloads = extract_payloads(script)
        except (ValueError, OSError, EOFError, UnicodeDecodeError):
            payloads = []
            yield unreadable(logical_id, where, "the cdk-restart-policy payload in the user data")
        # The resource's metadata record, else the one the library left in the user data right
        # after each payload (user data copied by hand onto a resource has no metadata).
        in_script = [] if options.strict or "policy" in record else read_user_data_records(script)
        if len(in_script) != len(payloads):
            in_script = [None] * len(payloads)
        for payload, script_record in zip(payloads, in_script, strict=True):
            own = record if script_record is None else script_record
            if script_record is not None:
                yield from run("record", Recorded(logical_id, script_record, where), options)
            policy_of = _payload_policy(own, app_policy, options)
            agent_of = _payload_agent(payload)
            if isinstance(agent_of, str):
                yield unreadable(logical_id, where, agent_of)
                agent_of = _no_agent
            for path, content in sorted(payload.items()):
                if path.startswith("programs/"):
                    yield from _config(
                        logical_id, where, content, False, policy_of, options, agent_of
                    )
        if is_cloud_config(script):
            yield from _cloud_config(logical_id, where, script, app_policy, options)
        else:
            yield from _script(logical_id, where, script, lambda _: app_policy, options)


def _payload_policy(
    record: Mapping[str, Any], app_policy: Judged, options: Options
) -> Callable[[str], Judged]:
    library_policy = (
        app_policy.with_record(record["policy"], options) if "policy" in record else app_policy
    )
    programs = record.get("programs")
    programs = programs if isinstance(programs, Mapping) else {}

    def policy_of(header: str) -> Judged:
        name = header.split(":", 1)[1]
        if name not in programs:
            return library_policy
        return library_policy.with_record(programs[name], options)

    return policy_of


#: The back-off agent's settings for one program, None when the agent does not restart it.
AgentSettings = Mapping[str, Any] | None


def _no_agent(header: str) -> AgentSettings:
    return None


def _payload_agent(payload: Mapping[str, str]) -> Callable[[str], AgentSettings] | str:
    """Who restarts each ``[program:NAME]`` of a payload: the agent's settings when its
    ``backoff.json`` lists NAME; a reason when that file cannot be read."""
    text = payload.get(AGENT_MEMBER)
    if text is None:
        return _no_agent
    try:
        programs = agent_programs(text)
    except ValueError as error:
        return f"the back-off agent's {AGENT_MEMBER} in the cdk-restart-policy payload: {error}"

    def agent_of(header: str) -> AgentSettings:
        kind, _, name = header.partition(":")
        return programs.get(name) if kind == "program" else None

    return agent_of


def _cloud_config(
    logical_id: str, where: str, text: str, app_policy: Judged, options: Options
) -> Iterator[Finding]:
    read = read_cloud_config(text)
    for problem in read.problems:
        yield unreadable(logical_id, where, problem)
    for content in read.files.values():
        if has_process_section(content):
            yield from _config(logical_id, where, content, False, lambda _: app_policy, options)
    for _key, script in read.scripts:
        yield from _script(logical_id, where, script, lambda _: app_policy, options)


def _script(
    logical_id: str, where: str, script: str, policy_of: Any, options: Options
) -> Iterator[Finding]:
    files, read_lines, problems = file_texts(script)
    for problem in problems:
        yield unreadable(logical_id, where, problem)
    for written in files:
        if has_process_section(written.text):
            yield from _config(
                logical_id, where, written.text, written.expanded, policy_of, options
            )
    for number, line in enumerate(script.split("\n")):
        if number not in read_lines and ANY_HEADER.search(line):
            yield unreadable(
                logical_id, where,
                f"the supervisor section in script line {number + 1} ({shown(line.strip())}): "
                "it is not written by a here-document, here-string, echo, printf or tee the "
                "checks follow",
            )  # fmt: skip


#: A section header anywhere in a line (inside a command's argument too).
ANY_HEADER = re.compile(r"\[\s*(program|fcgi-program|eventlistener):")


def _config(
    logical_id: str,
    where: str,
    text: str,
    expanded: bool,
    policy_of: Any,
    options: Options,
    agent_of: Callable[[str], AgentSettings] = _no_agent,
) -> Iterator[Finding]:
    config = read_config(text)
    if config.problem is not None:
        yield unreadable(
            logical_id,
            where,
            f"a supervisor config that supervisor would not load: {config.problem}",
        )
    for header, settings in config.sections:
        section = ProcessSection(
            logical_id, where, header, settings, policy_of(header), expanded, agent_of(header)
        )
        yield from run("process", section, options)


def judge_cfn_init(
    logical_id: str, init: object, app_policy: Judged, options: Options
) -> Iterator[Finding]:
    base = f"Metadata/{INIT}"
    if not isinstance(init, Mapping):
        yield unreadable(logical_id, base, "the CloudFormationInit metadata")
        return
    for config_name, config in sorted(init.items()):
        if config_name == "configSets" or not isinstance(config, Mapping):
            continue
        files = config.get("files")
        for path, spec in sorted((files if isinstance(files, Mapping) else {}).items()):
            where = f"{base}/{config_name}/files/{path}"
            content = spec.get("content") if isinstance(spec, Mapping) else None
            if content is None:
                if "supervisor" in str(path).lower():
                    yield unreadable(logical_id, where, f"the file {path} (not inline content)")
                continue
            if isinstance(content, Mapping) and not intrinsic(content):
                continue  # a JSON document
            text = resolve_text(content)
            if text is None:
                yield unreadable(logical_id, where, f"the content of {path}")
            elif has_process_section(text):
                yield from _config(logical_id, where, text, False, lambda _: app_policy, options)
        commands = config.get("commands")
        for name, spec in sorted((commands if isinstance(commands, Mapping) else {}).items()):
            command = spec.get("command") if isinstance(spec, Mapping) else None
            text = (
                resolve_text(command)
                if not isinstance(command, list)
                else " ".join(str(word) for word in command)
            )
            if text is not None:
                where = f"{base}/{config_name}/commands/{name}"
                yield from _script(logical_id, where, text, lambda _: app_policy, options)
