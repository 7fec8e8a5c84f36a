"""What a rule is, what it judges and what it finds: plain data, no CDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..log_policy import LogPolicy
from ..policy import RestartPolicy

#: Where a part of a value is only known at deploy time (a ``Ref``, a ``${...}`` of ``Fn::Sub``).
DEPLOY_TIME = "@@deploy-time@@"


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
    #: Highest stop timeout (seconds) a recorded policy may give a resource.
    max_stop_timeout: float = 600
    #: Ignore recorded policies: judge every resource by the app-wide policy.
    strict: bool = False


@dataclass(frozen=True)
class Judged:
    """The policy values a resource is judged by: its construct's recorded policy, or the app's."""

    start_window: float
    start_retries: int
    stop_timeout: float
    restart: str = "always"
    recorded: bool = False

    @classmethod
    def of(cls, policy: RestartPolicy) -> Judged:
        return cls(
            policy.start_window_seconds,
            policy.start_retries,
            policy.stop_timeout_seconds,
            policy.restart,
        )

    def with_record(self, record: object, options: Options | None = None) -> Judged:
        """The recorded values where they are plain numbers (a token recorded at synth is not),
        capped by the checks' own limits (a record beyond them is a ``RP-POLICY-RECORD``
        finding)."""
        if not isinstance(record, Mapping):
            return self

        def number(name: str, fallback: float) -> Any:
            value = record.get(name)
            ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
            return value if ok else fallback

        retries = int(number("start_retries", self.start_retries))
        stop = number("stop_timeout", self.stop_timeout)
        if options is not None:
            retries = min(retries, max(options.max_start_retries, self.start_retries))
            stop = min(stop, max(options.max_stop_timeout, self.stop_timeout))
        return Judged(
            number("start_window", self.start_window),
            retries,
            stop,
            restart="on-failure" if record.get("restart") == "on-failure" else "always",
            recorded=True,
        )


@dataclass(frozen=True)
class Service:
    logical_id: str
    props: Mapping[str, Any]
    policy: Judged
    daemon: bool


@dataclass(frozen=True)
class TaskDefinition:
    logical_id: str
    props: Mapping[str, Any]
    policy: Judged
    fargate: bool

    def containers(self, *, essential_only: bool = True) -> Iterator[tuple[str, str, Any]]:
        """(location, name, container) of each container, the essential ones by default."""
        containers = self.props.get("ContainerDefinitions")
        if not isinstance(containers, list):
            return
        for index, container in enumerate(containers):
            if not isinstance(container, Mapping):
                continue
            if essential_only and container.get("Essential", True) is False:
                continue
            name = container.get("Name", index)
            yield f"Properties/ContainerDefinitions/{index}", repr(name), container


@dataclass(frozen=True)
class Recorded:
    """A resource's ``restart-policy:policy`` metadata: what its construct says it was built
    with."""

    logical_id: str
    record: Mapping[str, Any]
    #: Where the record is: the resource's metadata, or a line of its user data.
    where: str = "Metadata/restart-policy:policy"


@dataclass(frozen=True)
class LogGroup:
    logical_id: str
    props: Mapping[str, Any]


UNREADABLE = object()


@dataclass(frozen=True)
class ProcessSection:
    """A section of a supervisor config that runs processes, as supervisor reads it."""

    logical_id: str
    where: str
    header: str  # e.g. "program:worker"
    settings: Mapping[str, str]
    policy: Judged
    #: The text went through a shell that expands ``$`` and back quotes before supervisor reads it.
    shell_expanded: bool = False
    #: The back-off agent's settings for this program: the section comes from a library payload
    #: whose ``backoff.json`` lists it, so the agent, not supervisor, restarts it. None otherwise.
    agent: Mapping[str, Any] | None = None

    def raw(self, key: str) -> object:
        """The value supervisor would use before converting it: None when unset, ``UNREADABLE``
        when it is only known on the host (an expansion, a deploy-time value) or would not load."""
        value = self.settings.get(key)
        if value is None:
            return None
        if DEPLOY_TIME in value or "%(" in value:
            return UNREADABLE
        if self.shell_expanded and ("$" in value or "`" in value):
            return UNREADABLE
        try:
            expanded: str = value % {}  # supervisor %-expands every value: %% is %
        except (ValueError, TypeError, KeyError):
            return UNREADABLE
        return expanded

    def finding(self, rule: str, message: str) -> Finding:
        return Finding(rule, self.logical_id, self.where, f"[{self.header}] {message}")

    def unreadable(self, key: str) -> Finding:
        return Finding(
            "RP-UNREADABLE",
            self.logical_id,
            self.where,
            f"[{self.header}] cannot read {key}={self.settings.get(key)!r} (a %(...)s expansion, "
            "a shell or deploy-time value, or a lone %); not judged",
            warning=True,
        )


Check = Callable[[Any, Options], Iterator[Finding]]


@dataclass(frozen=True)
class Rule:
    """One rule: its id, what it finds, the fix (naming the property), and its check.

    ``subject`` says what the check is given: ``service``, ``task`` (a task definition that a
    service runs), ``job`` (any other task definition), ``log-group``, ``process`` (a supervisor
    section), or ``reader`` (raised while reading, no check of its own).
    """

    id: str
    title: str
    fix: str
    subject: str
    check: Check | None = None


def intrinsic(value: object) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) == 1
        and (str(next(iter(value))).startswith("Fn::") or next(iter(value)) == "Ref")
    )


def unreadable(logical_id: str, where: str, what: str) -> Finding:
    return Finding(
        "RP-UNREADABLE", logical_id, where, f"cannot read {what}; not judged", warning=True
    )


def shown(value: object, limit: int = 120) -> str:
    """A value for a message on one line: newlines escaped, long values cut."""
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
