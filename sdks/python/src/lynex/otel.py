"""`lynex.otel.configure()`: an OpenTelemetry tracer provider that exports to Lynex Box, for apps that prefer OTel.

Spans go by OTLP/HTTP (protobuf) to the appliance's `/v1/traces` with the API key in the Authorization header;
the key names the project. The OpenTelemetry GenAI conventions (`gen_ai.*`), OpenInference and OpenLLMetry
attributes are understood by the server (docs/otlp.md), so any of their instrumentations can record through it.
Needs the `otel` extra: `pip install 'lynex[otel]'`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from lynex._client import DEFAULT_BASE_URL
from lynex._errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider


def configure(
    api_key: str | None = None,
    base_url: str | None = None,
    *,
    service_name: str | None = None,
    set_global: bool = True,
    batch: bool = True,
    resource_attributes: dict[str, Any] | None = None,
    timeout: float = 10.0,
) -> TracerProvider:
    """A `TracerProvider` exporting to `<base_url>/v1/traces`; also made the global provider unless
    `set_global=False`. api_key and base_url default to `LYNEX_API_KEY` and `LYNEX_BASE_URL`. batch=False
    exports each span as it ends (tests, scripts); call `provider.shutdown()` (or `force_flush()`) before exit."""
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError as exc:
        raise ConfigError(f"OpenTelemetry is not installed ({exc}); hint: pip install 'lynex[otel]'") from None
    key = api_key or os.environ.get("LYNEX_API_KEY")
    if not key:
        raise ConfigError("api_key is not set; hint: pass api_key= or set LYNEX_API_KEY")
    url = (base_url or os.environ.get("LYNEX_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    attributes = dict(resource_attributes or {})
    if service_name is not None:
        attributes["service.name"] = service_name
    provider = TracerProvider(resource=Resource.create(attributes))
    exporter = OTLPSpanExporter(
        endpoint=f"{url}/v1/traces", headers={"Authorization": f"Bearer {key}"}, timeout=timeout
    )
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    if set_global:
        trace.set_tracer_provider(provider)
    return provider
