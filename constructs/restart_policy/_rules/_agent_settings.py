"""The back-off agent's settings in a library payload (``backoff.json``): which programs the
agent restarts, so that their ``autorestart=false``/``startretries=0`` are judged as the
agent's, not as supervisor's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: The payload member that carries the agent's settings.
MEMBER = "backoff.json"


def agent_programs(text: str) -> dict[str, Mapping[str, Any]]:
    """Program name -> the agent's settings for it. Raises ``ValueError`` naming what is wrong
    when the text is not the ``[{"settings": {...}, "programs": [...]}]`` the library writes."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ValueError(f"it is not JSON ({error})") from None
    if not isinstance(document, list):
        raise ValueError("it is not a list of settings groups")
    programs: dict[str, Mapping[str, Any]] = {}
    for index, group in enumerate(document):
        settings = group.get("settings") if isinstance(group, Mapping) else None
        names = group.get("programs") if isinstance(group, Mapping) else None
        if not isinstance(settings, Mapping):
            raise ValueError(f"group {index} has no settings object")
        retries = settings.get("start_retries")
        if not isinstance(retries, int) or isinstance(retries, bool):
            raise ValueError(f"group {index} has no whole-number start_retries")
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise ValueError(f"group {index} has no list of program names")
        for name in names:
            programs[name] = settings
    return programs
