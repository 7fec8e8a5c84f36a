"""Two distributions from one tree: the slim restart-policy-runtime and cdk-restart-policy.

The wheels are built for real, and the slim one is installed alone into a bare virtual
environment (no aws-cdk-lib, no index) where a daemon runs with it.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "constructs" / "restart_policy"
SLIM = ROOT / "runtime-package"

# A daemon image pulls this wheel: it must stay small ("a few tens of KB").
SLIM_WHEEL_MAX_BYTES = 200_000

# What the slim distribution must offer, whoever writes the modules.
SLIM_MODULES = (
    "restart_policy",
    "restart_policy.runtime",
    "restart_policy.hold",
    "restart_policy.health",
    "restart_policy.backoff_agent",
)


def slim_patterns() -> list[str]:
    lines = (SLIM / "slim_modules.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def slim_sources() -> set[str]:
    found: set[str] = set()
    for pattern in slim_patterns():
        found.update(p.name for p in PACKAGE.glob(pattern) if p.is_file())
    return found


def package_files() -> set[str]:
    """Every file the two wheels must carry between them, relative to the package folder."""
    return {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def wheel_package_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {
            name.removeprefix("restart_policy/")
            for name in archive.namelist()
            if name.startswith("restart_policy/")
        }


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    for project in (SLIM, ROOT):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--wheel-dir",
                str(out),
                str(project),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    built = {path.name.split("-")[0]: path for path in out.glob("*.whl")}
    assert set(built) == {"restart_policy_runtime", "cdk_restart_policy"}, built
    return built


@pytest.fixture(scope="module")
def bare_venv(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A daemon image-sized environment: Python and the slim wheel, nothing else."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-index",
            "--no-deps",
            str(wheels["restart_policy_runtime"]),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return python


def bare_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def run_in_bare_venv(python: Path, code: str) -> subprocess.CompletedProcess[str]:
    """``python -c code`` in the bare venv, away from the repository's folders."""
    return subprocess.run(
        [str(python), "-c", code],
        capture_output=True,
        text=True,
        env=bare_env(),
        cwd="/",
        check=False,
    )


def test_the_slim_list_and_the_full_wheels_exclusions_agree() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    excluded = config["tool"]["hatch"]["build"]["targets"]["wheel"]["exclude"]
    assert sorted(p.removeprefix("constructs/restart_policy/") for p in excluded) == sorted(
        slim_patterns()
    )


def test_both_distributions_have_one_version() -> None:
    full = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    slim = tomllib.loads((SLIM / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert slim["version"] == full["version"]
    assert f"restart-policy-runtime=={slim['version']}" in full["dependencies"]
    assert slim["dependencies"] == []


def test_both_distributions_carry_the_same_license() -> None:
    assert (SLIM / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()


def test_every_file_ships_in_exactly_one_wheel(wheels: dict[str, Path]) -> None:
    slim = wheel_package_files(wheels["restart_policy_runtime"])
    full = wheel_package_files(wheels["cdk_restart_policy"])
    assert slim & full == set()
    assert slim | full == package_files()
    assert slim == slim_sources()


def test_the_slim_wheel_is_small(wheels: dict[str, Path]) -> None:
    assert wheels["restart_policy_runtime"].stat().st_size < SLIM_WHEEL_MAX_BYTES


def test_the_full_wheel_registers_the_snapshot_fixture(wheels: dict[str, Path]) -> None:
    with zipfile.ZipFile(wheels["cdk_restart_policy"]) as archive:
        entry_points = next(n for n in archive.namelist() if n.endswith("entry_points.txt"))
        text = archive.read(entry_points).decode()
    assert "[pytest11]" in text
    assert "restart_policy.testing.plugin" in text


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(level, module) of every import in a file: level > 0 for relative imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # Imports under `if TYPE_CHECKING:` are for the type checker only and never run.
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield 0, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # `from . import x` names modules; `from .x import y` names one.
                names = [node.module] if node.module else [a.name for a in node.names]
                for name in names:
                    yield node.level, name
            else:
                yield 0, node.module or ""


@pytest.mark.parametrize("name", sorted(slim_sources() - {"py.typed"}))
def test_a_slim_module_imports_only_the_standard_library_and_slim_modules(name: str) -> None:
    slim_module_names = {Path(n).stem for n in slim_sources()}
    for level, module in _imports(PACKAGE / name):
        top = module.split(".")[0]
        if level:
            assert top in slim_module_names, f"{name} imports .{module}, which is not slim"
        elif top == "restart_policy":
            second = module.split(".")[1] if "." in module else "__init__"
            assert second in slim_module_names, f"{name} imports {module}, which is not slim"
        else:
            assert top in sys.stdlib_module_names or top == "__future__", (
                f"{name} imports {module}, which is not in the standard library"
            )


def test_the_slim_package_alone_imports_without_cdk(bare_venv: Path) -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(SLIM_MODULES)!r}:\n"
        "    importlib.import_module(name)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('aws_cdk', 'constructs', 'jsii'))\n"
        "print(json.dumps(heavy))\n"
    )
    result = run_in_bare_venv(bare_venv, code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_the_slim_package_alone_has_no_cdk_to_import(bare_venv: Path) -> None:
    result = run_in_bare_venv(bare_venv, "import aws_cdk")
    assert result.returncode != 0
    assert "No module named 'aws_cdk'" in result.stderr


def test_a_construct_name_without_the_full_package_says_what_to_install(
    bare_venv: Path,
) -> None:
    result = run_in_bare_venv(bare_venv, "import restart_policy; restart_policy.WorkerService")
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "Install cdk-restart-policy" in result.stderr


DAEMON = """\
import sys
from restart_policy import runtime

def main(life):
    if sys.argv[1] == "crash":
        raise RuntimeError("database connection lost")
    print("ready", flush=True)
    while not life.wait(0.05):
        pass

runtime.run(main)
"""


def test_a_daemon_crash_with_the_slim_package_alone_is_one_json_line(
    bare_venv: Path, tmp_path: Path
) -> None:
    script = tmp_path / "daemon.py"
    script.write_text(DAEMON, encoding="utf-8")
    result = subprocess.run(
        [str(bare_venv), str(script), "crash"],
        capture_output=True,
        text=True,
        env=bare_env(),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    crash_lines = [
        json.loads(line)
        for line in result.stderr.splitlines()
        if line.startswith("{") and '"crash"' in line
    ]
    assert len(crash_lines) == 1
    assert "database connection lost" in json.dumps(crash_lines[0])


def test_a_daemon_with_the_slim_package_alone_stops_on_sigterm(
    bare_venv: Path, tmp_path: Path
) -> None:
    script = tmp_path / "daemon.py"
    script.write_text(DAEMON, encoding="utf-8")
    daemon = subprocess.Popen(
        [str(bare_venv), str(script), "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=bare_env(),
        cwd=tmp_path,
    )
    try:
        assert daemon.stdout is not None
        assert daemon.stdout.readline().strip() == "ready"
        daemon.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        while daemon.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert daemon.returncode == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
        daemon.communicate()


def test_a_wheel_built_from_the_slim_sdist_carries_the_modules(tmp_path: Path) -> None:
    # The usual route to an index: sdist first, then the wheel from the unpacked sdist.
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(tmp_path)],
        cwd=SLIM,
        check=True,
        capture_output=True,
    )
    (sdist,) = tmp_path.glob("*.tar.gz")
    import tarfile

    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    (root,) = (tmp_path / "unpacked").iterdir()
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path / "w")],
        cwd=root,
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "w").glob("*.whl")
    assert wheel_package_files(wheel) == slim_sources()


def test_star_import_of_the_slim_package_alone_works(bare_venv: Path) -> None:
    result = run_in_bare_venv(
        bare_venv, "from restart_policy import *; import restart_policy; help(restart_policy)"
    )
    assert result.returncode == 0, result.stderr
