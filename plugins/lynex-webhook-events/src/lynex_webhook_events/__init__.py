"""Lynex Box plugin: POST the chosen event topics as signed JSON to one URL.

`create(config)` is the entry point (`lynex_box.plugins` group, name `webhook-events`): the plugin host calls it
with the `[plugins.webhook-events]` table and registers what it returns. The object implements only the hooks of
the topics configured, so the others are not subscribed at all. Calls arrive on the host's delivery thread of
each topic, so sending blocks (httpx, synchronous) is fine; a failure raises and the host counts it.
"""

from __future__ import annotations

import time
import types
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from lynex_box.alerts.payloads import EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from lynex_box.plugins.events import TOPICS
from lynex_box.plugins.hookspecs import hookimpl

DEFAULT_TOPICS = tuple(t for t in TOPICS if t not in ("span_batch_stored", "spans_stored", "score_written"))
NOT_JSON = ("spans_stored",)  # its event carries an Arrow table: lynex-span-forward sends spans as JSON


class ConfigError(ValueError):
    """A bad `[plugins.webhook-events]` table; the message names the key."""


def validate(config: dict[str, Any]) -> tuple[str, tuple[str, ...], str, float]:
    """(url, topics, secret, timeout_s) from the plugin's table, or ConfigError naming the bad key."""
    url = config.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise ConfigError(f"[plugins.webhook-events] url = {url!r} must be an http(s) URL; hint: set url")
    topics = config.get("topics", list(DEFAULT_TOPICS))
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        raise ConfigError(f"[plugins.webhook-events] topics = {topics!r} must be a list of topic names")
    unknown = sorted(set(topics) - set(TOPICS) | set(topics) & set(NOT_JSON))
    if unknown:
        known = sorted(set(TOPICS) - set(NOT_JSON))
        raise ConfigError(f"[plugins.webhook-events] topics: unknown {unknown}; known topics are {known}")
    secret = config.get("secret", "")
    if not isinstance(secret, str):
        raise ConfigError("[plugins.webhook-events] secret must be a string")
    timeout_s = config.get("timeout_s", 5.0)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not 0 < timeout_s <= 300:
        raise ConfigError(f"[plugins.webhook-events] timeout_s = {timeout_s!r} must be in (0, 300]")
    unknown_keys = sorted(set(config) - {"url", "topics", "secret", "timeout_s"})
    if unknown_keys:
        raise ConfigError(f"[plugins.webhook-events]: unknown key(s) {unknown_keys}")
    return url, tuple(topics), secret, float(timeout_s)


class Sender:
    """Posts one event; raises on a network error or an answer other than 2xx."""

    def __init__(self, url: str, secret: str, timeout_s: float) -> None:
        self.url, self.secret = url, secret
        self.client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def send(self, topic: str, event: dict[str, Any]) -> None:
        sent_at = int(time.time())
        body = orjson.dumps({"topic": topic, "sent_at": sent_at, "event": event})
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "lynex-webhook-events",
            EVENT_HEADER: topic,
            TIMESTAMP_HEADER: str(sent_at),
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, str(sent_at), body)
        answer = self.client.post(self.url, content=body, headers=headers)
        if not 200 <= answer.status_code < 300:
            raise RuntimeError(f"POST {self.url} answered {answer.status_code} for {topic}")


def create(config: dict[str, Any]) -> types.SimpleNamespace:
    """The plugin object: one `lynex_<topic>` hook per configured topic."""
    url, topics, secret, timeout_s = validate(config)
    sender = Sender(url, secret, timeout_s)
    hooks: dict[str, Callable[..., None]] = {}
    for topic in topics:
        hooks[TOPICS[topic]] = hookimpl(_hook(sender, topic))
    return types.SimpleNamespace(sender=sender, topics=topics, **hooks)


def _hook(sender: Sender, topic: str) -> Callable[..., None]:
    def deliver(event: dict[str, Any]) -> None:
        sender.send(topic, event)

    deliver.__name__ = TOPICS[topic]
    return deliver
