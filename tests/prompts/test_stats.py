"""Per-version prompt metrics: the SQL over spans (run on DuckDB) and the merge with registered versions."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from lynex_box.prompts import stats
from lynex_box.prompts.registry import PromptVersion


def _spans() -> pa.Table:
    rows = [
        ("qa", "1", "ok", 0.01, 100.0),
        ("qa", "1", "error", 0.03, 300.0),
        ("qa", "2", "ok", 0.02, 200.0),
        ("qa", "10", "ok", 0.02, 200.0),
        (None, None, "ok", 5.0, 1.0),
    ]
    names = ["prompt_name", "prompt_version", "status", "total_cost", "duration_ms"]
    table = pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in rows])
    return table.append_column("input_tokens", pa.array([10] * 5)).append_column("output_tokens", pa.array([1] * 5))


def _run(name: str | None) -> list[dict[str, object]]:
    con = duckdb.connect()
    con.register("spans_t", _spans())
    sql, params = stats.versions_sql(name)
    rel = con.execute(f"WITH spans AS (SELECT *, TIMESTAMP '2026-01-01' AS start_time FROM spans_t) {sql}", params)
    cols = [d[0] for d in rel.description]
    return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]


def test_metrics_per_version() -> None:
    rows = {r["prompt_version"]: r for r in _run("qa")}
    assert set(rows) == {"1", "2", "10"}
    v1 = rows["1"]
    assert (v1["count"], v1["errors"], v1["error_rate"]) == (2, 1, 0.5)
    assert abs(float(v1["total_cost"]) - 0.04) < 1e-9 and abs(float(v1["avg_cost"]) - 0.02) < 1e-9
    assert v1["p50_ms"] == 200.0 and v1["input_tokens"] == 20
    assert all(r["prompt_name"] == "qa" for r in _run(None))


def test_merge_adds_registered_versions_and_sorts_numerically() -> None:
    seen = [{"prompt_name": "qa", "prompt_version": v, "count": 1} for v in ("10", "2", "1")]
    registered = [PromptVersion("qa", "2", "two", 5, "key_x"), PromptVersion("qa", "3", "three", 6, "key_x")]
    items = stats.merge(seen, registered, with_template=True)
    assert [i["version"] for i in items] == ["1", "2", "3", "10"]
    by_version = {i["version"]: i for i in items}
    assert by_version["2"]["registered"] and by_version["2"]["template"] == "two" and by_version["2"]["count"] == 1
    assert by_version["3"]["count"] == 0 and by_version["3"]["p50_ms"] is None
    assert not by_version["1"]["registered"] and "template" not in by_version["1"]
    assert "template" not in stats.merge(seen, registered, with_template=False)[1]
