"""Lynex Box plugin: re-export stored spans to another OTLP/HTTP endpoint as protobuf `ExportTraceServiceRequest`.

`create(config)` is the entry point (`lynex_box.plugins` group, name `otlp-export`): it reads the
`[plugins.otlp-export]` table and returns the plugin object. Its `spans_stored` hook (on the host's delivery thread)
keeps the spans of the projects configured and queues slices of the Arrow table in a `Batcher`, whose thread maps
each row to an OTLP span (mapping.py: Python work on the server's interpreter) and POSTs them in batches, with the
headers configured (an API key), optionally gzipped, retried with backoff, under the alerts' outbound address
policy (from the plugin's context). Its counters show in GET /v1/plugins.
"""

from __future__ import annotations

import gzip
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from lynex_box.alerts.outbound import Outbound
from lynex_box.plugins.batcher import (
    Batcher,
    BatchLimits,
    PluginConfigError,
    batch_limits,
    check_keys,
    rows_of,
    table_bytes,
    table_rows,
    table_slices,
)
from lynex_box.plugins.hookspecs import hookimpl
from lynex_otlp_export.mapping import export_request, span_of

NAME = "otlp-export"
DEFAULTS = BatchLimits(max_items=512, max_bytes=4_000_000, max_delay_s=5.0)
KEYS = {"endpoint", "headers", "projects", "service_name", "resource_attributes", "gzip", "timeout_s"}


class OtlpExport:
    def __init__(self, config: dict[str, Any]) -> None:
        check_keys(config, NAME, KEYS)
        url = config.get("endpoint")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise PluginConfigError(
                f"[plugins.{NAME}] endpoint = {url!r} must be an http(s) URL, the receiver's traces path "
                "(e.g. https://otel.example.com:4318/v1/traces); hint: set endpoint"
            )
        self.endpoint = url
        self.headers = _string_table(config, "headers")
        self.resource = _string_table(config, "resource_attributes")
        projects = config.get("projects", [])
        if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
            raise PluginConfigError(f"[plugins.{NAME}] projects = {projects!r} must be a list of project ids")
        self.projects = frozenset(projects)  # empty: every project
        self.service_name = config.get("service_name", "unknown_service")
        if not isinstance(self.service_name, str) or not self.service_name:
            raise PluginConfigError(f"[plugins.{NAME}] service_name = {self.service_name!r} must be a non-empty string")
        self.gzip = config.get("gzip", False)
        if not isinstance(self.gzip, bool):
            raise PluginConfigError(f"[plugins.{NAME}] gzip = {self.gzip!r} must be true or false")
        timeout_s = config.get("timeout_s", 10.0)
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not 0 < timeout_s <= 300:
            raise PluginConfigError(f"[plugins.{NAME}] timeout_s = {timeout_s!r} must be in (0, 300]")
        self.outbound = Outbound(float(timeout_s), "lynex-otlp-export")
        self.rejected = 0  # spans the receiver accepted the request for but refused (OTLP partial_success)
        self.limits = batch_limits(config, NAME, DEFAULTS)
        self.batcher: Batcher[pa.Table] = Batcher(
            NAME, self._send, self.limits, size_of=table_bytes, count_of=table_rows
        )

    @hookimpl
    def lynex_started(self, context: Any) -> None:
        self.outbound.started(context)

    @hookimpl
    def lynex_spans_stored(self, event: dict[str, Any]) -> None:
        if self.projects and event["project_id"] not in self.projects:
            return
        self.batcher.add(table_slices(event["spans"], self.limits))

    def counters(self) -> dict[str, int | str]:
        return {**self.batcher.counters(), "rejected": self.rejected}

    def _send(self, batch: list[pa.Table]) -> None:
        spans = [span_of(row, self.service_name) for table in batch for row in rows_of(table)]
        body = export_request(spans, self.resource).SerializeToString()
        headers = {**self.headers, "Content-Type": "application/x-protobuf"}
        if self.gzip:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        _, answer = self.outbound.post(self.endpoint, body, headers)
        if answer:  # an OTLP answer may report spans it rejected (partial success)
            self.rejected += _rejected(answer)


def _rejected(content: bytes) -> int:
    """The `partial_success.rejected_spans` of an OTLP answer; 0 when it is not one."""
    try:
        return int(ExportTraceServiceResponse.FromString(content).partial_success.rejected_spans)
    except DecodeError:
        return 0


def _string_table(config: dict[str, Any], key: str) -> dict[str, str]:
    value = config.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise PluginConfigError(f'[plugins.{NAME}] {key} must be a table of strings, e.g. {{ x-api-key = "..." }}')
    return dict(value)


def create(config: dict[str, Any]) -> OtlpExport:
    """The entry point: the plugin object for the `[plugins.otlp-export]` table."""
    return OtlpExport(config)
