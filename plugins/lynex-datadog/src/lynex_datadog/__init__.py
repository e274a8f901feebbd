"""Lynex Box plugin: alerts as Datadog events, and metrics of the stored spans as Datadog series.

`create(config)` is the entry point (`lynex_box.plugins` group, name `datadog`): it reads the `[plugins.datadog]`
table and returns the plugin object, which implements only what is switched on:

- `alert_fired` / `alert_resolved` -> one `POST {site}/api/v1/events` each, on the host's delivery thread (a
  failure raises: the host counts it as the subscription's error);
- `spans_stored` -> the spans reduced to per (project, model, service) partials (metrics.py) handed to a
  `Batcher` that flushes every `flush_interval_s` to `POST {site}/api/v2/series`, retried with backoff.

Every request carries `DD-API-KEY` and goes under the alerts' outbound address policy (the plugin's context).
"""

from __future__ import annotations

import time
import types
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson

from lynex_box.alerts.outbound import Outbound
from lynex_box.plugins.batcher import (
    Batcher,
    BatchLimits,
    PluginConfigError,
    batch_limits,
    check_keys,
    string_list,
)
from lynex_box.plugins.hookspecs import hookimpl
from lynex_datadog.metrics import Partial, partials, series

NAME = "datadog"
KEYS = {"api_key", "site", "events", "metrics", "flush_interval_s", "projects", "tags", "metric_prefix", "timeout_s"}
_ALERT_TYPES = {"firing": "error", "renotify": "error", "resolved": "success"}


def _site(value: Any) -> str:
    """The API base: `datadoghq.eu` -> `https://api.datadoghq.eu`; a full http(s) URL as it is (a proxy, a test)."""
    if not isinstance(value, str) or not value:
        raise PluginConfigError(f"[plugins.{NAME}] site = {value!r} must be a Datadog site or an http(s) URL")
    if "://" not in value:
        return f"https://api.{value.removeprefix('api.')}"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PluginConfigError(f"[plugins.{NAME}] site = {value!r} must be a Datadog site or an http(s) URL")
    return value.rstrip("/")


class Datadog:
    def __init__(self, config: dict[str, Any]) -> None:
        check_keys(config, NAME, KEYS)
        api_key = config.get("api_key")
        if not isinstance(api_key, str) or not api_key:
            raise PluginConfigError(f"[plugins.{NAME}] api_key is required (a Datadog API key); hint: set api_key")
        self.headers = {"DD-API-KEY": api_key, "Content-Type": "application/json"}
        self.site = _site(config.get("site", "datadoghq.com"))
        self.projects = frozenset(string_list(config, NAME, "projects"))  # empty: every project
        self.tags = string_list(config, NAME, "tags")
        self.prefix = config.get("metric_prefix", "lynex")
        if not isinstance(self.prefix, str) or not self.prefix:
            raise PluginConfigError(f"[plugins.{NAME}] metric_prefix = {self.prefix!r} must be a non-empty string")
        self.events, self.metrics = _flag(config, "events"), _flag(config, "metrics")
        interval = config.get("flush_interval_s", 60)
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not 1 <= interval <= 3600:
            raise PluginConfigError(f"[plugins.{NAME}] flush_interval_s = {interval!r} must be in [1, 3600]")
        self.interval_s = float(interval)
        timeout_s = config.get("timeout_s", 10.0)
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not 0 < timeout_s <= 300:
            raise PluginConfigError(f"[plugins.{NAME}] timeout_s = {timeout_s!r} must be in (0, 300]")
        self.outbound = Outbound(float(timeout_s), "lynex-datadog")
        self.events_sent = self.events_failed = 0
        # a flush every interval: the delay closes a batch; count and bytes only split a very busy interval
        limits = batch_limits(config, NAME, BatchLimits(100_000, 100_000_000, self.interval_s))
        self.batcher: Batcher[Partial] | None = None
        if self.metrics:
            self.batcher = Batcher(f"{NAME}-metrics", self._send_series, limits, size_of=Partial.size,
                                   count_of=lambda p: p.spans)  # fmt: skip

    def started(self, context: Any) -> None:
        self.outbound.started(context)

    def spans_stored(self, event: dict[str, Any]) -> None:
        if self.batcher is None or (self.projects and event["project_id"] not in self.projects):
            return
        self.batcher.add(partials(event["project_id"], event["spans"]))

    def alert(self, event: dict[str, Any]) -> None:
        """One Datadog event for an alert notification; raises when Datadog does not take it."""
        if self.projects and event["project_id"] not in self.projects:
            return
        rule = event.get("rule") or {}
        name = rule.get("name") or event["rule_id"]
        state = {"firing": "FIRING", "renotify": "STILL FIRING", "resolved": "RESOLVED"}.get(event["event"], "")
        text = f"{rule.get('metric', 'value')} = {event.get('value')}"
        if event.get("link"):
            text += f"\n{event['link']}"
        project, rule_id = event["project_id"], event["rule_id"]
        body = {
            "title": f"[Lynex Box] {state}: {name}", "text": text,
            "alert_type": _ALERT_TYPES.get(event["event"], "info"), "source_type_name": "lynex",
            "aggregation_key": f"lynex-alert-{rule_id}", "date_happened": int(event["sent_at_us"] // 1_000_000),
            "tags": [f"project:{project}", f"rule:{rule_id}", f"event:{event['event']}", *self.tags],
        }  # fmt: skip
        try:
            self.outbound.post(f"{self.site}/api/v1/events", orjson.dumps(body), self.headers)
        except Exception:
            self.events_failed += 1
            raise
        self.events_sent += 1

    def counters(self) -> dict[str, int | str]:
        metrics = self.batcher.counters() if self.batcher is not None else {}
        return {**{f"spans_{k}" if k in ("sent", "failed", "dropped", "queued") else k: v for k, v in metrics.items()},
                "events_sent": self.events_sent, "events_failed": self.events_failed}  # fmt: skip

    def _send_series(self, batch: list[Partial]) -> None:
        body = series(batch, self.prefix, int(time.time()), int(self.interval_s), self.tags)
        self.outbound.post(f"{self.site}/api/v2/series", orjson.dumps(body), self.headers)


def _flag(config: dict[str, Any], key: str) -> bool:
    value = config.get(key, True)
    if not isinstance(value, bool):
        raise PluginConfigError(f"[plugins.{NAME}] {key} = {value!r} must be true or false")
    return value


def create(config: dict[str, Any]) -> types.SimpleNamespace:
    """The entry point: an object with only the hooks switched on (`events`, `metrics`), so the topics it does not
    use are not subscribed at all."""
    dd = Datadog(config)
    hooks: dict[str, Callable[..., None]] = {"lynex_started": _started_hook(dd.started)}
    if dd.events:
        hooks["lynex_alert_fired"] = _hook("lynex_alert_fired", dd.alert)
        hooks["lynex_alert_resolved"] = _hook("lynex_alert_resolved", dd.alert)
    if dd.metrics:
        hooks["lynex_spans_stored"] = _hook("lynex_spans_stored", dd.spans_stored)
    return types.SimpleNamespace(datadog=dd, counters=dd.counters, **hooks)


def _hook(name: str, fn: Callable[[Any], None]) -> Callable[..., None]:
    # pluggy passes the arguments a hook function names: `event`, spelled out
    def hook(event: dict[str, Any]) -> None:
        fn(event)

    hook.__name__ = name
    return hookimpl(hook)


def _started_hook(fn: Callable[[Any], None]) -> Callable[..., None]:
    def lynex_started(context: Any) -> None:
        fn(context)

    return hookimpl(lynex_started)
