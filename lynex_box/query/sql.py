"""SQL of the query API's lists and metrics, built from validated filters: pure functions, no I/O.

Every value a client sends becomes a bound parameter; the only identifiers taken from a request
(group-by columns) are picked from a fixed allow-list. The `spans` relation the SQL reads is already
restricted to the caller's project by the query engine, so nothing here can widen a query's tenancy.
The HTTP side (query parameters to `Filters`, 400s for bad ones) is `lynex_box/api/query/filters.py`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Final

from lynex_box.schema.span import KIND_GROUPS, LLM_CALL_KINDS

Cursor = tuple[int, str]  # (time in epoch µs, id) of the last item of a page

GROUP_COLUMNS: Final = (
    "model", "provider", "name", "user_id", "environment", "kind", "session_id", "prompt_name",
    "model_id", "model_family", "model_provider", "request_fingerprint",
    "status", "service", "tag",
)  # fmt: skip
# group_by values that are not a column: the expression each stands for (fixed here, never from the client).
# `service` is OpenTelemetry's `service.name` (kept in `attributes`); `tag` groups by each tag a span carries.
GROUP_EXPRESSIONS: Final = {"service": "json_extract_string(attributes, '$.\"service.name\"')", "tag": "_tag"}
FILTER_STRINGS: Final = (
    "name", "model", "provider", "status", "user_id", "session_id", "environment", "kind",
    "model_id", "model_family", "model_provider", "request_fingerprint", "system_fingerprint",
    "prompt_name", "prompt_version",
)  # fmt: skip
ATTR_OPS: Final = ("eq", "ne", "contains", "exists")  # a condition on one attribute or metadata key
TOP_BY: Final = ("total_cost", "count", "errors")
DETECTOR_PATTERN: Final = r"[a-z0-9][a-z0-9_.-]{0,63}"  # detector names and codes: no quote, so the match is exact
# `fields=summary` of the span list: what a table of spans shows, without the text and attribute columns that make
# a page of LLM calls megabytes (the trace view loads one span's every column when it is opened).
SPAN_SUMMARY_COLUMNS: Final = (
    "event_id", "trace_id", "span_id", "parent_span_id", "name", "kind", "start_time", "end_time", "duration_ms",
    "status", "status_message", "provider", "model", "input_tokens", "output_tokens", "total_tokens", "total_cost",
    "session_id", "user_id", "environment", "release", "tags", "prompt_name", "prompt_version", "source",
    "hallucination_risk",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class AttrCondition:
    """`attributes` (`in_metadata`: its `metadata` object, where native events keep theirs) has `key` with a value
    equal to, other than, or containing `value` (case-insensitive), or has `key` at all (`exists`)."""

    key: str
    op: str  # one of ATTR_OPS
    value: str | None = None
    in_metadata: bool = False

    def path(self) -> str:
        """The JSON path of the key (validated by the API: no quote or backslash in it), bound as a parameter."""
        return f'$.metadata."{self.key}"' if self.in_metadata else f'$."{self.key}"'


@dataclass(frozen=True, slots=True)
class Filters:
    """The filters common to list endpoints."""

    start_us: int | None = None
    end_us: int | None = None
    equals: dict[str, str] = field(default_factory=dict)
    tag: str | None = None
    q: str | None = None
    min_cost: float | None = None
    max_cost: float | None = None
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    min_hallucination_risk: float | None = None
    any_of: dict[str, tuple[str, ...]] = field(default_factory=dict)  # a FILTER_STRINGS column in any of these
    tags_any: tuple[str, ...] = ()  # spans with any of these tags (several `tag` values)
    attrs: tuple[AttrCondition, ...] = ()  # every condition holds on the span
    trace_ids: tuple[str, ...] | None = None  # spans of these traces only (what a score filter matched)
    detector: str | None = None  # a detector's name or a reason code in `detections` (validated: DETECTOR_PATTERN)


def where_clause(f: Filters) -> tuple[str, dict[str, Any]]:
    """Conditions on span columns (time bounds are applied by the engine's scope)."""
    conds: list[str] = []
    params: dict[str, Any] = {}
    for i, (key, value) in enumerate(sorted(f.equals.items())):
        if key == "kind" and value in KIND_GROUPS:  # a group of kinds, e.g. llm_call = every generation-like kind
            names = [f"f{i}_{j}" for j in range(len(KIND_GROUPS[value]))]
            conds.append(f"kind IN ({', '.join('$' + n for n in names)})")
            params.update(zip(names, KIND_GROUPS[value], strict=True))
            continue
        conds.append(f"{key} = $f{i}")  # key comes from FILTER_STRINGS, never from the client
        params[f"f{i}"] = value
    if f.tag is not None:
        conds.append("list_contains(tags, $tag)")
        params["tag"] = f.tag
    _more_conditions(f, conds, params)
    if f.q is not None:
        # A case-insensitive RE2 search for the literal text reads the text once; `lower()` first made a lowered
        # copy of every input and output (twice the time over gigabytes of text).
        conds.append("(regexp_matches(input, $q) OR regexp_matches(output, $q))")
        params["q"] = literal_pattern(f.q)
    bounds = [
        ("total_cost >= $min_cost", "min_cost", f.min_cost),
        ("total_cost <= $max_cost", "max_cost", f.max_cost),
        ("duration_ms >= $min_dur", "min_dur", f.min_duration_ms),
        ("duration_ms <= $max_dur", "max_dur", f.max_duration_ms),
        ("hallucination_risk >= $min_risk", "min_risk", f.min_hallucination_risk),
    ]
    if f.detector is not None:
        # `detections` is JSON written by the pipeline (orjson, compact) or the judge overlay, always as
        # `"detector":"<name>"` and `"code":"<code>"`; the value cannot hold a quote, so this finds whole values only.
        conds.append("(contains(detections, $det_code) OR contains(detections, $det_name))")
        params.update(det_code=f'"code":"{f.detector}"', det_name=f'"detector":"{f.detector}"')
    for cond, name, bound in bounds:
        if bound is not None:
            conds.append(cond)
            params[name] = bound
    return (" AND ".join(conds) or "TRUE"), params


def _more_conditions(f: Filters, conds: list[str], params: dict[str, Any]) -> None:
    """Multi-valued columns, tags, attribute and metadata conditions, and the traces a score filter matched."""
    for i, (key, values) in enumerate(sorted(f.any_of.items())):
        kinds = [k for v in values for k in KIND_GROUPS.get(v, (v,))] if key == "kind" else list(values)
        conds.append(f"{key} IN (SELECT unnest($any{i}::VARCHAR[]))")  # key from FILTER_STRINGS, checked by the API
        params[f"any{i}"] = kinds
    if f.tags_any:
        conds.append("list_has_any(tags, $tags_any::VARCHAR[])")
        params["tags_any"] = list(f.tags_any)
    for i, a in enumerate(f.attrs):
        value = f"json_extract_string(attributes, $ap{i})"
        params[f"ap{i}"] = a.path()
        if a.op == "exists":
            conds.append(f"{value} IS NOT NULL")
            continue
        params[f"av{i}"] = a.value or ""
        if a.op == "eq":
            conds.append(f"{value} = $av{i}")
        elif a.op == "ne":  # the key is there with another value: a span without the key says nothing about it
            conds.append(f"{value} <> $av{i}")
        else:
            conds.append(f"contains(lower({value}), lower($av{i}))")
    if f.trace_ids is not None:
        conds.append("trace_id IN (SELECT unnest($score_traces::VARCHAR[]))")
        params["score_traces"] = list(f.trace_ids)


def literal_pattern(text: str) -> str:
    """An RE2 pattern that matches `text` literally, ignoring case: ASCII punctuation escaped, controls as `\\x{..}`."""
    out = []
    for ch in text:
        if ch.isalnum() or ch in " _" or ord(ch) > 127:
            out.append(ch)
        elif ch.isprintable():
            out.append("\\" + ch)
        else:
            out.append(f"\\x{{{ord(ch):x}}}")
    return "(?i)" + "".join(out)


# A Langfuse trace is merged as `langfuse.trace_view` merges it: the latest non-null value wins, from the legacy
# ingestion's trace rows (the create and its updates) and, for the name, from `langfuse.trace.name` attributes.
# A trace's span count counts a span and its update rows once.
_TRACE_ROW: Final = "source IN ('langfuse', 'langfuse-update') AND parent_span_id IS NULL AND span_id = trace_id"
_NAMED: Final = "contains(coalesce(attributes, ''), '\"langfuse.trace.name\"')"


def _latest(expression: str, rows: str) -> str:
    """The latest non-null value of `expression` among `rows` (ingest order; a create before its update)."""
    return (
        f"last({expression} ORDER BY ingested_at, source = 'langfuse-update', start_time)"
        f" FILTER (WHERE {rows} AND {expression} IS NOT NULL)"
    )


_NAME_ATTRIBUTE: Final = _latest("json_extract_string(attributes, '$.\"langfuse.trace.name\"')", _NAMED)
_NAME_ROW: Final = _latest("name", _TRACE_ROW)
_USER: Final = _latest("user_id", _TRACE_ROW)
_SESSION: Final = _latest("session_id", _TRACE_ROW)
_ENVIRONMENT: Final = _latest("environment", _TRACE_ROW)
# A trace's name, user, session and environment as `traces_sql` answers them (`sorting.py` sorts by them).
TRACE_NAME: Final = (
    f"coalesce({_NAME_ATTRIBUTE}, {_NAME_ROW}, first(name ORDER BY parent_span_id IS NOT NULL, start_time))"
)
TRACE_USER: Final = f"coalesce({_USER}, max(user_id))"
TRACE_SESSION: Final = f"coalesce({_SESSION}, max(session_id))"
TRACE_ENVIRONMENT: Final = f"coalesce({_ENVIRONMENT}, max(environment))"


def trace_starts_sql(f: Filters, cursor: Cursor | None, top_us: int, n: int) -> tuple[str, dict[str, Any]]:
    """The `n` newest traces (id, start `_t`) by their earliest span before `top_us`, of those that match `f`.

    Run over a window `[lo, end)`: a trace that started in `[lo, top)` has every span in the window, so its start
    and its match are exact; a trace that started before `lo` shows a later start (`pages.py` checks for it).
    """
    where, params = where_clause(f)
    page = "TRUE"
    if cursor is not None:
        page = "(_t < $c_t OR (_t = $c_t AND trace_id < $c_id))"
        params.update(c_t=cursor[0], c_id=cursor[1])
    matched = "" if where == "TRUE" else f" AND trace_id IN (SELECT trace_id FROM spans WHERE {where})"
    params.update(w_top=_us_to_datetime(top_us), w_n=n)
    sql = f"""
    , starts AS (
        SELECT trace_id, epoch_us(min(start_time)) AS _t FROM spans
        WHERE start_time < $w_top{matched} GROUP BY trace_id)
    SELECT trace_id, _t FROM starts WHERE {page} ORDER BY _t DESC, trace_id DESC LIMIT $w_n
    """
    return sql, params


# Which of some traces have a span in the scope (the spans before a window: traces that started earlier).
TRACES_PRESENT_SQL: Final = "SELECT DISTINCT trace_id FROM spans WHERE trace_id IN (SELECT unnest($ids::VARCHAR[]))"


def traces_sql(ids: list[str]) -> tuple[str, dict[str, Any]]:
    """One row per trace of `ids` (picked by `trace_starts_sql`), newest first; over a scope holding all their spans."""
    params: dict[str, Any] = {"ids": ids}
    sql = f"""
    , traces AS (
        SELECT trace_id,
               coalesce({_NAME_ATTRIBUTE}, {_NAME_ROW},
                        first(name ORDER BY parent_span_id IS NOT NULL, start_time)) AS name,
               min(start_time) AS start_time,
               max(coalesce(end_time, start_time)) AS end_time,
               count(DISTINCT span_id) AS span_count,
               sum(input_tokens)::BIGINT AS input_tokens,
               sum(output_tokens)::BIGINT AS output_tokens,
               sum(total_cost) AS total_cost,
               CASE WHEN bool_or(status = 'error') THEN 'error' ELSE 'ok' END AS status,
               coalesce({_USER}, max(user_id)) AS user_id,
               coalesce({_SESSION}, max(session_id)) AS session_id,
               coalesce({_ENVIRONMENT}, max(environment)) AS environment,
               max(hallucination_risk) AS hallucination_risk
        FROM spans WHERE trace_id IN (SELECT unnest($ids::VARCHAR[])) GROUP BY trace_id)
    SELECT *, (epoch_us(end_time) - epoch_us(start_time)) / 1000.0::DOUBLE AS duration_ms, epoch_us(start_time) AS _t
    FROM traces ORDER BY start_time DESC, trace_id DESC
    """
    return sql, params


def _us_to_datetime(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


def spans_sql(f: Filters, cursor: Cursor | None, limit: int, summary: bool = False) -> tuple[str, dict[str, Any]]:
    """Spans matching `f`, newest first; `summary` keeps the `SPAN_SUMMARY_COLUMNS` only."""
    where, params = where_clause(f)
    columns = ", ".join(SPAN_SUMMARY_COLUMNS) if summary else "*"
    if cursor is not None:
        where += " AND (epoch_us(start_time) < $c_t OR (epoch_us(start_time) = $c_t AND event_id < $c_id))"
        params.update(c_t=cursor[0], c_id=cursor[1])
    params["limit"] = limit + 1
    sql = f"""
    SELECT {columns}, epoch_us(start_time) AS _t FROM spans WHERE {where}
    ORDER BY start_time DESC, event_id DESC LIMIT $limit
    """
    return sql, params


def _latency_filter(latency_kind: str | None, params: dict[str, Any]) -> str:
    """`FILTER (...)` restricting the latency percentiles to one kind or kind group (`llm_call`); '' = every span."""
    if latency_kind is None:
        return ""
    kinds = KIND_GROUPS.get(latency_kind, (latency_kind,))
    names = [f"lk{j}" for j in range(len(kinds))]
    params.update(zip(names, kinds, strict=True))
    return f" FILTER (WHERE kind IN ({', '.join('$' + n for n in names)}))"


def metrics_sql(
    f: Filters,
    interval_s: int | None,
    group: str | None,
    top: int | None = None,
    top_by: str = "total_cost",
    latency_kind: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Per group and time bucket: spans (`count`), traces and LLM calls with their errors, tokens, cost,
    hallucination risk and latency percentiles (of `latency_kind`'s spans only, when given).

    A trace counts in every bucket and group where it has a matching span; it is in error when one of those is."""
    where, params = where_clause(f)
    bucket = "NULL::BIGINT"
    if interval_s is not None:
        bucket = "(epoch_us(start_time) // $bucket_us) * $bucket_us"
        params["bucket_us"] = interval_s * 1_000_000
    source = "spans"
    if group == "tag":  # one row per tag a span carries; a span without tags counts once, as (none)
        source = "(SELECT *, unnest(CASE WHEN len(tags) > 0 THEN tags ELSE [NULL] END) AS _tag FROM spans)"
    assert group is None or group in GROUP_COLUMNS  # an identifier from the allow-list, never from the client
    column = GROUP_EXPRESSIONS.get(group, group) if group else None
    group_expr = f"coalesce({column}, '(none)')" if column else "'all'"
    llm_names = [f"llm{j}" for j in range(len(LLM_CALL_KINDS))]
    params.update(zip(llm_names, LLM_CALL_KINDS, strict=True))
    is_llm = f"kind IN ({', '.join('$' + n for n in llm_names)})"
    lat = _latency_filter(latency_kind, params)
    sql = f"""
    SELECT {group_expr} AS grp, {bucket} AS t,
           count(*) AS count,
           count(*) FILTER (WHERE status = 'error') AS errors,
           count(DISTINCT trace_id) AS traces,
           count(DISTINCT trace_id) FILTER (WHERE status = 'error') AS trace_errors,
           count(*) FILTER (WHERE {is_llm}) AS llm_calls,
           count(*) FILTER (WHERE {is_llm} AND status = 'error') AS llm_errors,
           coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens,
           coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens,
           coalesce(sum(total_cost), 0) AS total_cost,
           avg(hallucination_risk) AS avg_hallucination_risk,
           max(hallucination_risk) AS max_hallucination_risk,
           quantile_cont(duration_ms, 0.5){lat} AS p50_ms,
           quantile_cont(duration_ms, 0.95){lat} AS p95_ms,
           quantile_cont(duration_ms, 0.99){lat} AS p99_ms
    FROM {source} WHERE {where}
    GROUP BY ALL
    """
    if top is None:
        return f"{sql} ORDER BY grp, t", params
    assert top_by in TOP_BY  # an identifier from the allow-list, never from the client
    params["top"] = top
    ranked = f"""
    , agg AS ({sql})
    , ranked AS (SELECT grp, sum({top_by}) AS score FROM agg GROUP BY grp ORDER BY score DESC, grp LIMIT $top)
    SELECT agg.* FROM agg JOIN ranked USING (grp) ORDER BY ranked.score DESC, grp, t
    """
    return ranked, params


def grouped_last_sql(key: str, f: Filters, cursor: Cursor | None, n: int) -> tuple[str, dict[str, Any]]:
    """The `n` sessions or users (`id`, last span start `_t`) seen last; exact over a window `[lo, end)` for those
    last seen after `lo` (`key` is 'session_id' or 'user_id', chosen by the route)."""
    assert key in ("session_id", "user_id")
    where, params = where_clause(f)
    page = "TRUE"
    if cursor is not None:
        page = "(_t < $c_t OR (_t = $c_t AND id < $c_id))"
        params.update(c_t=cursor[0], c_id=cursor[1])
    params["w_n"] = n
    sql = f"""
    , g AS (SELECT {key} AS id, epoch_us(max(start_time)) AS _t FROM spans
            WHERE {key} IS NOT NULL AND {where} GROUP BY {key})
    SELECT id, _t FROM g WHERE {page} ORDER BY _t DESC, id DESC LIMIT $w_n
    """
    return sql, params


def grouped_sql(key: str, f: Filters, ids: list[str], extra: str = "") -> tuple[str, dict[str, Any]]:
    """Aggregates of the sessions or users `ids` (picked by `grouped_last_sql`), last seen first."""
    assert key in ("session_id", "user_id")
    where, params = where_clause(f)
    params["ids"] = ids
    sql = f"""
    , g AS (
        SELECT {key} AS id,
               count(DISTINCT trace_id) AS trace_count,
               count(*) AS span_count,
               count(*) FILTER (WHERE status = 'error') AS errors,
               coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens,
               coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens,
               coalesce(sum(total_cost), 0) AS total_cost,
               min(start_time) AS first_seen,
               max(start_time) AS last_seen,
               epoch_us(max(start_time)) AS _t
               {extra}
        FROM spans WHERE {key} IN (SELECT unnest($ids::VARCHAR[])) AND {where} GROUP BY {key})
    SELECT * FROM g ORDER BY _t DESC, id DESC
    """
    return sql, params
