"""Builds the slim ``restart-policy-runtime`` wheel from the one source tree.

The library's modules all live in ``constructs/restart_policy/``; this hook picks the slim ones
(standard library only: the daemon runtime, the crash-hold wrapper, the health check and the
supervisor back-off agent) by the patterns in ``slim_modules.txt``, which the full distribution
excludes in turn, so that every file ships in exactly one wheel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

HERE = Path(__file__).resolve().parent
# In the repository the modules live in ../constructs; an sdist carries its own copy.
_REPOSITORY_SOURCE = HERE.parent / "constructs" / "restart_policy"
_SDIST_SOURCE = HERE / "restart_policy"
SOURCE = _REPOSITORY_SOURCE if _REPOSITORY_SOURCE.is_dir() else _SDIST_SOURCE


def slim_patterns() -> list[str]:
    lines = (HERE / "slim_modules.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def slim_files() -> list[Path]:
    found: set[Path] = set()
    for pattern in slim_patterns():
        found.update(path for path in SOURCE.glob(pattern) if path.is_file())
    return sorted(found)


class SlimFiles(BuildHookInterface):  # type: ignore[misc]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable" or self.target_name not in ("wheel", "sdist"):
            return
        if not slim_files():
            raise RuntimeError(f"no slim modules found in {SOURCE}: nothing to build")
        # The same layout in both: a wheel installs restart_policy/, and an sdist keeps it for
        # the wheel built from it (SOURCE then points there).
        for path in slim_files():
            build_data["force_include"][str(path)] = f"restart_policy/{path.name}"
