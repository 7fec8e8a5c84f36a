"""How ``SupervisorPrograms`` puts supervisor on a host. Pure Python."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._errors import PolicyError

#: The supervisor release the library renders for and tests against.
SUPERVISOR_VERSION = "4.3.0"
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+~:-]*$")
_PATH = re.compile(r"^/[A-Za-z0-9_./+-]*$")


@dataclass(frozen=True)
class SupervisorInstall:
    """An install strategy; make one with ``pip_venv``, ``os_package`` or ``preinstalled``."""

    kind: str
    version: str | None
    bin_dir: str
    python: str

    @staticmethod
    def pip_venv(
        *, version: str = SUPERVISOR_VERSION, path: str = "/opt/restart-policy/supervisor"
    ) -> SupervisorInstall:
        """supervisor ``version`` from PyPI in a virtual environment of its own at ``path``.

        Works wherever ``python3 -m venv`` does, Amazon Linux 2023 included (it has no supervisor
        package). Default: supervisor 4.3.0 in ``/opt/restart-policy/supervisor``.
        """
        _check("version", version, _VERSION, "give a version such as 4.3.0")
        _check("path", path, _PATH, "give an absolute path such as /opt/supervisor")
        bin_dir = f"{path.rstrip('/')}/bin"
        return SupervisorInstall("pip-venv", version, bin_dir, f"{bin_dir}/python")

    @staticmethod
    def os_package(*, version: str | None = None) -> SupervisorInstall:
        """The distribution's ``supervisor`` package (Debian, Ubuntu), pinned to ``version`` if
        given. The package's own ``supervisor.service`` is left as it is, with its programs: the
        library's supervisord runs beside it under names of its own.
        Default: the distribution's current package.
        """
        if version is not None:
            _check("version", version, _VERSION, "give a package version such as 4.2.5-1")
        return SupervisorInstall("os-package", version, "/usr/bin", "/usr/bin/python3")

    @staticmethod
    def preinstalled(
        *, bin_dir: str = "/usr/bin", python: str = "/usr/bin/python3"
    ) -> SupervisorInstall:
        """supervisor is already on the image (baked AMI); ``bin_dir`` holds ``supervisord`` and
        ``supervisorctl`` (``/usr/local/bin`` is fine: the library's wrapper is
        ``rp-supervisorctl``); ``python`` (3.8 or newer) runs the back-off agent.
        Default: ``/usr/bin`` and ``/usr/bin/python3``.
        """
        _check("bin_dir", bin_dir, _PATH, "give an absolute path such as /usr/bin")
        _check("python", python, _PATH, "give an absolute path such as /usr/bin/python3")
        return SupervisorInstall("preinstalled", None, bin_dir.rstrip("/") or "/", python)


def _check(field: str, value: object, pattern: re.Pattern[str], fix: str) -> None:
    if not isinstance(value, str) or not pattern.match(value):
        raise PolicyError(
            f"SupervisorInstall: {field}={value!r}: is not usable in a shell script. Fix: {fix}."
        )
