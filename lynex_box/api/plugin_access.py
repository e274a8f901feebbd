"""The functions of a plugin's `PluginContext` that reach the server (app.py builds them): read one trace's spans
and write scores.

Both are blocking and refuse to run on the event loop (a plugin's topic hooks run on their own threads). A trace is
read through the query engine scoped to the named project, as `GET .../traces/{trace_id}` reads it (Langfuse
update rows are not folded). Scores go the score API's way: validated as a client's scores, appended to the WAL
as one SCORES record and acknowledged once durable; the pipeline applies them to meta.db (and, in cluster mode,
queues them for the other nodes). A plugin's scores carry its name in `metadata.plugin` and in the record's source.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from lynex_box.config import Settings
from lynex_box.engine import Engine
from lynex_box.plugins.context import ScoreWriter, TraceReader
from lynex_box.query.engine import SpanScope
from lynex_box.scores import InvalidScore, Score, encode_scores, parse_score
from lynex_box.wal.records import RecordHeader, RecordType

MAX_ID = 256
TRACE_SQL = "SELECT * FROM spans ORDER BY start_time, span_id"


class PluginAccessError(ValueError):
    """A plugin's read or write the server refuses; the message names the value and a hint."""


def _off_loop(what: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise PluginAccessError(f"{what} blocks: call it from a hook's thread, not the event loop; hint: asyncio.to_thread")


def _id(name: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID:
        raise PluginAccessError(f"{name} = {value!r} must be a non-empty string of at most {MAX_ID} characters")
    return value


def trace_reader(engine: Engine) -> TraceReader:
    def read_trace(project_id: str, trace_id: str) -> pa.Table:
        """The spans of one trace of one project (empty when none), ordered by start."""
        _off_loop("read_trace")
        scope = SpanScope(_id("project_id", project_id), trace_id=_id("trace_id", trace_id))
        return engine.query.run(scope, TRACE_SQL, dedupe=True)

    return read_trace


def _score(item: Any, plugin: str, index: int) -> Score:
    if not isinstance(item, dict):
        raise PluginAccessError(f"scores[{index}] is a {type(item).__name__}, not a score object")
    metadata = item.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise PluginAccessError(f"scores[{index}].metadata must be an object (the plugin's name is added to it)")
    obj = {**item, "source": item.get("source") or "EVAL", "metadata": {**(metadata or {}), "plugin": plugin}}
    try:
        return parse_score(obj)
    except InvalidScore as exc:
        raise PluginAccessError(f"scores[{index}]: {exc}") from None


def score_writer(engine: Engine, settings: Settings, read_only: Callable[[], str | None]) -> ScoreWriter:
    """`read_only()` says why writes are refused now (`ReadOnlyMode.reason`), None when they are taken."""

    def write_scores(project_id: str, scores: list[dict[str, Any]], plugin: str = "") -> list[str]:
        """Store `scores` (the score API's objects) under `project_id`; the ids, once the record is durable."""
        _off_loop("write_scores")
        refused = read_only()
        if refused is not None:
            raise PluginAccessError(f"no scores stored: {refused}")
        _id("project_id", project_id)
        limit = settings.ingest.max_scores_per_request
        if not isinstance(scores, list) or not 0 < len(scores) <= limit:
            raise PluginAccessError(f"scores must be a list of 1 to {limit} score objects ([ingest] limit)")
        parsed = [_score(item, plugin, i) for i, item in enumerate(scores)]
        header = RecordHeader(project_id, time.time_ns() // 1000, f"plugin:{plugin}" if plugin else "plugin")
        engine.append(RecordType.SCORES, header, encode_scores(parsed))
        return [s.id for s in parsed]

    return write_scores
