"""What the channel modules share: settings checks, the UI's form fields, JSON requests. Pure, no I/O."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any, Final

import orjson

MAX_URL: Final = 2048
MAX_TEXT: Final = 512
JSON_HEADERS: Final = {"Content-Type": "application/json", "User-Agent": "lynex-box-alerts"}


def url_problems(config: Mapping[str, Any], key: str, required: bool) -> list[str]:
    """An http(s) URL naming a host (the alerts layer checks its address against the outbound policy)."""
    value = config.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, str) or not value or len(value) > MAX_URL:
        return [f"{key} must be an http(s) URL of at most {MAX_URL} characters"]
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        return [f"{key} is not a valid URL"]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [f"{key} must start with http:// or https:// and name a host"]
    return []


def text_problems(config: Mapping[str, Any], key: str, required: bool, lo: int = 1, hi: int = MAX_TEXT) -> list[str]:
    value = config.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, str) or not lo <= len(value) <= hi or any(c in value for c in "\r\n"):
        return [f"{key} must be a string of {lo}..{hi} characters on one line"]
    return []


def choice_problems(config: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> list[str]:
    value = config.get(key)
    if value is not None and value not in choices:
        return [f"{key} must be one of {list(choices)}"]
    return []


def field(name: str, label: str, kind: str = "text", required: bool = False, **extra: Any) -> dict[str, Any]:
    """One field of the UI's channel form: kind is url, text, secret, emails or choice (with `choices`)."""
    return {"name": name, "label": label, "kind": kind, "required": required, **extra}


def dumps(doc: Any) -> bytes:
    return orjson.dumps(doc)
