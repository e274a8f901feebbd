"""Langfuse upserts in aggregates: an observation's create and later updates count its usage and cost once.

`fold_sql` is checked against the trace view's fold (`fold_langfuse_rows`) on generated rows; `UpdateIndex` on
real Parquet files; the engine on Langfuse ingestion records, from the head, from segments and after a reopen,
through the alert metric SQL (the same `spans` relation every aggregate reads).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from lynex_box.alerts.metrics import metric_sql
from lynex_box.auth.admin import CLI_ACTOR
from lynex_box.config import Settings, load_settings
from lynex_box.engine import Engine
from lynex_box.query.engine import SpanScope
from lynex_box.query.upserts import UpdateIndex
from lynex_box.schema.span import SPAN_SCHEMA
from lynex_box.segments.encryption import is_encrypted
from lynex_box.sources.langfuse.fold import fold_langfuse_rows
from lynex_box.sources.langfuse.upserts import COST_COLUMNS, USAGE_COLUMNS, file_has_updates, fold_sql
from lynex_box.wal.records import RecordHeader, RecordType
from tests.segments.test_encryption import add_projects, new_kek_file

T0 = dt.datetime(2025, 3, 1, 10, tzinfo=dt.UTC)
MEASURES = (*USAGE_COLUMNS, *COST_COLUMNS)


def table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist([{name: row.get(name) for name in SPAN_SCHEMA.names} for row in rows], SPAN_SCHEMA)


def folded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as the `spans` relation gives them when the query may meet update rows."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("t", table(rows))
    out: list[dict[str, Any]] = (
        con.sql(f"SELECT * FROM ({fold_sql('SELECT * FROM t')}) ORDER BY event_id").to_arrow_table().to_pylist()
    )
    con.close()
    return out


def row(event: str, span: str, source: str, at: int, **values: Any) -> dict[str, Any]:
    return {"project_id": "p", "trace_id": "t", "span_id": span, "event_id": event, "source": source,
            "start_time": T0, "ingested_at": T0 + dt.timedelta(seconds=at), **values}  # fmt: skip


def usage(i: int, o: int) -> dict[str, Any]:
    return {"input_tokens": i, "output_tokens": o, "total_tokens": i + o}


def test_the_update_replaces_usage_and_cost_and_other_rows_are_untouched() -> None:
    cost = {"input_cost": 0.01, "output_cost": 0.005, "total_cost": 0.015, "cost_source": "reported"}
    new_cost = {"input_cost": 0.012, "output_cost": 0.007, "total_cost": 0.019, "cost_source": "reported"}
    rows = [
        row("a1", "both", "langfuse", 0, **usage(10, 5), **cost),
        row("a2", "both", "langfuse-update", 1, **usage(12, 7), **new_cost),
        row("b1", "late", "langfuse", 0, model="gpt-4o"),
        row("b2", "late", "langfuse-update", 1, **usage(100, 20), total_cost=0.00045, cost_source="computed"),
        row("c1", "early", "langfuse", 0, **usage(30, 4), total_cost=0.000115, cost_source="computed"),
        row("c2", "early", "langfuse-update", 1, output="done"),
        row("d1", "partial", "langfuse", 0, **usage(10, 5)),
        row("d2", "partial", "langfuse-update", 1, output_tokens=9, total_tokens=9),  # usage is one field
        row("n1", "same-id", "sdk", 0, **usage(1000, 1), total_cost=1.0),
        row("n2", "same-id", "otlp", 1, **usage(2000, 2), total_cost=2.0),  # never folded, even on one span id
    ]
    out = {r["event_id"]: r for r in folded(rows)}
    assert len(out) == len(rows)
    measured = {e: tuple(out[e][c] for c in ("input_tokens", "output_tokens", "total_tokens", "total_cost"))
                for e in out}  # fmt: skip
    assert measured == {
        "a1": (12, 7, 19, 0.019), "a2": (None, None, None, None),
        "b1": (100, 20, 120, 0.00045), "b2": (None, None, None, None),
        "c1": (30, 4, 34, 0.000115), "c2": (None, None, None, None),
        "d1": (None, 9, 9, None), "d2": (None, None, None, None),
        "n1": (1000, 1, 1001, 1.0), "n2": (2000, 2, 2002, 2.0),
    }  # fmt: skip
    assert (out["a1"]["input_cost"], out["a1"]["cost_source"], out["a2"]["cost_source"]) == (0.012, "reported", None)
    assert out["c2"]["output"] == "done" and out["b1"]["model"] == "gpt-4o"


def test_a_create_and_update_received_in_the_same_moment_take_the_create_first() -> None:
    rows = [
        row("z-update", "s", "langfuse-update", 0, **usage(2, 2)),
        row("a-create", "s", "langfuse", 0, **usage(1, 1)),
    ]
    out = {r["event_id"]: r["input_tokens"] for r in folded(rows)}
    assert out == {"a-create": 2, "z-update": None}


_maybe_int = st.one_of(st.none(), st.integers(0, 1000))
_maybe_cost = st.one_of(st.none(), st.floats(0, 10, allow_nan=False))


@st.composite
def langfuse_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    times = draw(st.permutations(range(40)))
    for n in range(draw(st.integers(0, 40))):
        values = {c: draw(_maybe_int) for c in USAGE_COLUMNS} | {c: draw(_maybe_cost) for c in COST_COLUMNS[:3]}
        values["cost_source"] = draw(st.sampled_from([None, "reported", "computed", "none"]))
        source = draw(st.sampled_from(["langfuse", "langfuse-update", "sdk", "otlp"]))
        span = f"s{draw(st.integers(0, 4))}"
        rows.append(row(f"e{n:02d}", span, source, times[n], trace_id=draw(st.sampled_from(["t1", "t2"])), **values))
    return rows


@settings(max_examples=150, deadline=None)
@given(langfuse_rows())
def test_sums_over_folded_rows_are_the_trace_views_values_and_counts_are_unchanged(rows: list[dict[str, Any]]) -> None:
    raw = sorted(table(rows).to_pylist(), key=lambda r: r["event_id"])
    out = folded(rows)
    assert [r["event_id"] for r in out] == [r["event_id"] for r in raw]
    for before, after in zip(raw, out, strict=True):
        assert {k: v for k, v in after.items() if k not in MEASURES} == {
            k: v for k, v in before.items() if k not in MEASURES
        }
        if before["source"] in ("sdk", "otlp"):
            assert after == before
    # per updated Langfuse observation: the sum over its rows is what the trace view shows for it
    updated = {(r["trace_id"], r["span_id"]) for r in raw if r["source"] == "langfuse-update"}
    view = {(r["trace_id"], r["span_id"]): r for r in fold_langfuse_rows(raw) if r["source"].startswith("langfuse")}
    for key, merged in view.items():
        mine = [r for r in out if (r["trace_id"], r["span_id"]) == key and r["source"].startswith("langfuse")]
        if key not in updated:  # creates only: as stored
            assert mine == [r for r in raw if (r["trace_id"], r["span_id"]) == key and r["source"] == "langfuse"]
            continue
        for column in MEASURES:
            present = [r[column] for r in mine if r[column] is not None]
            assert len(present) <= 1, (key, column, mine)
            assert (present[0] if present else None) == merged[column], (key, column)
    assert fold_langfuse_rows(out) == fold_langfuse_rows(raw)  # the trace view is unchanged by it
    assert folded(out) == out  # and it can be applied again


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    pq.write_table(table(rows), path, row_group_size=2)
    return path


def test_files_are_looked_into_once_and_only_update_rows_count(tmp_path: Path) -> None:
    native = write(tmp_path / "native.parquet", [row(f"n{i}", "s", "sdk", i) for i in range(5)])
    creates = write(tmp_path / "creates.parquet", [row(f"c{i}", "s", "langfuse", i) for i in range(5)])
    mixed_rows = [
        row(f"m{i}", "s", src, i) for i, src in enumerate(["otlp", "sdk", "langfuse", "otlp", "langfuse-update"])
    ]
    mixed = write(tmp_path / "mixed.parquet", mixed_rows)
    assert [file_has_updates(p) for p in (native, creates, mixed)] == [False, False, True]
    index = UpdateIndex()
    assert not index.any_in([native, creates], [])
    assert index.any_in([native, mixed], [])
    assert index.any_in([], [table([row("h", "s", "langfuse-update", 0)])])
    mixed.unlink()  # remembered: files never change, so a file is read once
    assert index.any_in([mixed], [])


def settings_for(tmp: Path) -> Settings:
    overrides = {"server": {"data_dir": str(tmp)}, "retention": {"days": 0}}
    return load_settings(env={}, overrides=overrides)


def legacy(engine: Engine, *events: dict[str, Any]) -> None:
    header = RecordHeader("p1", time.time_ns() // 1000, "langfuse")
    engine.append(RecordType.LANGFUSE_INGESTION, header, orjson.dumps({"batch": list(events)}))
    engine.catch_up()


def generation(kind: str, item: str, **body: Any) -> dict[str, Any]:
    stamp = "2025-03-01T10:00:00Z"
    return {"id": item, "type": f"generation-{kind}", "timestamp": stamp, "body": {"id": "g1", "traceId": "t1", **body}}


def alert_values(engine: Engine) -> tuple[float, float]:
    out = []
    for metric in ("tokens", "total_cost"):
        sql, params = metric_sql(metric, {})
        out.append(engine.query.run(SpanScope("p1"), sql, params).to_pylist()[0]["value"])
    return out[0], out[1]


def test_alert_metrics_count_an_updated_generation_once_from_head_segments_and_after_reopen(tmp_path: Path) -> None:
    engine = Engine.open(settings_for(tmp_path))
    native = {"events": [{"trace_id": "n", "type": "llm", "start_time": "2025-03-01T10:00:00Z",
                          "usage": {"input_tokens": 1000, "output_tokens": 0}, "cost": {"total": 1.0}}]}  # fmt: skip
    engine.append(RecordType.EVENTS, RecordHeader("p1", time.time_ns() // 1000, "sdk"), orjson.dumps(native))
    legacy(engine, generation("create", "e1", startTime="2025-03-01T10:00:00Z", usage={"input": 10, "output": 5},
                              costDetails={"total": 0.5}))  # fmt: skip
    assert alert_values(engine) == (1015, 1.5)
    engine.flush()  # the create in a segment, its update in the head
    legacy(engine, generation("update", "e2", usage={"input": 12, "output": 7}, costDetails={"total": 0.25}))
    assert alert_values(engine) == (1019, 1.25)
    engine.flush()
    assert alert_values(engine) == (1019, 1.25)
    engine.close()
    engine = Engine.open(settings_for(tmp_path))
    assert alert_values(engine) == (1019, 1.25)
    engine.close()


def test_an_encrypted_project_looks_into_its_files_and_counts_an_updated_generation_once(tmp_path: Path) -> None:
    kek = new_kek_file(tmp_path / "secrets")
    overrides = {"server": {"data_dir": str(tmp_path / "data")}, "retention": {"days": 0},
                 "encryption": {"kek_file": str(kek)}}  # fmt: skip
    engine = Engine.open(load_settings(env={}, overrides=overrides))
    add_projects(engine, "p1")
    assert engine.data_keys.enable("p1", CLI_ACTOR)
    legacy(engine, generation("create", "e1", startTime="2025-03-01T10:00:00Z", usage={"input": 10, "output": 5},
                              costDetails={"total": 0.5}))  # fmt: skip
    engine.flush()
    files = [engine.data_dir / e.path for e in engine.store.segment_entries("p1")]
    assert len(files) == 1 and is_encrypted(files[0])
    assert not engine.query.updates.any_in([], [], files, engine.store.ciphers("p1"))  # a create alone: plain SQL
    assert alert_values(engine) == (15, 0.5)
    legacy(engine, generation("update", "e2", usage={"input": 12, "output": 7}, costDetails={"total": 0.25}))
    engine.flush()  # the create and its update in two encrypted files
    files = [engine.data_dir / e.path for e in engine.store.segment_entries("p1")]
    assert len(files) == 2 and all(is_encrypted(f) for f in files)
    assert engine.query.updates.any_in([], [], files, engine.store.ciphers("p1"))
    assert alert_values(engine) == (19, 0.25)
    engine.close()
