"""The API reference (`make docs`, pdoc) documents every public name."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import restart_policy

# The public modules: the package's re-exports, and the modules users import by name.
PUBLIC_MODULES = (
    "restart_policy",
    "restart_policy.runtime",
    "restart_policy.hold",
    "restart_policy.health",
    "restart_policy.testing",
)


def public_names(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    assert names is not None, f"{module.__name__} has no __all__: its public names are unclear"
    return sorted(names)


def public_objects() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in public_names(module):
            found.append((f"{module_name}.{name}", getattr(module, name)))
    return found


def own_members(cls: type) -> list[tuple[str, Any]]:
    """Public methods and properties that the class itself defines (not jsii's plumbing)."""
    members = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property | staticmethod | classmethod) or inspect.isfunction(value):
            members.append((name, value))
    return members


def _doc(value: Any) -> str:
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    return (getattr(value, "__doc__", None) or "").strip()


PUBLIC = public_objects()


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_module_has_a_docstring(module_name: str) -> None:
    assert (importlib.import_module(module_name).__doc__ or "").strip()


@pytest.mark.parametrize(("name", "value"), PUBLIC, ids=[n for n, _ in PUBLIC])
def test_every_public_name_has_a_docstring(name: str, value: Any) -> None:
    if not (inspect.isclass(value) or callable(value)):
        return  # constants are documented by the module that defines them
    assert _doc(value), f"{name} has no docstring"


@pytest.mark.parametrize(
    ("name", "cls"),
    [(n, v) for n, v in PUBLIC if inspect.isclass(v)],
    ids=[n for n, v in PUBLIC if inspect.isclass(v)],
)
def test_every_public_method_and_attribute_has_a_docstring(name: str, cls: type) -> None:
    missing = [member for member, value in own_members(cls) if not _doc(value)]
    assert missing == [], f"{name}: undocumented {missing}"


def test_the_reference_builds(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pdoc", "--output-directory", str(tmp_path), *PUBLIC_MODULES],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "does not resolve" not in result.stderr, result.stderr
    page = (tmp_path / "restart_policy.html").read_text(encoding="utf-8")
    for name in restart_policy.__all__:
        assert name in page, f"{name} is missing from the reference"
    # Methods the README uses, inherited from private helpers, are in the reference too.
    assert "RestartPolicy.replace" in page


def test_make_docs_documents_the_public_modules() -> None:
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text(encoding="utf-8")
    listed = makefile.split("API_MODULES :=", 1)[1].split("\ndocs:", 1)[0]
    assert sorted(listed.replace("\\", " ").split()) == sorted(PUBLIC_MODULES)
