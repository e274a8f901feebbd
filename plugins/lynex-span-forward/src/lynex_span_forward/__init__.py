"""Lynex Box plugin: forward every stored span, as JSON, to one webhook URL in batches.

`create(config)` is the entry point (`lynex_box.plugins` group, name `span-forward`): it reads the
`[plugins.span-forward]` table and returns the plugin object. The object subscribes to `spans_stored`; its hook
(on the host's delivery thread) only keeps the spans of the projects configured and hands slices of the Arrow
table to a `Batcher` (cheap: the host's queue stays short, and the batcher's bound, in spans, bounds memory). The
batcher's thread turns each span into one JSON object (the span schema's columns, times as epoch microseconds) and
POSTs them in batches (by count, bytes or delay), gzipped if asked, signed like the alerts' webhooks, retried with
backoff, under the alerts' outbound address policy (from the plugin's context). Its counters show in
GET /v1/plugins. The JSON encoding is Python work on the server's interpreter: bench/ingest.py measures its cost.
"""

from __future__ import annotations

import gzip
import time
from typing import Any
from urllib.parse import urlsplit

import orjson
import pyarrow as pa

from lynex_box.alerts.outbound import Outbound
from lynex_box.alerts.payloads import EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from lynex_box.plugins.batcher import (
    Batcher,
    BatchLimits,
    PluginConfigError,
    batch_limits,
    check_keys,
    rows_of,
    string_list,
    table_bytes,
    table_rows,
    table_slices,
)
from lynex_box.plugins.hookspecs import hookimpl
from lynex_box.schema.span import SPAN_COLUMNS

NAME = "span-forward"
EVENT = "spans"  # the X-Lynex-Event header of every request
DEFAULTS = BatchLimits(max_items=500, max_bytes=1_000_000, max_delay_s=5.0)
KEYS = {"url", "secret", "projects", "gzip", "omit", "timeout_s"}


class SpanForward:
    def __init__(self, config: dict[str, Any]) -> None:
        check_keys(config, NAME, KEYS)
        url = config.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise PluginConfigError(f"[plugins.{NAME}] url = {url!r} must be an http(s) URL; hint: set url")
        self.url = url
        self.secret = _string(config, "secret")
        self.projects = frozenset(string_list(config, NAME, "projects"))  # empty: every project
        omit = string_list(config, NAME, "omit")
        unknown = sorted(set(omit) - set(SPAN_COLUMNS))
        if unknown:
            raise PluginConfigError(f"[plugins.{NAME}] omit: {unknown} are not span columns; see docs/plugins.md")
        self.omit = frozenset(omit)
        self.gzip = config.get("gzip", False)
        if not isinstance(self.gzip, bool):
            raise PluginConfigError(f"[plugins.{NAME}] gzip = {self.gzip!r} must be true or false")
        timeout_s = config.get("timeout_s", 10.0)
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not 0 < timeout_s <= 300:
            raise PluginConfigError(f"[plugins.{NAME}] timeout_s = {timeout_s!r} must be in (0, 300]")
        self.outbound = Outbound(float(timeout_s), "lynex-span-forward")
        limits = batch_limits(config, NAME, DEFAULTS)
        self.limits = limits
        self.batcher: Batcher[pa.Table] = Batcher(NAME, self._send, limits, size_of=table_bytes, count_of=table_rows)

    @hookimpl
    def lynex_started(self, context: Any) -> None:
        self.outbound.started(context)

    @hookimpl
    def lynex_spans_stored(self, event: dict[str, Any]) -> None:
        if self.projects and event["project_id"] not in self.projects:
            return
        spans: pa.Table = event["spans"]
        if self.omit:
            spans = spans.drop_columns(sorted(self.omit & set(spans.column_names)))
        self.batcher.add(table_slices(spans, self.limits))

    def counters(self) -> dict[str, int | str]:
        return self.batcher.counters()

    def _send(self, batch: list[pa.Table]) -> None:
        spans = [orjson.dumps(row) for table in batch for row in rows_of(table)]
        sent_at = int(time.time())
        body = b'{"sent_at":%d,"count":%d,"spans":[%s]}' % (sent_at, len(spans), b",".join(spans))
        headers = {"Content-Type": "application/json", EVENT_HEADER: EVENT, TIMESTAMP_HEADER: str(sent_at)}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, str(sent_at), body)  # over the JSON, before any gzip
        if self.gzip:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        self.outbound.post(self.url, body, headers)


def _string(config: dict[str, Any], key: str) -> str:
    value = config.get(key, "")
    if not isinstance(value, str):
        raise PluginConfigError(f"[plugins.{NAME}] {key} must be a string")
    return value


def create(config: dict[str, Any]) -> SpanForward:
    """The entry point: the plugin object for the `[plugins.span-forward]` table."""
    return SpanForward(config)
