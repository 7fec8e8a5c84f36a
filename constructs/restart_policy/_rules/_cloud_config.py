"""cloud-init's ``#cloud-config``: the files ``write_files`` writes (``encoding`` b64, gzip or
both decoded, ``append`` honoured) and the shell commands of ``bootcmd`` and ``runcmd``."""

from __future__ import annotations

import base64
import binascii
import gzip
import shlex
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class CloudConfig:
    files: dict[str, str] = field(default_factory=dict)
    scripts: list[tuple[str, str]] = field(default_factory=list)  # (key, script)
    problems: list[str] = field(default_factory=list)


def is_cloud_config(script: str) -> bool:
    return script.lstrip().startswith("#cloud-config")


def read_cloud_config(text: str) -> CloudConfig:
    read = CloudConfig()
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        read.problems.append("the cloud-config: PyYAML is not installed (pip install PyYAML)")
        return read
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        read.problems.append(f"the cloud-config: it is not valid YAML ({type(error).__name__})")
        return read
    if not isinstance(document, Mapping):
        return read
    entries = document.get("write_files")
    for number, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("path"), str):
            continue
        path = entry["path"]
        content = _content(entry.get("content", ""), str(entry.get("encoding", "text")).lower())
        if content is None:
            read.problems.append(
                f"the cloud-config's write_files entry {number} ({path}): its content does not "
                f"decode as {entry.get('encoding')!r}"
            )
            continue
        appended = entry.get("append") is True
        read.files[path] = (read.files.get(path, "") if appended else "") + content
    for key in ("bootcmd", "runcmd"):
        commands = document.get(key)
        lines: list[str] = []
        for command in commands if isinstance(commands, list) else []:
            if isinstance(command, list):
                lines.append(shlex.join(str(word) for word in command))
            elif isinstance(command, str):
                lines.append(command)
        if lines:
            read.scripts.append((key, "\n".join(lines) + "\n"))
    return read


def _content(value: object, encoding: str) -> str | None:
    raw: bytes
    if isinstance(value, bytes):  # YAML's !!binary
        raw = value
    elif isinstance(value, str):
        raw = value.encode("utf-8")
    else:
        return None
    try:
        if encoding in ("b64", "base64", "gz+b64", "gzip+base64", "gz+base64", "gzip+b64"):
            raw = base64.b64decode(raw, validate=False)
        if encoding.startswith("gz"):
            raw = gzip.decompress(raw)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError, OSError, EOFError, zlib.error):
        return None
