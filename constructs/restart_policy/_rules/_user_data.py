"""User data as the scripts an instance runs, from every shape CDK synthesizes.

``Fn::Base64`` of a string, ``Fn::Join`` or ``Fn::Sub``; a literal (already base64) string;
``MultipartUserData``'s MIME document, whose parts are ``Fn::Base64`` inside the join; gzip'd
user data. Values only known at deploy time become ``DEPLOY_TIME``. What cannot be read is
returned as a problem, never dropped.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import message_from_string
from email.message import Message

from ._model import DEPLOY_TIME
from ._supervisor_reader import HEADER


@dataclass
class Decoded:
    scripts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def decode_user_data(value: object) -> Decoded:
    decoded = Decoded()
    decoded.problems.extend(hidden_sections(value))
    if isinstance(value, Mapping) and set(value) == {"Fn::Base64"}:
        text = resolve_text(value["Fn::Base64"])
        if text is None:
            decoded.problems.append(
                "the user data: it is an intrinsic function the checks do not follow"
            )
        else:
            _document(text, decoded, "the user data")
    elif isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            decoded.problems.append("the user data: it is a literal that is not valid base64")
        else:
            _bytes(raw, decoded, "the user data")
    else:
        decoded.problems.append(
            "the user data: it is an intrinsic function the checks do not follow"
        )
    return decoded


def resolve_text(value: object) -> str | None:
    """The text of a string, ``Fn::Join``, ``Fn::Sub`` or nested ``Fn::Base64``; a part known
    only at deploy time becomes ``DEPLOY_TIME``. None when the shape is not understood."""
    if isinstance(value, str):
        return value
    if not isinstance(value, Mapping) or len(value) != 1:
        return None
    ((name, argument),) = value.items()
    if name == "Fn::Join":
        if not (isinstance(argument, list) and len(argument) == 2):
            return None
        separator, parts = argument
        if not isinstance(separator, str) or not isinstance(parts, list):
            return None
        texts = [_part(part) for part in parts]
        return separator.join(texts)
    if name == "Fn::Sub":
        template = argument[0] if isinstance(argument, list) and argument else argument
        if not isinstance(template, str):
            return None
        return _substitute(template)
    if name == "Fn::Base64":
        inner = resolve_text(argument)
        return None if inner is None else base64.b64encode(inner.encode("utf-8")).decode("ascii")
    return None


def hidden_sections(value: object) -> list[str]:
    """A supervisor section inside a part that is only chosen at deploy time (``Fn::If``,
    ``Fn::Select`` ...) is lost to the reader: say so instead of dropping it."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return []
    ((name, argument),) = value.items()
    if name == "Fn::Base64":
        return hidden_sections(argument)
    if name != "Fn::Join" or not (isinstance(argument, list) and len(argument) == 2):
        return []
    parts = argument[1] if isinstance(argument[1], list) else []
    problems: list[str] = []
    for part in parts:
        if resolve_text(part) is not None:
            problems.extend(hidden_sections(part))
        elif any(HEADER.search(text) for text in _strings(part)):
            kind = next(iter(part)) if isinstance(part, Mapping) and part else type(part).__name__
            problems.append(f"a supervisor section inside {kind}, chosen only at deploy time")
    return problems


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _part(part: object) -> str:
    text = resolve_text(part)
    return DEPLOY_TIME if text is None else text


def _substitute(template: str) -> str:
    # ${!Name} is a literal ${Name}; every other ${...} is a deploy-time value.
    return re.sub(
        r"\$\{(!?)([^}]*)\}",
        lambda m: "${" + m.group(2) + "}" if m.group(1) else DEPLOY_TIME,
        template,
    )


def _bytes(raw: bytes, decoded: Decoded, what: str) -> None:
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):
            decoded.problems.append(f"{what}: it is gzip data that does not decompress")
            return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        decoded.problems.append(f"{what}: it is not UTF-8 text")
        return
    _document(text, decoded, what)


def _document(text: str, decoded: Decoded, what: str) -> None:
    head = text.lstrip()[:2048].lower()
    if not (head.startswith(("content-type:", "mime-version:")) and "multipart/" in head):
        decoded.scripts.append(text)
        return
    message = message_from_string(text)
    if not message.is_multipart():
        decoded.problems.append(f"{what}: it declares a MIME multipart document without its parts")
        return
    defects = [type(defect).__name__ for part in message.walk() for defect in part.defects]
    if defects:
        decoded.problems.append(f"{what}: it is malformed MIME ({', '.join(sorted(set(defects)))})")
    leaves = [part for part in message.walk() if not part.is_multipart()]
    for number, part in enumerate(leaves, 1):
        _mime_part(part, decoded, f"part {number} of {what}")


def _mime_part(part: Message, decoded: Decoded, what: str) -> None:
    payload = part.get_payload()
    if not isinstance(payload, str):
        decoded.problems.append(f"{what}: it has no text payload")
        return
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding == "base64":
        compact = re.sub(r"\s+", "", payload)
        if DEPLOY_TIME in compact:
            decoded.problems.append(f"{what}: it is base64 of a deploy-time value")
            return
        try:
            raw = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            decoded.problems.append(f"{what}: it is base64 that does not decode")
            return
        _bytes(raw, decoded, what)
    elif encoding == "quoted-printable":
        raw_payload = part.get_payload(decode=True)
        _bytes(raw_payload if isinstance(raw_payload, bytes) else b"", decoded, what)
    else:
        _document(payload, decoded, what)
