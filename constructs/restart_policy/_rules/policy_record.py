"""RP-POLICY-RECORD: a recorded policy may not loosen the checks beyond their own hard limits.

``restart-policy:policy`` metadata is plain template metadata that anyone can write: a resource
judged by its record could otherwise pass with any stop timeout or retry count. The record is
still used (capped at the limits), so that a policy a construct accepted within them passes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ._model import Finding, Options, Recorded, Rule, number


def check(recorded: Recorded, options: Options) -> Iterator[Finding]:
    policies: list[tuple[str, object]] = [("policy", recorded.record.get("policy"))]
    programs = recorded.record.get("programs")
    if isinstance(programs, Mapping):
        policies += [(f"programs.{name}", value) for name, value in sorted(programs.items())]
    app = options.policy
    retries_limit = max(options.max_start_retries, app.start_retries)
    stop_limit = max(options.max_stop_timeout, app.stop_timeout_seconds)
    for name, policy in policies:
        if not isinstance(policy, Mapping):
            continue
        retries, stop = policy.get("start_retries"), policy.get("stop_timeout")
        over: list[str] = []
        if number(retries) and isinstance(retries, int | float) and retries > retries_limit:
            over.append(f"start_retries {retries:g} is above max_start_retries {retries_limit}")
        if number(stop) and isinstance(stop, int | float) and stop > stop_limit:
            over.append(f"stop_timeout {stop:g} s is above max_stop_timeout {stop_limit:g} s")
        if over:
            yield Finding(
                RULE.id, recorded.logical_id, recorded.where,
                f"the recorded {name}: {'; '.join(over)} (judged by the limit instead)",
            )  # fmt: skip


RULE = Rule(
    id="RP-POLICY-RECORD",
    title="recorded policy (restart-policy:policy metadata) beyond the checks' hard limits",
    fix="set the construct's RestartPolicy start_retries and stop_timeout within "
    "RestartPolicyChecks' max_start_retries and max_stop_timeout (or raise those limits for the "
    "app); remove hand-written restart-policy:policy metadata, or run "
    "RestartPolicyChecks(strict=True)",
    subject="record",
    check=check,
)
