"""What a monitor is, and the validation of one a client sends: pure code, no I/O.

A monitor has a name, a schedule (an interval in seconds, or a five-field cron expression in UTC), a timeout, a
target and assertions. The target is either an HTTP endpoint of the user's app (method, URL, headers, a body
template) or an OpenAI-compatible chat-completions endpoint (base URL, model, API key, a list of messages whose
contents are templates). Header values and the API key are secrets: they are sealed at rest like alert channel
secrets and never shown again (`public()` lists header names and whether a key is set). Templates know
`{{monitor_id}}`, `{{run_id}}` and `{{timestamp}}` (RFC 3339, UTC); nothing else is expanded.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Final

from lynex_box.alerts.rules import RuleError, check_url
from lynex_box.alerts.targets import TargetPolicy
from lynex_box.monitors.assertions import Assertion, AssertionSpecError, parse_assertions

METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
ROLES: Final = ("system", "user", "assistant")
MAX_NAME: Final = 200
MAX_HEADERS: Final = 20
MAX_HEADER: Final = 4096
MAX_MESSAGES: Final = 20
MAX_TEMPLATE: Final = 32 * 1024
FORBIDDEN_HEADERS: Final = frozenset({"host", "content-length", "transfer-encoding", "connection"})
FIELDS: Final = ("name", "enabled", "interval_s", "cron", "timeout_s", "target", "assertions", "alert")


class MonitorError(ValueError):
    """A monitor a client sent that cannot be used; the message names the field and what is allowed."""


@dataclass(frozen=True, slots=True)
class MonitorLimits:
    """The bounds of `[monitors]` a monitor must stay within, and where its requests may go."""

    min_interval_s: int = 10
    default_interval_s: int = 300
    max_timeout_s: float = 30.0
    default_timeout_s: float = 10.0
    max_pattern_length: int = 256
    targets: TargetPolicy = field(default_factory=TargetPolicy)


@dataclass(frozen=True, slots=True)
class Target:
    """`type` http: method, url, body; `type` model: url (the base URL), model, messages. `headers` and
    `api_key` are the secrets (sealed at rest)."""

    type: str
    url: str
    method: str = "POST"
    body: str | None = None
    model: str = ""
    messages: tuple[dict[str, str], ...] = ()
    max_tokens: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    api_key: str | None = None

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.type == "http":
            out |= {"method": self.method, "url": self.url, "body": self.body}
        else:
            out |= {"base_url": self.url, "model": self.model, "messages": list(self.messages)}
            out |= {"max_tokens": self.max_tokens, "api_key_set": bool(self.api_key)}
        return out | {"header_names": sorted(self.headers)}

    def secrets(self) -> dict[str, Any]:
        return {"headers": self.headers, "api_key": self.api_key}


@dataclass(frozen=True, slots=True)
class MonitorSpec:
    name: str
    interval_s: int
    timeout_s: float
    target: Target
    assertions: tuple[Assertion, ...] = ()
    cron: str | None = None
    enabled: bool = True


def _text(value: object, where: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise MonitorError(f"{where} must be a non-empty string of at most {limit} characters")
    return value


def _url(value: object, where: str, policy: TargetPolicy) -> str:
    try:
        return check_url(value, where, policy)
    except RuleError as exc:
        raise MonitorError(str(exc).replace(f"{where}.url", where)) from None


def _headers(raw: object, old: dict[str, str]) -> dict[str, str]:
    if raw is None:
        return old
    if not isinstance(raw, dict) or len(raw) > MAX_HEADERS:
        raise MonitorError(f"target.headers must be an object of at most {MAX_HEADERS} name: value pairs")
    out = {}
    for name, value in raw.items():
        if not name or len(name) > 128 or not all(c.isalnum() or c in "-_" for c in name):
            raise MonitorError(f"target.headers: {name!r} is not a header name (letters, digits, - and _)")
        if name.lower() in FORBIDDEN_HEADERS:
            raise MonitorError(f"target.headers: {name} is set by the server; leave it out")
        if not isinstance(value, str) or len(value) > MAX_HEADER or any(c in value for c in "\r\n\0"):
            raise MonitorError(f"target.headers.{name} must be a string of at most {MAX_HEADER} characters, one line")
        out[name] = value
    return out


def _messages(raw: object) -> tuple[dict[str, str], ...]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_MESSAGES:
        raise MonitorError(f"target.messages must be a list of 1..{MAX_MESSAGES} {{role, content}} messages")
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or set(m) != {"role", "content"} or m["role"] not in ROLES:
            raise MonitorError(f"target.messages[{i}] must be {{role: {'|'.join(ROLES)}, content: text}}")
        out.append({"role": m["role"], "content": _text(m["content"], f"target.messages[{i}].content", MAX_TEMPLATE)})
    return tuple(out)


def parse_target(raw: object, limits: MonitorLimits, old: Target | None = None) -> Target:
    """The target of a body; in a PATCH (`old` of the same type) omitted headers and api_key are kept."""
    if not isinstance(raw, dict):
        raise MonitorError("target must be an object with type http or model")
    kind = raw.get("type")
    keep = old if old is not None and old.type == kind else None
    if kind == "http":
        allowed = {"type", "method", "url", "headers", "body"}
    elif kind == "model":
        allowed = {"type", "base_url", "model", "api_key", "messages", "max_tokens", "headers"}
    else:
        raise MonitorError("target.type must be http (an endpoint of your app) or model (OpenAI-compatible)")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise MonitorError(f"target has unknown keys {unknown}; allowed for {kind}: {sorted(allowed)}")
    headers = _headers(raw.get("headers"), keep.headers if keep else {})
    if kind == "http":
        method = raw.get("method", "GET")
        if method not in METHODS:
            raise MonitorError(f"target.method must be one of {list(METHODS)}")
        body = raw.get("body")
        if body is not None:
            body = _text(body, "target.body", MAX_TEMPLATE)
        return Target("http", _url(raw.get("url"), "target.url", limits.targets), method, body, headers=headers)
    api_key = raw.get("api_key", keep.api_key if keep else None)
    if api_key is not None:
        api_key = _text(api_key, "target.api_key", MAX_HEADER)
    max_tokens = raw.get("max_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise MonitorError("target.max_tokens must be a positive whole number, or null")
    return Target(
        "model",
        _url(raw.get("base_url"), "target.base_url", limits.targets).rstrip("/"),
        model=_text(raw.get("model"), "target.model", MAX_NAME),
        messages=_messages(raw.get("messages")),
        max_tokens=max_tokens,
        headers=headers,
        api_key=api_key,
    )


def _cron(value: object, min_interval_s: int) -> str | None:
    if value is None:
        return None
    from datetime import UTC, datetime

    from apscheduler.triggers.cron import CronTrigger

    if not isinstance(value, str) or len(value) > 100:
        raise MonitorError("cron must be a five-field cron expression (UTC), e.g. '*/5 * * * *', or null")
    try:
        trigger = CronTrigger.from_crontab(value, timezone=UTC)
    except ValueError as exc:
        raise MonitorError(f"cron {value!r} is not a five-field cron expression: {exc}") from None
    at = trigger.get_next_fire_time(None, datetime.now(UTC))
    for _ in range(5):  # the next few gaps must respect the minimum interval
        nxt = trigger.get_next_fire_time(at, at) if at is not None else None
        if at is None or nxt is None:
            break
        if (nxt - at).total_seconds() < min_interval_s:
            raise MonitorError(
                f"cron {value!r} runs more often than every {min_interval_s} s; hint: [monitors] min_interval_s"
            )
        at = nxt
    return value


def _number(doc: dict[str, Any], key: str, lo: float, hi: float, default: float, whole: bool) -> Any:
    value = doc.get(key, default)
    if isinstance(value, float) and whole and value.is_integer():
        value = int(value)
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not lo <= value <= hi:
        raise MonitorError(f"{key} must be a {'whole ' if whole else ''}number of seconds in {lo}..{hi}")
    return value


def parse_monitor(doc: dict[str, Any], limits: MonitorLimits, current: MonitorSpec | None = None) -> MonitorSpec:
    """A new monitor from `doc`, or `current` changed by the fields `doc` names (a PATCH). `alert` is the API's
    (it links alert rules) and is not part of the spec."""
    unknown = sorted(set(doc) - set(FIELDS))
    if unknown:
        raise MonitorError(f"unknown fields {unknown}; allowed: {list(FIELDS)}")
    base: dict[str, Any] = {}
    if current is not None:
        base = {"name": current.name, "enabled": current.enabled, "interval_s": current.interval_s,
                "cron": current.cron, "timeout_s": current.timeout_s}  # fmt: skip
    merged = base | doc
    enabled = merged.get("enabled", True)
    if not isinstance(enabled, bool):
        raise MonitorError("enabled must be true or false")
    if "target" in doc or current is None:
        target = parse_target(doc.get("target"), limits, current.target if current else None)
    else:
        target = current.target
    try:
        if "assertions" in doc or current is None or target.type != current.target.type:
            raw = doc.get("assertions", [a.public() for a in current.assertions] if current else None)
            assertions = parse_assertions(raw, target.type, limits.max_pattern_length)
        else:
            assertions = current.assertions
    except AssertionSpecError as exc:
        raise MonitorError(str(exc)) from None
    interval = _number(merged, "interval_s", limits.min_interval_s, 86_400, limits.default_interval_s, True)
    return MonitorSpec(
        name=_text(merged.get("name"), "name", MAX_NAME).strip(),
        interval_s=interval,
        timeout_s=float(_number(merged, "timeout_s", 0.1, limits.max_timeout_s, limits.default_timeout_s, False)),
        target=target,
        assertions=assertions,
        cron=_cron(merged.get("cron"), limits.min_interval_s),
        enabled=enabled,
    )


def with_secrets(target: Target, secrets: dict[str, Any]) -> Target:
    """`target` as stored (public part) with its opened secrets put back."""
    return replace(target, headers=dict(secrets.get("headers") or {}), api_key=secrets.get("api_key"))
