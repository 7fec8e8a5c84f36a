"""cdk-restart-policy: a restart policy for long-running processes, as CDK constructs.

Names are loaded on first use, so that ``import restart_policy.runtime`` (on hosts with no
CDK) and the pure-Python policy model never import ``aws_cdk``. This file ships in the slim
``restart-policy-runtime`` distribution; the modules it names below ship in
``cdk-restart-policy``, so with the slim one alone they raise an ``ImportError`` that says so.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._errors import PolicyError as PolicyError
    from .checks import RestartPolicyChecks as RestartPolicyChecks
    from .log_policy import LogPolicy as LogPolicy
    from .policy import RestartPolicy as RestartPolicy
    from .program import Program as Program
    from .program import SecretField as SecretField
    from .program import render_program as render_program
    from .supervisor_install import SupervisorInstall as SupervisorInstall
    from .supervisor_programs import SupervisorPrograms as SupervisorPrograms
    from .worker_capacity import WorkerCapacity as WorkerCapacity
    from .worker_scaling import WorkerScaling as WorkerScaling
    from .worker_service import WorkerService as WorkerService

_EXPORTS = {
    "PolicyError": "._errors",
    "RestartPolicyChecks": ".checks",
    "RestartPolicy": ".policy",
    "LogPolicy": ".log_policy",
    "WorkerService": ".worker_service",
    "WorkerCapacity": ".worker_capacity",
    "WorkerScaling": ".worker_scaling",
    "Program": ".program",
    "render_program": ".program",
    "SecretField": ".program",
    "SupervisorInstall": ".supervisor_install",
    "SupervisorPrograms": ".supervisor_programs",
}


def _shipped(module: str) -> bool:
    # With only the slim restart-policy-runtime installed the construct modules are absent:
    # `from restart_policy import *` and help() must not reach for them. Finds, never imports.
    return importlib.util.find_spec(f"{__name__}{module}") is not None


__all__ = sorted(name for name, module in _EXPORTS.items() if _shipped(module))


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'restart_policy' has no attribute {name!r}")
    try:
        loaded = importlib.import_module(module, __name__)
    except ModuleNotFoundError as missing:
        if missing.name not in (f"{__name__}{module}", "aws_cdk", "constructs", "jsii"):
            raise
        raise ImportError(
            f"restart_policy.{name} needs the cdk-restart-policy distribution (the constructs); "
            f"only the slim restart-policy-runtime is installed here ({missing.name} is missing). "
            "Install cdk-restart-policy, or use restart_policy.runtime, restart_policy.hold and "
            "restart_policy.health, which need nothing else."
        ) from missing
    value = getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
