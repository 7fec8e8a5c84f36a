"""The example CDK app: the reference stacks, synthesized by `make synth`."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from restart_policy import RestartPolicyChecks
from stacks.recon_worker_stack import ReconWorkerStack
from stacks.supervisor_hosts_stack import SupervisorHostsStack

#: Every reference stack, by stack name.
STACKS: dict[str, type[cdk.Stack]] = {
    "ReconWorker": ReconWorkerStack,
    "SupervisorHosts": SupervisorHostsStack,
}


def build_app(app: cdk.App | None = None) -> cdk.App:
    """Add every reference stack to ``app`` (a new one by default), with the restart policy's
    checks and cdk-nag's AwsSolutions pack, and return it: synth fails on any finding."""
    app = cdk.App() if app is None else app
    for name, stack_class in STACKS.items():
        stack_class(app, name)
    cdk.Validations.of(app).add_plugins(RestartPolicyChecks(), AwsSolutionsChecks(app))
    return app


if __name__ == "__main__":
    build_app().synth()
