"""The legacy `POST /api/public/ingestion` request, checked item by item before anything is stored.

`plan_batch` sorts a request `{"batch": [{id, type, timestamp, body}, ...]}` into what goes to the WAL (trace
and observation events), what goes to the score store (score-create), and a `207` multi-status answer: every
item is a success (`201`) or an error (`400` with a message naming the field, e.g. a time outside the request's
`TimeWindow`), never silently dropped.
`sdk-log` events are acknowledged and not kept. Pure: no I/O; the route stores and then answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from lynex_box.scores.model import InvalidScore, Score, parse_score, time_us
from lynex_box.sources.common.window import TimeWindow
from lynex_box.sources.langfuse.observations import OBSERVATION_EVENTS, TRACE_CREATE, entity_of

SCORE_CREATE: Final = "score-create"
SDK_LOG: Final = "sdk-log"
EVENT_TYPES: Final = frozenset({TRACE_CREATE, SCORE_CREATE, SDK_LOG, *OBSERVATION_EVENTS})
MAX_ITEMS: Final = 10_000
_ID_MAX = 256
_NAME_MAX = 10_000
_ID_FIELDS: Final = ("id", "traceId", "parentObservationId", "sessionId", "userId")
_TIME_FIELDS: Final = ("timestamp", "startTime", "endTime", "completionStartTime")
_STRING_FIELDS: Final = ("name", "model", "level", "statusMessage", "promptName", "release", "version", "environment")


class InvalidBatch(ValueError):
    """The request as a whole is not an ingestion batch (answered 400, nothing stored)."""


@dataclass(slots=True)
class BatchPlan:
    events: list[dict[str, Any]] = field(default_factory=list)  # trace/observation events, as received
    scores: list[Score] = field(default_factory=list)
    successes: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    score_item_ids: list[str] = field(default_factory=list)
    event_item_ids: list[str] = field(default_factory=list)

    def fail(self, item_id: str, message: str, status: int = 400) -> None:
        self.errors.append({"id": item_id, "status": status, "message": message, "error": message})


def _time_error(name: str, value: Any, window: TimeWindow | None) -> str | None:
    try:
        us = time_us(value)
    except ValueError as exc:
        return f"{name}: {exc}"
    problem = window.problem(us) if window is not None else None
    return None if problem is None else f"{name}: {problem}"


def _check_body(
    kind: str, body: dict[str, Any], created: set[str], entity_id: str, window: TimeWindow | None
) -> str | None:
    for key in _ID_FIELDS:
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or not value or len(value) > _ID_MAX):
            return f"body.{key} must be a non-empty string of at most {_ID_MAX} characters"
    for key in _STRING_FIELDS:
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > _NAME_MAX):
            return f"body.{key} must be a string of at most {_NAME_MAX} characters"
    for key in _TIME_FIELDS:
        if body.get(key) is not None and (error := _time_error(f"body.{key}", body[key], window)) is not None:
            return error
    tags = body.get("tags")
    if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
        return "body.tags must be a list of strings"
    for key in ("usage", "usageDetails", "costDetails", "modelParameters"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            return f"body.{key} must be an object"
    if kind.endswith("-update") and "traceId" not in body and entity_id not in created:
        return "body.traceId is required for an update whose create is not in the same batch"
    if kind.startswith("observation-") and body.get("type") is not None and not isinstance(body["type"], str):
        return "body.type must be a string such as SPAN or GENERATION"
    return None


def _item_error(item: Any, window: TimeWindow | None) -> str | None:
    if not isinstance(item, dict):
        return "an ingestion event must be a JSON object"
    item_id = item.get("id")
    if not isinstance(item_id, str) or not item_id or len(item_id) > _ID_MAX:
        return f"id must be a non-empty string of at most {_ID_MAX} characters"
    kind = item.get("type")
    if not isinstance(kind, str) or kind not in EVENT_TYPES:  # a list or object must not reach the set lookup
        return f"type {kind!r} is not one of {sorted(EVENT_TYPES)}"
    if not isinstance(item.get("body"), dict):
        return "body must be a JSON object"
    if item.get("timestamp") is not None:
        return _time_error("timestamp", item["timestamp"], window)
    return None


def plan_batch(doc: Any, window: TimeWindow | None = None) -> BatchPlan:
    """Check every event of the request; raises `InvalidBatch` when the request itself is malformed. With a
    `window`, every time an event carries must lie in it (the route always passes one)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("batch"), list):
        raise InvalidBatch('body must be a JSON object {"batch": [...]}')
    items = doc["batch"]
    if len(items) > MAX_ITEMS:
        raise InvalidBatch(f"{len(items)} events in one request; the limit is {MAX_ITEMS}")
    plan = BatchPlan()
    shape_errors = [_item_error(item, window) for item in items]
    created = {
        entity[1]
        for item, error in zip(items, shape_errors, strict=True)
        if error is None and item["type"].endswith("-create") and (entity := entity_of(item)) is not None
    }
    for index, item in enumerate(items):
        raw_id = item.get("id") if isinstance(item, dict) else None
        item_id = raw_id if isinstance(raw_id, str) else f"#{index}"
        error = shape_errors[index]
        if error is None and item["type"] == SCORE_CREATE:
            try:
                stamp = time_us(item["timestamp"]) if item.get("timestamp") is not None else None
                plan.scores.append(parse_score(item["body"], default_id=item_id, default_time_us=stamp))
                plan.score_item_ids.append(item_id)
            except InvalidScore as exc:
                error = str(exc)
            if error is None:
                continue
        elif error is None and item["type"] != SDK_LOG:
            entity = entity_of(item)
            assert entity is not None
            error = _check_body(item["type"], item["body"], created, entity[1], window)
            if error is None:
                plan.events.append(item)
                plan.event_item_ids.append(item_id)
                continue
        if error is None:  # sdk-log: acknowledged, not stored
            plan.successes.append({"id": item_id, "status": 201})
        else:
            plan.fail(item_id, error)
    return plan


def answer(plan: BatchPlan) -> dict[str, Any]:
    """The `207` body once the events and scores are durable."""
    stored = [{"id": item_id, "status": 201} for item_id in (*plan.event_item_ids, *plan.score_item_ids)]
    return {"successes": stored + plan.successes, "errors": plan.errors}
