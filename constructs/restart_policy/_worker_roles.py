"""Roles of WorkerService tasks: one execution role per stack, its grants kept inline."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_iam as iam
from constructs import Construct

from ._worker_stack import stack_facts

_SHARED_ID = "RestartPolicyWorkerExecutionRole"


class InlineRole(iam.Role):
    """A role whose grants go into one inline, minimized policy instead of a ``DefaultPolicy``.

    Every grant to a plain ``Role`` costs a separate ``AWS::IAM::Policy`` resource, and a role
    shared by many services would repeat one statement per log group. Kept inline and minimized,
    a stack's 60 workers cost one resource and one statement per action set.
    """

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        self._document = iam.PolicyDocument(minimize=True)
        super().__init__(scope, construct_id, inline_policies={"Grants": self._document}, **kwargs)

    def add_to_principal_policy(
        self, statement: iam.PolicyStatement
    ) -> iam.AddToPrincipalPolicyResult:
        self._document.add_statements(statement)
        return iam.AddToPrincipalPolicyResult(statement_added=True, policy_dependable=self)


def shared_execution_role(scope: Construct) -> iam.IRole:
    """The stack's execution role for WorkerService tasks, made on first use.

    Only the ECS agent assumes an execution role (to pull the image, fetch secrets, write logs);
    the daemon never sees it, so sharing it does not share the daemon's permissions.
    """
    facts = stack_facts(scope)
    if facts.execution_role is None:
        facts.execution_role = InlineRole(
            facts.stack,
            _SHARED_ID,
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="ECS task execution role of the stack's WorkerServices "
            "(cdk-restart-policy)",
        )
    return facts.execution_role
