"""What an alert rule is, and the validation of one sent by a client: pure code, no I/O.

A rule watches one metric of its project's spans over a sliding window (optionally filtered by model, name or
environment), compares it with a threshold every `interval_s`, and notifies its channels when the comparison
starts to hold (firing) and when it stops (resolved). Every value from a client is checked here against fixed
allow-lists and bounds before it reaches SQL or a network call; a `RuleError` names the field, never a secret.
"""

from __future__ import annotations

import ipaddress
import secrets
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from lynex_box.alerts.targets import TargetPolicy, parse_address
from lynex_box.plugins.channels import ChannelType, redact_url

__all__ = ["Channel", "RuleError", "RuleLimits", "RuleSpec", "breached", "check_url", "parse_rule", "redact_url"]

METRICS: Final = ("error_rate", "error_count", "span_count", "total_cost", "p95_latency_ms", "tokens")
COMPARISONS: Final = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}
FILTER_KEYS: Final = ("model", "name", "environment")
MAX_CHANNELS: Final = 10
MAX_TEXT: Final = 512
MAX_URL: Final = 2048


class RuleError(ValueError):
    """A rule a client sent that cannot be used; the message names the field and what is allowed."""


@dataclass(frozen=True, slots=True)
class RuleLimits:
    """The bounds of `[alerts]` a rule must stay within, and what the instance can send."""

    min_interval_s: int = 10
    default_interval_s: int = 60
    max_window_s: int = 7 * 86_400
    email_enabled: bool = False
    targets: TargetPolicy = field(default_factory=TargetPolicy)
    channels: Mapping[str, ChannelType] = field(default_factory=dict)  # the types the plugin host found, by name


@dataclass(frozen=True, slots=True)
class Channel:
    """Where notifications go: a channel type's settings. `config` holds every setting once `store.open_channels`
    unsealed the secret ones (`secret_fields`, sealed at rest); `shown` is what the API shows (the type's `public`)."""

    id: str
    type: str
    config: Mapping[str, Any] = field(default_factory=dict)
    shown: Mapping[str, Any] = field(default_factory=dict)
    secret_fields: tuple[str, ...] = ()

    @property
    def url(self) -> str | None:
        return self.config.get("url")

    @property
    def secret(self) -> str | None:
        return self.config.get("secret")

    @property
    def to(self) -> tuple[str, ...]:
        return tuple(self.config.get("to", ()))

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, **self.shown}

    def sealed_part(self) -> dict[str, Any]:
        return {k: self.config[k] for k in self.secret_fields if self.config.get(k) is not None}


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A validated rule, as the client may set it."""

    name: str
    metric: str
    window_s: int
    comparison: str
    threshold: float
    interval_s: int
    renotify_s: int = 0
    enabled: bool = True
    filters: dict[str, str] = field(default_factory=dict)
    channels: tuple[Channel, ...] = ()


def breached(value: float | None, comparison: str, threshold: float) -> bool:
    """Does `value` cross the threshold? No data (None) never does, so a quiet window resolves a firing."""
    if value is None:
        return False
    if comparison == "gt":
        return value > threshold
    if comparison == "gte":
        return value >= threshold
    if comparison == "lt":
        return value < threshold
    if comparison == "lte":
        return value <= threshold
    raise ValueError(f"comparison {comparison!r} is not one of {list(COMPARISONS)}")


def check_url(url: object, where: str, policy: TargetPolicy, key: str = "url") -> str:
    """An http(s) URL without credentials whose host, when it is an address (or `localhost`), `policy` allows.

    Host names are resolved and checked by the API before the rule is saved, and again before every delivery,
    which connects to the checked address only (`targets.py`).
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise RuleError(f"{where}.{key} must be an http(s) URL of at most {MAX_URL} characters")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise RuleError(f"{where}.{key} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RuleError(f"{where}.{key} must start with http:// or https:// and name a host")
    if parts.username or parts.password:
        raise RuleError(f"{where}.{key} must not carry a user name or password; use a signing secret")
    if any(c.isspace() for c in url):
        raise RuleError(f"{where}.{key} must not contain white space")
    host = parts.hostname.rstrip(".").lower()
    address = parse_address(host)
    if address is None and (host in ("localhost", "localhost.localdomain") or host.endswith(".localhost")):
        address = ipaddress.ip_address("127.0.0.1")  # what every resolver answers for these names (RFC 6761)
    reason = policy.refusal(address) if address is not None else None
    if reason is not None:
        raise RuleError(f"{where}.{key}: host {parts.hostname!r} refused: {reason}")
    return url


def channel_urls(doc: dict[str, Any], types: Mapping[str, ChannelType]) -> list[tuple[str, str]]:
    """`(where, url)` of every channel URL a rule body sets (each type's `url_fields`), for the API's resolving
    check."""
    raw = doc.get("channels")
    if not isinstance(raw, list):
        return []
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            continue
        name = item.get("type")
        kind = types.get(name) if isinstance(name, str) else None
        for key in kind.url_fields if kind is not None else ("url",):
            if isinstance(item.get(key), str):
                out.append((f"channels[{i}]", item[key]))
    return out


def _text(doc: dict[str, Any], key: str, required: bool, default: str | None = None) -> str | None:
    value = doc.get(key, default)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise RuleError(f"{key} must be a non-empty string of at most {MAX_TEXT} characters")
    return value.strip()


def _int(doc: dict[str, Any], key: str, lo: int, hi: int, default: int | None = None) -> int:
    value = doc.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise RuleError(f"{key} must be a whole number of seconds in {lo}..{hi}")
    return value


def _threshold(doc: dict[str, Any]) -> float:
    value = doc.get("threshold")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) > 1e15:
        raise RuleError("threshold must be a finite number")
    return float(value)


def _filters(doc: dict[str, Any]) -> dict[str, str]:
    raw = doc.get("filters") or {}
    if not isinstance(raw, dict):
        raise RuleError(f"filters must be an object with some of {list(FILTER_KEYS)}")
    unknown = sorted(set(raw) - set(FILTER_KEYS))
    if unknown:
        raise RuleError(f"filters has unknown keys {unknown}; allowed: {list(FILTER_KEYS)}")
    out = {}
    for key in FILTER_KEYS:
        value = raw.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise RuleError(f"filters.{key} must be a string of at most {MAX_TEXT} characters")
        out[key] = value
    return out


def _problem(where: str, message: str, fields: tuple[str, ...]) -> str:
    """`channels[0].url must be ...` when the type's message starts with a setting's name, else `channels[0]: ...`."""
    head = message.split(" ", 1)[0].split(".", 1)[0].split("[", 1)[0]
    return f"{where}.{message}" if head in fields else f"{where}: {message}"


def _channel(item: object, index: int, old: dict[str, Channel], limits: RuleLimits) -> Channel:
    """One channel of a rule body, checked by its type (a plugin's `validate`) and, for its URLs, by the outbound
    address policy. A channel given with its `id` keeps every setting the body does not send again."""
    where = f"channels[{index}]"
    if not isinstance(item, dict):
        raise RuleError(f"{where} must be an object")
    kept = old.get(item["id"]) if isinstance(item.get("id"), str) else None
    if item.get("id") is not None and kept is None:
        raise RuleError(f"{where}.id names no channel of this rule; leave it out for a new channel")
    kind = item.get("type", kept.type if kept else None)
    types = limits.channels
    if not isinstance(kind, str) or kind not in types or (kept is not None and kind != kept.type):
        raise RuleError(f"{where}.type must be one of {sorted(types)} (and stays what it was)")
    channel_type = types[kind]
    if getattr(channel_type, "needs_mailer", False) and not limits.email_enabled:
        raise RuleError(f"{where}: {kind} channels need [smtp] enabled on this instance; use a webhook or Slack")
    sent = {k: v for k, v in item.items() if k not in ("id", "type")}
    for key in channel_type.url_fields:
        if key in sent and sent[key] is not None:
            check_url(sent[key], where, limits.targets, key)
    base = {k: v for k, v in (kept.config if kept is not None else {}).items() if k in channel_type.fields}
    config = {k: v for k, v in (base | sent).items() if v is not None}  # null removes a setting (a secret)
    problems = channel_type.validate(config)
    if problems:
        raise RuleError("; ".join(_problem(where, p, channel_type.fields) for p in problems))
    shown = channel_type.public(config)
    channel_id = kept.id if kept is not None else f"ch_{secrets.token_hex(6)}"
    return Channel(channel_id, kind, config, shown, tuple(channel_type.secret_fields))


def _channels(doc: dict[str, Any], old: tuple[Channel, ...], limits: RuleLimits) -> tuple[Channel, ...]:
    raw = doc.get("channels", [])
    if not isinstance(raw, list) or len(raw) > MAX_CHANNELS:
        raise RuleError(f"channels must be a list of at most {MAX_CHANNELS} channels")
    by_id = {c.id: c for c in old}
    out = tuple(_channel(item, i, by_id, limits) for i, item in enumerate(raw))
    if len({c.id for c in out}) != len(out):
        raise RuleError("channels names the same channel id twice")
    return out


FIELDS: Final = (
    "name",
    "enabled",
    "metric",
    "window_s",
    "filters",
    "comparison",
    "threshold",
    "interval_s",
    "renotify_s",
    "channels",
)


def parse_rule(doc: dict[str, Any], limits: RuleLimits, current: RuleSpec | None = None) -> RuleSpec:
    """A new rule from `doc`, or `current` changed by the fields `doc` names (a PATCH).

    In a PATCH, `channels` replaces the list; a channel given with its `id` keeps its stored URL and secret
    unless `url` or `secret` is sent again (so a client never has to hold them).
    """
    unknown = sorted(set(doc) - set(FIELDS))
    if unknown:
        raise RuleError(f"unknown fields {unknown}; allowed: {list(FIELDS)}")
    if current is not None:
        base = {
            "name": current.name,
            "enabled": current.enabled,
            "metric": current.metric,
            "window_s": current.window_s,
            "filters": current.filters,
            "comparison": current.comparison,
            "threshold": current.threshold,
            "interval_s": current.interval_s,
            "renotify_s": current.renotify_s,
        }
        doc = base | doc
    metric = doc.get("metric")
    if metric not in METRICS:
        raise RuleError(f"metric must be one of {list(METRICS)}")
    comparison = doc.get("comparison")
    if not isinstance(comparison, str) or comparison not in COMPARISONS:  # a JSON object is unhashable
        raise RuleError(f"comparison must be one of {list(COMPARISONS)}")
    enabled = doc.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError("enabled must be true or false")
    has_channels = "channels" in doc
    old_channels = current.channels if current is not None else ()
    return RuleSpec(
        name=_text(doc, "name", True) or "",
        metric=metric,
        window_s=_int(doc, "window_s", 1, limits.max_window_s),
        comparison=comparison,
        threshold=_threshold(doc),
        interval_s=_int(
            doc, "interval_s", limits.min_interval_s, 86_400, max(limits.default_interval_s, limits.min_interval_s)
        ),
        renotify_s=_int(doc, "renotify_s", 0, 30 * 86_400, 0),
        enabled=enabled,
        filters=_filters(doc),
        channels=_channels(doc, old_channels, limits) if has_channels else old_channels,
    )
