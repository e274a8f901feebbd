"""Model-based judges' verdicts on spans, as the query engine folds them into `hallucination_risk` and `detections`.

A judge (an LLM-as-judge evaluator, a human reviewer's tool, a plugin) gives its verdict on one span as a score
named `JUDGE_SCORE` (`hallucination_risk`), NUMERIC 0-1, with the span's trace and span ids, through the scores
route (`POST /v1/projects/{pid}/scores`, an API key): one SCORES record in the WAL, applied to meta.db, replicated
in cluster mode like every score. Spans are immutable Parquet, so the verdict is not written into them: each query
of a project reads its verdicts here (an indexed read, `scores_by_name`) and the engine joins them to the spans
(query/engine.py), so the list filters (`min_hallucination_risk`, `detector`), sorting and the span and trace
answers see `max(detectors' score, judge's score)` and the judge's reason in `detections`.

Each verdict becomes one `detections` entry: `detector` = the score's `metadata.judge` (else `judge`), `code` =
`metadata.code` (else `judge`), `score` = the value, `excerpt` = the score's comment (60 characters at most). The
latest verdict of a judge on a span replaces its earlier ones (scores with the same id are upserts; different ids
are different verdicts, and the highest counts). Pure SQL reads; no writes.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson
import pyarrow as pa

from lynex_box.meta.db import MetaDB

JUDGE_SCORE: Final = "hallucination_risk"  # the score name whose span scores are judges' verdicts
EXCERPT: Final = 60
_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")  # as a detector's name or code (query/sql.py)
VERDICT_SCHEMA: Final = pa.schema(
    [
        pa.field("_v_trace", pa.string()),
        pa.field("_v_span", pa.string()),
        pa.field("_v_risk", pa.float64()),
        pa.field("_v_detections", pa.string()),
    ]
)


def _label(metadata: Any, key: str, default: str) -> str:
    value = metadata.get(key) if isinstance(metadata, dict) else None
    if isinstance(value, str):
        value = value.strip().lower().replace(" ", "_")
        if _NAME.fullmatch(value):
            return value
    return default


def _excerpt(comment: str | None) -> str | None:
    if not comment:
        return None
    text = " ".join(comment.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


class JudgeVerdicts:
    """`table(project_id, trace_id)`: a project's verdicts (of one trace, when given) as a `VERDICT_SCHEMA` table,
    one row per span, or None when it has none (the engine then runs its plain query). Blocking: query threads."""

    def __init__(self, db: MetaDB) -> None:
        self._db = db

    def table(self, project_id: str, trace_id: str | None = None) -> pa.Table | None:
        sql = (
            "SELECT trace_id, span_id, value, comment, metadata FROM scores WHERE project_id = ? AND name = ? "
            "AND data_type = 'NUMERIC' AND span_id IS NOT NULL AND trace_id IS NOT NULL AND value IS NOT NULL"
        )
        params: tuple[Any, ...] = (project_id, JUDGE_SCORE)
        if trace_id is not None:
            sql += " AND trace_id = ?"
            params += (trace_id,)
        rows = self._db.read(sql + " ORDER BY timestamp, id", params)
        if not rows:
            return None
        spans: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for trace, span, value, comment, metadata_text in rows:
            metadata = _metadata(metadata_text)
            score = min(max(float(value), 0.0), 1.0)
            spans.setdefault((trace, span), []).append({
                "detector": _label(metadata, "judge", "judge"), "code": _label(metadata, "code", "judge"),
                "score": score, "excerpt": _excerpt(comment),
            })  # fmt: skip
        keys = list(spans)
        return pa.table(
            [
                pa.array([k[0] for k in keys], pa.string()),
                pa.array([k[1] for k in keys], pa.string()),
                pa.array([max(d["score"] for d in spans[k]) for k in keys], pa.float64()),
                pa.array([orjson.dumps(spans[k]).decode() for k in keys], pa.string()),
            ],
            schema=VERDICT_SCHEMA,
        )


def _metadata(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def fold_sql(body: str) -> str:
    """`body` (SQL of the span rows) with the verdicts of `__verdicts` (a `VERDICT_SCHEMA` relation) folded in: the
    risk the maximum of the span's and the judges', the judges' entries appended to `detections`."""
    # Both lists are JSON arrays this code base wrote (`[...]`, never empty when not null): joined as text.
    return f"""
    SELECT b.* REPLACE (
        CASE WHEN v._v_risk IS NULL THEN b.hallucination_risk
             ELSE greatest(coalesce(b.hallucination_risk, 0.0), v._v_risk) END AS hallucination_risk,
        CASE WHEN v._v_detections IS NULL THEN b.detections
             WHEN b.detections IS NULL OR b.detections = '[]' THEN v._v_detections
             ELSE left(b.detections, length(b.detections) - 1) || ',' || substr(v._v_detections, 2) END AS detections)
    FROM ({body}) b LEFT JOIN __verdicts v ON b.trace_id = v._v_trace AND b.span_id = v._v_span
    """
