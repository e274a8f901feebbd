"""Read-time merge of the rows one Langfuse trace or observation left in the store (see `observations`).

A trace or observation updated in a later request than its create is stored as more than one row with the
same span id. `fold_langfuse_rows` turns them back into one span, as Langfuse's upsert would have: rows in
ingest order, later non-null values win, except that the start time, kind and parent come from the create
(an update's are stand-ins or defaults), an error status is never cleared, and the token columns move together
(usage is one field in Langfuse; a row's total was derived from its own counts), as do the cost columns. The
query engine applies the same usage and cost rule in SQL for aggregates (`upserts`).
It only touches rows whose `source` is Langfuse's; other rows pass through unchanged. Pure.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from lynex_box.sources.langfuse.observations import SOURCE, UPDATE_SOURCE

_KEEP_FIRST: Final = frozenset({"event_id", "project_id", "trace_id", "span_id", "ingested_at"})
_USAGE: Final = ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "total_tokens")
_COST: Final = ("input_cost", "output_cost", "total_cost", "cost_source")
_SPECIAL: Final = frozenset(
    {"start_time", "duration_ms", "status", "source", "attributes", "kind", "parent_span_id", *_USAGE, *_COST}
)


def _ts(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def _start_key(value: Any) -> dt.datetime:
    return _ts(value) or dt.datetime.max.replace(tzinfo=dt.UTC)


def _order(row: dict[str, Any]) -> tuple[dt.datetime, int]:
    stamp = _ts(row.get("ingested_at")) or dt.datetime.min.replace(tzinfo=dt.UTC)
    return stamp, 0 if row.get("source") == SOURCE else 1


def merge_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One span from the rows of one Langfuse entity (at least one row)."""
    rows = sorted(rows, key=_order)
    out = dict(rows[0])
    created = [r for r in rows if r.get("source") == SOURCE]
    starts = [r["start_time"] for r in (created or rows) if r.get("start_time") is not None]
    out["start_time"] = (created[0]["start_time"] if created else min(starts, key=_start_key)) if starts else None
    for row in rows[1:]:
        for key, value in row.items():
            if value is None or value == [] or key in _KEEP_FIRST or key in _SPECIAL:
                continue
            out[key] = value
        if any(row.get(key) is not None for key in _USAGE):
            out.update({key: row.get(key) for key in _USAGE})
        if row.get("total_cost") is not None or (out.get("total_cost") is None and row.get("cost_source")):
            out.update({key: row.get(key) for key in _COST})
        if row.get("status") == "error" or out.get("status") in (None, "unset"):
            out["status"] = row.get("status") or out.get("status")
        if isinstance(row.get("attributes"), dict):
            base = out.get("attributes")
            out["attributes"] = {**(base if isinstance(base, dict) else {}), **row["attributes"]}
    for key in ("kind", "parent_span_id"):  # an update's are defaults: the create's, else the newest update's
        found = [r.get(key) for r in (created or rows[::-1]) if r.get(key)]
        out[key] = found[0] if found else None
    start, end = _ts(out.get("start_time")), _ts(out.get("end_time"))
    timed = bool(created) and start is not None and end is not None and end >= start
    out["duration_ms"] = (end - start).total_seconds() * 1000 if timed and start and end else out.get("duration_ms")
    out["source"] = SOURCE if created else UPDATE_SOURCE
    return out


def fold_langfuse_rows(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The spans with each Langfuse entity's rows merged into one, in the order of its first row."""
    groups: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for span in spans:
        if span.get("source") in (SOURCE, UPDATE_SOURCE):
            groups.setdefault((span.get("trace_id"), span.get("span_id")), []).append(span)
    if all(len(rows) == 1 for rows in groups.values()):
        return spans
    out: list[dict[str, Any]] = []
    done: set[tuple[Any, Any]] = set()
    for span in spans:
        key = (span.get("trace_id"), span.get("span_id"))
        if span.get("source") not in (SOURCE, UPDATE_SOURCE):
            out.append(span)
        elif key not in done:
            done.add(key)
            out.append(merge_rows(groups[key]))
    return out
