"""Who and where a span belongs to: provider, user, session, environment, release, tags, metadata, parameters.

Fills the string columns the attribute tables left empty (Traceloop association properties, resource attributes),
normalises provider names to current `gen_ai.provider.name` values, and gathers the scattered metadata and model
parameter attributes of every convention into two objects kept in `attributes`: "metadata" and
"model_parameters". Pure code: mutates only the `strings` and `rest` dicts it is given, never raises, no I/O.
"""

from __future__ import annotations

from typing import Any

from lynex_box.otlp import conventions as c
from lynex_box.otlp.records import OtlpSpan
from lynex_box.otlp.values import as_str, first, json_value, loads_maybe

__all__ = ["apply_context"]


def _metadata_value(value: Any) -> Any:
    """Langfuse v5 JSON-encodes metadata values, v3 sends them raw: parse when it parses."""
    return json_value(value) if isinstance(value, str) else value


def _association(items: dict[str, Any], strings: dict[str, Any], metadata: dict[str, Any]) -> None:
    for key, value in items.items():
        lowered = key.lower()
        if lowered in c.ASSOCIATION_USER_KEYS and strings["user_id"] is None and as_str(value):
            strings["user_id"] = as_str(value)
        elif lowered in c.ASSOCIATION_SESSION_KEYS and strings["session_id"] is None and as_str(value):
            strings["session_id"] = as_str(value)
        elif lowered not in c.ASSOCIATION_USER_KEYS and lowered not in c.ASSOCIATION_SESSION_KEYS:
            metadata[key] = value


def _metadata(
    attrs: dict[str, Any], groups: dict[str, dict[str, Any]], strings: dict[str, Any], rest: dict[str, Any]
) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for whole_key, group in (
        ("langfuse.trace.metadata", "trace_metadata"),
        ("metadata", None),
        ("langfuse.observation.metadata", "metadata"),
    ):
        whole = attrs.get(whole_key)
        if whole is not None:
            parsed = json_value(whole)
            if isinstance(parsed, dict):
                metadata.update(parsed)
            else:
                rest[whole_key] = whole
        if group is not None and group in groups:
            for key, value in groups[group].items():
                metadata[key] = _metadata_value(value)
    if "association" in groups:
        _association(groups["association"], strings, metadata)
    return metadata


def _model_parameters(attrs: dict[str, Any], rest: dict[str, Any]) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    for key in c.MODEL_PARAMETER_JSON_SOURCES:
        raw = attrs.get(key)
        if raw is None:
            continue
        parsed = json_value(raw)
        if isinstance(parsed, dict):
            parameters.update(parsed)
        else:
            rest[key] = raw
    for key in attrs.keys() & c.MODEL_PARAMETER_KEYS.keys():
        parameters[c.MODEL_PARAMETER_KEYS[key]] = attrs[key]
    return parameters


def _tags(attrs: dict[str, Any]) -> list[str]:
    tags: list[str] = []
    for key in c.TAG_SOURCES:
        value = loads_maybe(attrs.get(key))
        if value is None:
            continue
        for tag in value if isinstance(value, list) else [value]:
            text = tag if isinstance(tag, str) else str(tag)
            if text and text not in tags:
                tags.append(text)
    return tags


def apply_context(
    span: OtlpSpan,
    groups: dict[str, dict[str, Any]],
    seen: set[str],
    strings: dict[str, Any],
    rest: dict[str, Any],
) -> list[str]:
    """Complete `strings` and `rest` (metadata, model_parameters, service and scope names); returns the tags.

    `seen` names the sections of `conventions.SECTION_KEYS` that have a key in the span's attributes."""
    attrs = span.attributes
    if "metadata" in seen or groups:
        metadata = _metadata(attrs, groups, strings, rest)
        if metadata:
            rest["metadata"] = metadata
    if "parameters" in seen:
        parameters = _model_parameters(attrs, rest)
        if parameters:
            rest["model_parameters"] = parameters
    provider = strings["provider"]
    if provider is not None:
        lowered = provider.strip().lower()
        strings["provider"] = c.PROVIDER_ALIASES.get(lowered, lowered)
    resource = span.resource_attributes
    if resource:
        for column, sources in c.RESOURCE_STRING_SOURCES.items():
            if strings[column] is None:
                strings[column] = first(resource, sources, as_str, {})
        for key in c.RESOURCE_KEPT:
            if key in resource and key not in rest:
                rest[key] = resource[key]
    if span.scope_name:
        rest["otel.scope.name"] = span.scope_name
        if span.scope_version:
            rest["otel.scope.version"] = span.scope_version
    return _tags(attrs) if "tags" in seen else []
