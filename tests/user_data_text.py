"""User data as text, from a synthesized template (where deploy-time names make it a Fn::Join)."""

from __future__ import annotations

from typing import Any


def user_data_text(value: Any, refs: dict[str, str] | None = None) -> str:
    """``Fn::Base64``'s argument as a script; a ``Ref`` becomes ``refs[name]`` or ``<Ref:name>``."""
    if isinstance(value, dict) and "Fn::Base64" in value:
        value = value["Fn::Base64"]
    if isinstance(value, str):
        return value
    separator, parts = value["Fn::Join"]
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif "Ref" in part:
            texts.append((refs or {}).get(part["Ref"], f"<Ref:{part['Ref']}>"))
        else:
            raise ValueError(f"unexpected part in user data: {part!r}")
    return str(separator).join(texts)
