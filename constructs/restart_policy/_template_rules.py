"""The policy's rules over synthesized CloudFormation templates: plain JSON in, findings out.

Judges every resource, whoever wrote it. A value it cannot resolve (an intrinsic function where
a number was expected, user data it cannot read) is reported as a warning naming the resource,
never a crash.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ._ecs_limits import FARGATE_STOP_TIMEOUT_MAX, RESTART_PERIOD_MAX, RESTART_PERIOD_MIN
from ._user_data_script import extract_payloads
from .log_policy import LogPolicy
from .policy import RestartPolicy


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    fix: str


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule(
            "RP-ECS-BREAKER",
            "ECS service without a deployment circuit breaker that rolls back",
            "set DeploymentConfiguration.DeploymentCircuitBreaker {Enable: true, Rollback: true} "
            "(ecs.DeploymentCircuitBreaker(enable=True, rollback=True), or use WorkerService)",
        ),
        Rule(
            "RP-ECS-HEALTHY",
            "ECS service whose minimum healthy percent is below the policy's",
            "set min_healthy_percent to at least the policy's value (WorkerService uses 100)",
        ),
        Rule(
            "RP-ECS-RESTART",
            "essential container without a container restart policy inside ECS's limits",
            "enable_restart_policy=True with restart_attempt_period from 60 to 1800 seconds "
            "(WorkerService uses the policy's start window)",
        ),
        Rule(
            "RP-ECS-STOP",
            "essential container whose stop timeout is unset or outside the policy",
            "set stop_timeout to the policy's stop timeout (at most 120 s on Fargate)",
        ),
        Rule(
            "RP-ECS-LOGS",
            "essential container without a log configuration",
            "log with ecs.LogDrivers.aws_logs into a log group with retention",
        ),
        Rule(
            "RP-LOGS-RETENTION",
            "log group that keeps logs for ever",
            "set retention (logs.RetentionDays), e.g. the LogPolicy's 30 days",
        ),
        Rule(
            "RP-SUP-STARTSECS",
            "supervisor program without startsecs above zero",
            "set startsecs to the policy's start window (render the program with "
            "restart_policy.render_program or SupervisorPrograms)",
        ),
        Rule(
            "RP-SUP-RETRIES",
            "supervisor program without a bounded startretries",
            "set startretries from 1 to the checks' max_start_retries (the policy uses 5)",
        ),
        Rule(
            "RP-SUP-AUTORESTART",
            "supervisor program without autorestart",
            "set autorestart=true (the policy) or autorestart=unexpected",
        ),
        Rule(
            "RP-SUP-LOGS",
            "supervisor program whose log files are not rotated",
            "set *_logfile_maxbytes above 0 and *_logfile_backups of at least 1 (the policy: "
            "5MB and 10)",
        ),
        Rule(
            "RP-UNREADABLE",
            "value the checks cannot read (an intrinsic function or a user data they cannot parse)",
            "make the value a literal, or acknowledge the warning after checking by hand",
        ),
    )
}


@dataclass(frozen=True)
class Finding:
    rule: str
    logical_id: str
    location: str
    message: str
    warning: bool = False


@dataclass(frozen=True)
class Options:
    policy: RestartPolicy
    log_policy: LogPolicy
    min_healthy_percent: int
    max_start_retries: int


def judge(template: Mapping[str, Any], options: Options) -> list[Finding]:
    findings: list[Finding] = []
    resources = template.get("Resources")
    if not isinstance(resources, Mapping):
        return findings
    for logical_id, resource in sorted(resources.items()):
        if not isinstance(resource, Mapping):
            continue
        kind = resource.get("Type")
        properties = resource.get("Properties")
        properties = properties if isinstance(properties, Mapping) else {}
        judge_one = _JUDGES.get(str(kind))
        if judge_one is not None:
            findings.extend(judge_one(logical_id, properties, options))
    return findings


# --- ECS --------------------------------------------------------------------------------


def _service(logical_id: str, props: Mapping[str, Any], options: Options) -> Iterator[Finding]:
    controller = props.get("DeploymentController")
    if isinstance(controller, Mapping) and controller.get("Type") not in (None, "ECS"):
        return  # the breaker exists for rolling (ECS) deployments only
    config = props.get("DeploymentConfiguration")
    config = config if isinstance(config, Mapping) else {}
    breaker = config.get("DeploymentCircuitBreaker")
    where = "Properties/DeploymentConfiguration/DeploymentCircuitBreaker"
    if not isinstance(breaker, Mapping):
        yield Finding("RP-ECS-BREAKER", logical_id, where, "no deployment circuit breaker")
    else:
        enable, rollback = breaker.get("Enable"), breaker.get("Rollback")
        if _intrinsic(enable) or _intrinsic(rollback):
            yield _unreadable(logical_id, where, "the circuit breaker's settings")
        elif enable is not True or rollback is not True:
            yield Finding(
                "RP-ECS-BREAKER",
                logical_id,
                where,
                f"circuit breaker Enable={enable!r}, Rollback={rollback!r}",
            )
    minimum = config.get("MinimumHealthyPercent")
    where = "Properties/DeploymentConfiguration/MinimumHealthyPercent"
    if _intrinsic(minimum):
        yield _unreadable(logical_id, where, "MinimumHealthyPercent")
    elif isinstance(minimum, int | float) and minimum < options.min_healthy_percent:
        yield Finding(
            "RP-ECS-HEALTHY",
            logical_id,
            where,
            f"MinimumHealthyPercent is {minimum:g}, below {options.min_healthy_percent}",
        )


def _task_definition(
    logical_id: str, props: Mapping[str, Any], options: Options
) -> Iterator[Finding]:
    containers = props.get("ContainerDefinitions")
    if _intrinsic(containers):
        yield _unreadable(logical_id, "Properties/ContainerDefinitions", "ContainerDefinitions")
        return
    if not isinstance(containers, list):
        return
    compatibilities = props.get("RequiresCompatibilities")
    fargate = isinstance(compatibilities, list) and "FARGATE" in compatibilities
    policy_stop = options.policy.stop_timeout_seconds
    for index, container in enumerate(containers):
        if not isinstance(container, Mapping) or container.get("Essential", True) is False:
            continue
        name = container.get("Name", index)
        base = f"Properties/ContainerDefinitions/{index}"
        restart = container.get("RestartPolicy")
        if _intrinsic(restart):
            yield _unreadable(
                logical_id, f"{base}/RestartPolicy", f"container {name}'s restart policy"
            )
        elif not isinstance(restart, Mapping) or restart.get("Enabled") is not True:
            yield Finding(
                "RP-ECS-RESTART", logical_id, f"{base}/RestartPolicy",
                f"container {name!r} has no enabled restart policy",
            )  # fmt: skip
        else:
            period = restart.get("RestartAttemptPeriod", 300)
            if _intrinsic(period):
                yield _unreadable(logical_id, f"{base}/RestartPolicy", "RestartAttemptPeriod")
            elif not (
                isinstance(period, int | float)
                and RESTART_PERIOD_MIN <= period <= RESTART_PERIOD_MAX
            ):
                yield Finding(
                    "RP-ECS-RESTART", logical_id, f"{base}/RestartPolicy",
                    f"container {name!r} restart attempt period {period!r} is outside "
                    f"{RESTART_PERIOD_MIN}..{RESTART_PERIOD_MAX} s",
                )  # fmt: skip
        stop = container.get("StopTimeout")
        limit = min(policy_stop, FARGATE_STOP_TIMEOUT_MAX) if fargate else policy_stop
        if _intrinsic(stop):
            yield _unreadable(logical_id, f"{base}/StopTimeout", "StopTimeout")
        elif stop is None:
            yield Finding(
                "RP-ECS-STOP", logical_id, f"{base}/StopTimeout",
                f"container {name!r} has no stop timeout (ECS then kills it after 30 s)",
            )  # fmt: skip
        elif not isinstance(stop, int | float) or not 0 < stop <= limit:
            yield Finding(
                "RP-ECS-STOP", logical_id, f"{base}/StopTimeout",
                f"container {name!r} stop timeout {stop!r} is outside 1..{limit:g} s",
            )  # fmt: skip
        if not container.get("LogConfiguration"):
            yield Finding(
                "RP-ECS-LOGS", logical_id, f"{base}/LogConfiguration",
                f"container {name!r} has no log configuration",
            )  # fmt: skip


# --- CloudWatch Logs --------------------------------------------------------------------


def _log_group(logical_id: str, props: Mapping[str, Any], options: Options) -> Iterator[Finding]:
    retention = props.get("RetentionInDays")
    if retention is None:
        yield Finding(
            "RP-LOGS-RETENTION", logical_id, "Properties/RetentionInDays", "no RetentionInDays"
        )
    elif _intrinsic(retention):
        yield _unreadable(logical_id, "Properties/RetentionInDays", "RetentionInDays")


# --- EC2 user data with supervisor programs ---------------------------------------------


def _instance(logical_id: str, props: Mapping[str, Any], options: Options) -> Iterator[Finding]:
    yield from _user_data(logical_id, "Properties/UserData", props.get("UserData"), options)


def _launch_template(
    logical_id: str, props: Mapping[str, Any], options: Options
) -> Iterator[Finding]:
    data = props.get("LaunchTemplateData")
    if isinstance(data, Mapping):
        yield from _user_data(
            logical_id, "Properties/LaunchTemplateData/UserData", data.get("UserData"), options
        )


def _user_data(logical_id: str, where: str, value: object, options: Options) -> Iterator[Finding]:
    if value is None:
        return
    text = user_data_text(value)
    if text is None:
        yield _unreadable(logical_id, where, "the user data")
        return
    programs: list[tuple[str, dict[str, str]]] = []
    try:
        for payload in extract_payloads(text):
            for path, content in sorted(payload.items()):
                if path.startswith("programs/"):
                    programs.extend(program_sections(content))
    except ValueError:
        yield _unreadable(logical_id, where, "the cdk-restart-policy payload in the user data")
    programs.extend(program_sections(text))
    for name, settings in programs:
        yield from _program(logical_id, where, name, settings, options)


def _program(
    logical_id: str, where: str, name: str, settings: dict[str, str], options: Options
) -> Iterator[Finding]:
    def finding(rule: str, message: str) -> Finding:
        return Finding(rule, logical_id, where, f"[program:{name}] {message}")

    startsecs = _int(settings.get("startsecs"))
    if startsecs is None or startsecs <= 0:
        shown = settings.get("startsecs", "unset (supervisor's default 1 s)")
        yield finding("RP-SUP-STARTSECS", f"startsecs is {shown}")
    retries = _int(settings.get("startretries"))
    if retries is None or not 1 <= retries <= options.max_start_retries:
        shown = settings.get("startretries", "unset")
        yield finding(
            "RP-SUP-RETRIES", f"startretries is {shown}, not 1..{options.max_start_retries}"
        )
    if settings.get("autorestart", "").lower() not in ("true", "unexpected"):
        yield finding(
            "RP-SUP-AUTORESTART", f"autorestart is {settings.get('autorestart', 'unset')}"
        )
    for stream in ("stdout", "stderr"):
        if stream == "stderr" and settings.get("redirect_stderr", "").lower() == "true":
            continue
        size = settings.get(f"{stream}_logfile_maxbytes")
        backups = _int(settings.get(f"{stream}_logfile_backups"))
        unbounded = size is not None and _byte_size(size) == 0
        if unbounded or (backups is not None and backups < 1):
            yield finding(
                "RP-SUP-LOGS",
                f"{stream}_logfile_maxbytes={size or 'default'}, "
                f"{stream}_logfile_backups={settings.get(f'{stream}_logfile_backups', 'default')}",
            )


_SECTION = re.compile(r"^\s*\[program:([^\]]+)\]\s*$")
_SETTING = re.compile(r"^\s*([A-Za-z_]+)\s*[=:]\s*(.*?)\s*$")
_COMMENT = re.compile(r"\s[;#].*$")


def program_sections(text: str) -> list[tuple[str, dict[str, str]]]:
    """Every ``[program:NAME]`` section in ``text`` with its settings (as supervisor reads them:
    an inline comment after white space is cut)."""
    sections: list[tuple[str, dict[str, str]]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        header = _SECTION.match(line)
        if header:
            current = {}
            sections.append((header.group(1), current))
            continue
        if current is None:
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith((";", "#")):
            continue
        setting = _SETTING.match(line)
        if setting is None:
            current = None  # the section ended (a shell line, another section, a delimiter)
            continue
        current[setting.group(1).lower()] = _COMMENT.sub("", setting.group(2)).strip()
    return sections


def user_data_text(value: object) -> str | None:
    """The script from ``Fn::Base64`` of a string or ``Fn::Join``; parts that are only known at
    deploy time become ``${...}``. None when it cannot be read."""
    if isinstance(value, Mapping) and set(value) == {"Fn::Base64"}:
        value = value["Fn::Base64"]
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and set(value) == {"Fn::Join"}:
        joined = value["Fn::Join"]
        if isinstance(joined, list) and len(joined) == 2 and isinstance(joined[0], str):
            separator: str = joined[0]
            parts = joined[1]
            if isinstance(parts, list):
                return separator.join(p if isinstance(p, str) else "${...}" for p in parts)
    if isinstance(value, Mapping) and set(value) == {"Fn::Sub"}:
        template = value["Fn::Sub"]
        if isinstance(template, str):
            return template
        if isinstance(template, list) and template and isinstance(template[0], str):
            return template[0]
    return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _byte_size(value: str) -> int | None:
    match = re.fullmatch(r"\s*(\d+)\s*(KB|MB|GB)?\s*", value, re.IGNORECASE)
    if match is None:
        return None
    unit = {"KB": 1024, "MB": 1024**2, "GB": 1024**3}.get((match.group(2) or "").upper(), 1)
    return int(match.group(1)) * unit


def _intrinsic(value: object) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) == 1
        and (next(iter(value)).startswith("Fn::") or next(iter(value)) == "Ref")
    )


def _unreadable(logical_id: str, where: str, what: str) -> Finding:
    return Finding(
        "RP-UNREADABLE", logical_id, where, f"cannot read {what}; not judged", warning=True
    )


_JUDGES = {
    "AWS::ECS::Service": _service,
    "AWS::ECS::TaskDefinition": _task_definition,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::EC2::Instance": _instance,
    "AWS::EC2::LaunchTemplate": _launch_template,
    "AWS::AutoScaling::LaunchConfiguration": _instance,
}
