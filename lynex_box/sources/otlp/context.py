"""Who and where a span belongs to: provider, user, session, environment, release, tags, metadata, parameters.

Fills the string columns the attribute tables left empty (Traceloop association properties, resource attributes),
normalises provider names to current `gen_ai.provider.name` values, and gathers the scattered metadata and model
parameter attributes of every convention into two objects kept in `attributes`: "metadata" and
"model_parameters". Pure code: mutates only the `strings` and `rest` dicts it is given, never raises, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lynex_box.sources.otlp import conventions as c
from lynex_box.sources.otlp.keys import KeyPlan
from lynex_box.sources.otlp.values import as_str, first, json_value, loads_maybe

__all__ = ["ResourceContext", "apply_context", "resource_context"]


def _metadata_value(value: Any) -> Any:
    """Langfuse v5 JSON-encodes metadata values, v3 sends them raw: parse when it parses."""
    return json_value(value) if isinstance(value, str) else value


def _association(items: dict[str, Any], strings: dict[str, Any], metadata: dict[str, Any]) -> None:
    for key, value in items.items():
        lowered = key.lower()
        if lowered in c.ASSOCIATION_USER_KEYS and strings.get("user_id") is None and as_str(value):
            strings["user_id"] = as_str(value)
        elif lowered in c.ASSOCIATION_SESSION_KEYS and strings.get("session_id") is None and as_str(value):
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


def _model_parameters(
    attrs: dict[str, Any], keyed: tuple[tuple[str, str], ...], rest: dict[str, Any]
) -> dict[str, Any]:
    """JSON parameter objects, then the single-parameter keys present (`keyed`: key, name; in table order)."""
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
    if len(keyed) == 1:
        key, name = keyed[0]
        parameters[name] = attrs[key]
    elif keyed:
        found: dict[str, Any] = {}
        for key, name in keyed:  # table order: of two keys naming one parameter, the first wins (the current
            if name not in found:  # convention's spelling comes first)
                found[name] = attrs[key]
        parameters.update(found)
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


@dataclass(frozen=True, slots=True)
class ResourceContext:
    """What a resource gives each of its spans, worked out once per resource instead of once per span:
    the fallback value of some string columns, and the resource attributes copied into `attributes`."""

    fills: tuple[tuple[str, str | None], ...]
    kept: tuple[tuple[str, Any], ...]


def resource_context(resource: dict[str, Any]) -> ResourceContext:
    """The `ResourceContext` of a span's resource attributes."""
    if not resource:
        return _NO_RESOURCE
    fills = tuple(
        (column, first(resource, sources, as_str, {})) for column, sources in c.RESOURCE_STRING_SOURCES.items()
    )
    kept = tuple((key, resource[key]) for key in c.RESOURCE_KEPT if key in resource)
    return ResourceContext(fills, kept)


_NO_RESOURCE = ResourceContext((), ())


def apply_context(
    attrs: dict[str, Any],
    groups: dict[str, dict[str, Any]],
    plan: KeyPlan,
    strings: dict[str, Any],
    rest: dict[str, Any],
    resource: ResourceContext,
    scope_name: str,
    scope_version: str,
) -> list[str]:
    """Complete `strings` and `rest` (metadata, model_parameters, service and scope names); returns the tags.

    `strings` maps columns to the values the attribute tables found (a missing column is None); `plan` is the
    `KeyPlan` of the span's attribute keys (`plan.sections`: the sections of `conventions.SECTION_KEYS` present)."""
    seen = plan.sections
    if "metadata" in seen or (groups and not _METADATA_GROUPS.isdisjoint(groups)):
        metadata = _metadata(attrs, groups, strings, rest)
        if metadata:
            rest["metadata"] = metadata
    if "parameters" in seen:
        parameters = _model_parameters(attrs, plan.parameters, rest)
        if parameters:
            rest["model_parameters"] = parameters
    provider = strings.get("provider")
    if provider is not None:
        lowered = provider.strip().lower()
        strings["provider"] = _PROVIDER_ALIASES_GET(lowered, lowered)
    for column, value in resource.fills:
        if strings.get(column) is None:
            strings[column] = value
    for key, value in resource.kept:
        if key not in rest:
            rest[key] = value
    if scope_name:
        rest["otel.scope.name"] = scope_name
        if scope_version:
            rest["otel.scope.version"] = scope_version
    return _tags(attrs) if "tags" in seen else []


_PROVIDER_ALIASES_GET = c.PROVIDER_ALIASES.get
# The flattened groups `_metadata` reads: without them (and without a metadata key) it has nothing to do.
_METADATA_GROUPS = frozenset({"trace_metadata", "metadata", "association"})
