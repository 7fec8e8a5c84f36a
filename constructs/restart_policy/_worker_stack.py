"""What WorkerService needs of its stack, looked up once per stack.

Each look-up is a round trip to the jsii kernel (about a millisecond); 60 workers in one stack
would ask the same questions 60 times.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct


@dataclass
class StackFacts:
    stack: Stack
    name: str
    path: str
    execution_role: iam.IRole | None = None


# Keyed by the kernel's reference: unique for the life of the kernel, never reused.
_FACTS: dict[str, StackFacts] = {}


def stack_facts(scope: Construct) -> StackFacts:
    stack = Stack.of(scope)
    ref = getattr(getattr(stack, "__jsii_ref__", None), "ref", None)
    facts = None if ref is None else _FACTS.get(ref)
    if facts is None:
        facts = StackFacts(stack=stack, name=stack.stack_name, path=stack.node.path)
        if ref is not None:
            _FACTS[ref] = facts
    return facts
