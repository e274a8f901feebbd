"""Data lifecycle benchmark: compaction throughput, bytes per span, and a 30-day dashboard query with everything
older than one day offloaded to the bucket (cold cache, then warm).

Spans are generated in columns (hourly segments over `--days`, as hourly flushes would leave them) and
published straight into the span store, bypassing HTTP and the WAL: this measures the lifecycle, not ingest.
The bucket is a directory by default (`--bucket DIR`), or a real S3 endpoint (`--s3-endpoint`, moto/MinIO).
Prints one JSON object.

    python bench/lifecycle.py                    # 2M spans (a few minutes on 2 cores)
    python bench/lifecycle.py --spans 10000000
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lynex_box.config import load_settings
from lynex_box.engine import Engine
from lynex_box.query.engine import SpanScope
from lynex_box.schema.span import SPAN_COLUMNS, spans_to_table

HOUR_US = 3_600_000_000
MODELS = np.array(["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "gemini-2.5-flash", "llama-3.1-70b"])
KINDS = np.array(["llm", "llm", "llm", "tool", "retriever", "agent"])
TEXTS = pa.array(
    [
        '[{"role":"user","content":"'
        + " ".join(["question about order", str(i), "and its delivery status"] * 3)
        + '"}]'
        for i in range(512)
    ]
)
DASHBOARD = """
SELECT date_trunc('day', start_time) AS day, model, count(*) AS spans,
       count(*) FILTER (WHERE status = 'error') AS errors,
       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(total_cost) AS cost,
       quantile_cont(duration_ms, 0.5) AS p50_ms, quantile_cont(duration_ms, 0.95) AS p95_ms
FROM spans GROUP BY ALL ORDER BY day, model
"""


def hour_table(project: str, start_us: int, n: int, seq: int, rng: np.random.Generator) -> pa.Table:
    ids = np.arange(seq, seq + n)
    starts = start_us + np.sort(rng.integers(0, HOUR_US, n))
    durations = rng.gamma(2.0, 400.0, n)
    in_tok = rng.integers(50, 4000, n)
    out_tok = rng.integers(5, 800, n)
    traces = pa.array([f"t{i // 8:x}" for i in ids])
    cols: dict[str, Any] = {name: pa.nulls(n, pa.string()) for name in SPAN_COLUMNS}
    cols.update(
        project_id=pa.array([project] * n),
        trace_id=traces,
        span_id=pa.array([f"s{i:x}" for i in ids]),
        event_id=pa.array([f"e{i:x}" for i in ids]),
        name=pa.array(["chat"] * n),
        kind=pa.array(KINDS[rng.integers(0, len(KINDS), n)]),
        start_time=pa.array(starts),
        end_time=pa.array(starts + (durations * 1000).astype(np.int64)),
        duration_ms=pa.array(durations),
        status=pa.array(np.where(rng.random(n) < 0.02, "error", "ok")),
        model=pa.array(MODELS[rng.integers(0, len(MODELS), n)]),
        provider=pa.array(["openai"] * n),
        input_tokens=pa.array(in_tok),
        output_tokens=pa.array(out_tok),
        total_tokens=pa.array(in_tok + out_tok),
        total_cost=pa.array(in_tok * 2.5e-6 + out_tok * 1e-5),
        cost_source=pa.array(["computed"] * n),
        input=pc.take(TEXTS, pa.array(rng.integers(0, len(TEXTS), n))),
        session_id=pa.array([f"sess{i // 40:x}" for i in ids]),
        user_id=pa.array([f"user{i % 997}" for i in ids]),
        tags=pa.nulls(n, pa.list_(pa.string())),
        hallucination_risk=pa.nulls(n, pa.float64()),
        input_cost=pa.nulls(n, pa.float64()),
        output_cost=pa.nulls(n, pa.float64()),
        cached_tokens=pa.nulls(n, pa.int64()),
        reasoning_tokens=pa.nulls(n, pa.int64()),
        ingested_at=pa.array(starts + 1_000_000),
        source=pa.array(["sdk"] * n),
    )
    return spans_to_table(cols)


def fill(engine: Engine, project: str, spans: int, days: int) -> float:
    """Publish `spans` over `days` as hourly segments; returns seconds taken."""
    rng = np.random.default_rng(7)
    hours = days * 24
    per_hour = spans // hours
    now_us = time.time_ns() // 1000
    first = (now_us // HOUR_US - hours) * HOUR_US
    began = time.perf_counter()
    for h in range(hours):
        table = hour_table(project, first + h * HOUR_US, per_hour, h * per_hour, rng)
        lsn = engine.store.next_lsn
        engine.store.append(table, lsn, lsn)  # no WAL record behind it: a bench shortcut, see the docstring
        engine.store.flush()
        if h % 24 == 23:
            print(f"day {h // 24 + 1}/{days} published {time.perf_counter() - began:.0f}s", file=sys.stderr)
    return time.perf_counter() - began


def mismatches(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> int:
    """Rows that differ; floats compare with a relative tolerance, since parallel aggregation sums them in a
    different order from run to run (even between two all-local runs)."""
    if len(a) != len(b):
        return abs(len(a) - len(b)) + min(len(a), len(b))
    bad = 0
    for x, y in zip(a, b, strict=True):
        for key, value in x.items():
            other = y[key]
            if isinstance(value, float) and isinstance(other, float):
                ok = math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-12)
            else:
                ok = value == other
            if not ok:
                bad += 1
                break
    return bad


def disk_bytes(engine: Engine) -> int:
    return sum(e.bytes for e in engine.store.segment_entries())


def timed(fn: Any) -> tuple[Any, float]:
    began = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--bucket", help="directory playing the bucket (default: a temporary one)")
    parser.add_argument("--s3-endpoint", help="an S3 endpoint (bucket 'bench' must exist), e.g. a moto server")
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="lynex-bench-lifecycle-"))
    if args.s3_endpoint:
        bucket = {"type": "s3", "bucket": "bench", "endpoint": args.s3_endpoint, "allow_http": True,
                  "access_key_id": "bench", "secret_access_key": "bench"}  # fmt: skip
    else:
        bucket = {"type": "directory", "directory": args.bucket or str(root / "bucket")}
    settings = load_settings(
        env={},
        overrides={
            "server": {"data_dir": str(root / "data")},
            "wal": {"durability": "os"},
            "head": {"max_rows": 10_000_000, "max_bytes": 8 << 30},
            "lifecycle": {"grace_period_s": 0.0},
            "offload": {"hot_window_s": 86_400, "cache_max_bytes": 64 << 30},
            "retention": {"days": 0},
            "bucket": bucket,
        },
    )
    engine = Engine.open(settings)
    project = "bench"
    try:
        fill_s = fill(engine, project, args.spans, args.days)
        spans = sum(e.row_count for e in engine.store.segment_entries())
        before = disk_bytes(engine), len(engine.store.segment_entries())
        began = time.perf_counter()
        merges = 0
        while (done := engine.lifecycle.compact()) > 0:
            merges += done
        compact_s = time.perf_counter() - began
        after = disk_bytes(engine), len(engine.store.segment_entries())
        expected, local_query_s = timed(lambda: engine.query.run(SpanScope(project), DASHBOARD).to_pylist())
        moved, offload_s = timed(engine.lifecycle.offload)
        assert engine.lifecycle.cache is not None
        engine.lifecycle.cache.trim(0)
        cold, cold_s = timed(lambda: engine.query.run(SpanScope(project), DASHBOARD).to_pylist())
        warm, warm_s = timed(lambda: engine.query.run(SpanScope(project), DASHBOARD).to_pylist())
        different = mismatches(expected, cold) + mismatches(expected, warm)
        remote = sum(e.location == "remote" for e in engine.store.segment_entries())
        result = {
            "spans": spans,
            "days": args.days,
            "bucket": "s3" if args.s3_endpoint else "directory",
            "publish_s": round(fill_s, 2),
            "segments_before_compaction": before[1],
            "bytes_per_span_before_compaction": round(before[0] / spans, 1),
            "compaction_merges": merges,
            "compaction_s": round(compact_s, 2),
            "compaction_spans_per_s": round(spans / compact_s) if compact_s else None,
            "segments_after_compaction": after[1],
            "bytes_per_span_after_compaction": round(after[0] / spans, 1),
            "offloaded_segments": moved,
            "remote_segments": remote,
            "offload_s": round(offload_s, 2),
            "dashboard_30d_all_local_s": round(local_query_s, 3),
            "dashboard_30d_offloaded_cold_s": round(cold_s, 3),
            "dashboard_30d_offloaded_warm_s": round(warm_s, 3),
            "dashboard_rows": len(expected),
            "dashboard_rows_differing_from_all_local": different,
        }
    finally:
        engine.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
