"""Read-time fold of OTLP GenAI log events into the spans they describe (see `decoder`).

The decoder stores each legacy GenAI log event as a child row of its span (`source = LOG_SOURCE`), whichever
request brought it; the trace endpoint calls `fold_log_events` on a trace's rows to put that content back on the
span. Pure.
"""

from __future__ import annotations

from typing import Any

LOG_SOURCE = "otlp-log"


def fold_log_events(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill each span's missing input/output/tool calls from its GenAI log-event rows, in time order.

    The event rows stay in the list (they are real events of the trace), so nothing is hidden.
    """
    by_span = {s["span_id"]: s for s in spans if s.get("source") != LOG_SOURCE}
    for event in sorted((s for s in spans if s.get("source") == LOG_SOURCE), key=lambda s: s["start_time"]):
        parent = by_span.get(event.get("parent_span_id"))
        if parent is None:
            continue
        for key in ("input", "output"):
            if parent.get(key) is None and event.get(key) is not None:
                parent[key] = event[key]
            elif isinstance(parent.get(key), dict) and isinstance(event.get(key), dict):
                extra = event[key].get("messages") or []
                parent[key].setdefault("messages", []).extend(extra)
        if event.get("tool_calls") and not parent.get("tool_calls"):
            parent["tool_calls"] = event["tool_calls"]
    return spans
