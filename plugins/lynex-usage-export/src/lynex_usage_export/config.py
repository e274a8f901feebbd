"""The `[plugins.usage-export]` table, checked once at load: a bad key fails the plugin (not the server) with a
message naming the key and a hint. Pure: no I/O.

```toml
[plugins.usage-export]
attempts = 8             # tries per delivery before it is given up (kept in <plugin dir>/failed/)
backoff_s = 2.0          # first retry after this, doubling up to backoff_max_s
backoff_max_s = 600.0
timeout_s = 10.0         # per HTTP request

[plugins.usage-export.webhook]
url = "https://billing.example.com/lynex/usage"
secret = "..."           # X-Lynex-Signature, as the alerts webhook signs

[plugins.usage-export.csv]
prefix = "usage"         # objects plugins/usage-export/<prefix>/YYYY/MM/DD.csv

[plugins.usage-export.stripe]
api_key = "sk_live_..."
api_base = "https://api.stripe.com"
customers = { "prj_01..." = "cus_..." }
meters = { tokens = "lynex_tokens", cost_cents = "lynex_cost" }   # metric -> the Stripe meter's event_name
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

TABLE: Final = "[plugins.usage-export]"
# metric name -> how its value is read from a usage_day_closed event (an integer: Stripe meters sum integers)
METRICS: Final = ("tokens", "input_tokens", "output_tokens", "cost_cents", "spans", "traces", "llm_calls", "errors")


class ConfigError(ValueError):
    """A bad `[plugins.usage-export]` table; the message names the key."""


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    secret: str = ""


@dataclass(frozen=True, slots=True)
class Csv:
    prefix: str = "usage"


@dataclass(frozen=True, slots=True)
class Stripe:
    api_key: str
    api_base: str = "https://api.stripe.com"
    customers: dict[str, str] = field(default_factory=dict)
    meters: dict[str, str] = field(default_factory=dict)  # metric -> event_name


@dataclass(frozen=True, slots=True)
class ExportConfig:
    webhook: Webhook | None = None
    csv: Csv | None = None
    stripe: Stripe | None = None
    attempts: int = 8
    backoff_s: float = 2.0
    backoff_max_s: float = 600.0
    timeout_s: float = 10.0


def _http_url(value: object, key: str) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{TABLE} {key} = {value!r} must be an http(s) URL; hint: set {key}")
    return str(value)


def _number(config: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo < value <= hi:
        raise ConfigError(f"{TABLE} {key} = {value!r} must be a number in ({lo}, {hi}]")
    return float(value)


def _str_map(value: object, key: str) -> dict[str, str]:
    strings = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) and v for k, v in value.items())
    if not strings:
        raise ConfigError(f'{TABLE} {key} must be a table of strings, e.g. {{ prj_01 = "cus_123" }}')
    assert isinstance(value, dict)
    return dict(value)


def _only(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys are {sorted(allowed)}")


def _table(config: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = config.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{TABLE} {name} must be a table ([plugins.usage-export.{name}])")
    return value


def _stripe(table: dict[str, Any]) -> Stripe:
    where = "[plugins.usage-export.stripe]"
    _only(table, {"api_key", "api_base", "customers", "meters"}, where)
    api_key = table.get("api_key")
    if not isinstance(api_key, str) or not api_key:
        raise ConfigError(f"{where} api_key must be the Stripe secret key (sk_...); hint: set api_key")
    api_base = _http_url(table.get("api_base", "https://api.stripe.com"), "stripe.api_base").rstrip("/")
    customers = _str_map(table.get("customers", {}), "stripe.customers")
    meters = _str_map(table.get("meters", {}), "stripe.meters")
    if not meters:
        raise ConfigError(f'{where} meters must name at least one metric, e.g. {{ tokens = "lynex_tokens" }}')
    unknown = sorted(set(meters) - set(METRICS))
    if unknown:
        raise ConfigError(f"{where} meters: unknown metric(s) {unknown}; known metrics are {list(METRICS)}")
    return Stripe(api_key, api_base, customers, meters)


def parse(config: dict[str, Any]) -> ExportConfig:
    """The checked configuration, or ConfigError naming the bad key."""
    _only(config, {"webhook", "csv", "stripe", "attempts", "backoff_s", "backoff_max_s", "timeout_s"}, TABLE)
    webhook = csv = stripe = None
    if (table := _table(config, "webhook")) is not None:
        _only(table, {"url", "secret"}, "[plugins.usage-export.webhook]")
        secret = table.get("secret", "")
        if not isinstance(secret, str):
            raise ConfigError("[plugins.usage-export.webhook] secret must be a string")
        webhook = Webhook(_http_url(table.get("url"), "webhook.url"), secret)
    if (table := _table(config, "csv")) is not None:
        _only(table, {"prefix"}, "[plugins.usage-export.csv]")
        prefix = table.get("prefix", "usage")
        segments = prefix.split("/") if isinstance(prefix, str) else [""]
        if any(s in ("", ".", "..") for s in segments):
            raise ConfigError(f"[plugins.usage-export.csv] prefix = {prefix!r} must be a relative key like 'usage'")
        csv = Csv(prefix)
    if (table := _table(config, "stripe")) is not None:
        stripe = _stripe(table)
    if webhook is None and csv is None and stripe is None:
        raise ConfigError(f"{TABLE} names no destination; hint: add a webhook, csv or stripe table")
    attempts = config.get("attempts", 8)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 100:
        raise ConfigError(f"{TABLE} attempts = {attempts!r} must be an integer in [1, 100]")
    return ExportConfig(
        webhook, csv, stripe, attempts,
        _number(config, "backoff_s", 2.0, 0, 86_400), _number(config, "backoff_max_s", 600.0, 0, 86_400),
        _number(config, "timeout_s", 10.0, 0, 300),
    )  # fmt: skip
