"""Offload to a real S3-compatible server (moto), reads through the bounded cache, rehydration, and outages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lynex_box.lifecycle.janitor import sweep_bucket
from lynex_box.lifecycle.offload import pin, unpin
from lynex_box.objstore import MemoryStore, PutResult, StoreUnavailable
from lynex_box.query.engine import SpanScope
from tests.lifecycle.conftest import DAY_MS, add_segment, directory_bucket, events, ingest, now_ms, rows, s3_bucket
from tests.objstore.conftest import MotoServer

AGG = "SELECT model, count(*) AS n, sum(input_tokens) AS tokens, min(start_time) AS first FROM spans GROUP BY ALL"


def local_parquet(engine: Any) -> list[Path]:
    return sorted((engine.data_dir / "segments").rglob("*.parquet"))


def test_offloaded_segments_read_from_the_bucket_equal_local_reads(
    open_engine: Any, moto_server: MotoServer, bucket: str
) -> None:
    engine = open_engine(bucket=s3_bucket(moto_server, bucket), offload={"hot_window_s": 2 * 86_400})
    for k in range(4):
        add_segment(engine, "p1", f"old{k}", 25, now_ms() - (10 - k) * DAY_MS)
    add_segment(engine, "p1", "recent", 25, now_ms() - DAY_MS // 2)
    ingest(engine, "p1", events("head", 5, now_ms()))
    engine.catch_up()
    expected, expected_agg = rows(engine), rows(engine, sql=AGG)

    assert engine.lifecycle.offload() == 4
    locations = sorted(e.location for e in engine.store.segment_entries())
    assert locations == ["local", "remote", "remote", "remote", "remote"]
    assert len(local_parquet(engine)) == 1  # the offloaded local copies are gone (grace 0)
    keys = [m.key for m in engine.lifecycle.bucket.list("segments")]
    node = engine.lifecycle.ctx.node_id
    assert len(keys) == 4 and all(k.startswith(f"segments/{node}/p1/") and k.endswith(".parquet") for k in keys)

    assert rows(engine) == expected  # mixed local + remote + head equals all-local
    assert rows(engine, sql=AGG) == expected_agg
    assert engine.lifecycle.cache.stats()["misses"] == 4
    assert rows(engine) == expected
    assert engine.lifecycle.cache.stats()["hits"] == 8  # warm cache: no download

    engine.close()  # and after a restart (the cache starts empty)
    engine = open_engine(bucket=s3_bucket(moto_server, bucket), offload={"hot_window_s": 2 * 86_400})
    assert rows(engine) == expected


def test_the_cache_is_bounded_by_bytes_and_evicts_the_least_recently_used(open_engine: Any, tmp_path: Path) -> None:
    engine = open_engine(bucket=directory_bucket(tmp_path / "bucket"), offload={"hot_window_s": 0})
    for k in range(3):
        add_segment(engine, "p1", f"d{k}", 30, now_ms() - (k + 1) * DAY_MS)
    sizes = sorted(e.bytes for e in engine.store.segment_entries())
    expected = rows(engine)
    engine.lifecycle.offload()
    cache = engine.lifecycle.cache
    cache.max_bytes = sizes[-1] + sizes[-2]  # room for two files, not three
    for k in range(3):  # day by day: each query needs one file
        day = (now_ms() - (k + 1) * DAY_MS) * 1000
        engine.query.run(SpanScope("p1", day, day + 3600 * 10**6), "SELECT count(*) FROM spans")
        assert cache.total_bytes <= cache.max_bytes
    assert cache.stats()["files"] == 2
    cache.max_bytes = sizes[0] - 1
    with pytest.raises(Exception, match="cache_max_bytes"):
        rows(engine)
    cache.max_bytes = sum(sizes)
    assert rows(engine) == expected


def test_rehydrate_pins_a_range_back_to_local_disk(open_engine: Any, tmp_path: Path) -> None:
    bucket_dir = tmp_path / "bucket"
    engine = open_engine(bucket=directory_bucket(bucket_dir), offload={"hot_window_s": 86_400})
    add_segment(engine, "p1", "a", 10, now_ms() - 5 * DAY_MS)
    add_segment(engine, "p1", "b", 10, now_ms() - 3 * DAY_MS)
    expected = rows(engine)
    engine.lifecycle.offload()
    assert local_parquet(engine) == []
    pin(engine.meta, "p1", (now_ms() - 6 * DAY_MS) * 1000, (now_ms() - 4 * DAY_MS) * 1000, 0)
    assert engine.lifecycle.offload() == 0  # rehydrates the pinned range and leaves it local
    assert sorted(e.location for e in engine.store.segment_entries()) == ["local", "remote"]
    assert len(local_parquet(engine)) == 1 and len(list(bucket_dir.rglob("*.parquet"))) == 2  # the copy stays
    assert rows(engine) == expected


def test_a_bucket_copy_is_reused_only_when_its_checksum_matches(open_engine: Any, tmp_path: Path) -> None:
    bucket_dir = tmp_path / "bucket"
    engine = open_engine(bucket=directory_bucket(bucket_dir), offload={"hot_window_s": 86_400})
    add_segment(engine, "p1", "a", 10, now_ms() - 5 * DAY_MS)
    add_segment(engine, "p1", "b", 10, now_ms() - 5 * DAY_MS + 60_000)
    expected = rows(engine)
    engine.lifecycle.offload()
    pin(engine.meta, "p1", 0, now_ms() * 1000, 0)
    engine.lifecycle.rehydrate()  # local again, each keeping its bucket copy (remote_key, checksum)
    kept = {e.id: e.remote_key for e in engine.store.segment_entries()}
    assert all(kept.values()) and len(kept) == 2
    damaged, intact = sorted(kept.values())
    store = engine.lifecycle.bucket
    blob = bytearray(store.get(damaged).data)
    blob[len(blob) // 2] ^= 0xFF  # same size, other bytes: a size check alone would take it
    store.put(damaged, bytes(blob))

    unpin(engine.meta, "p1")
    assert engine.lifecycle.offload() == 2
    keys = sorted(e.remote_key for e in engine.store.segment_entries())
    assert intact in keys and damaged not in keys  # the intact copy reused, the damaged one replaced
    engine.lifecycle.cache.trim(0)
    assert rows(engine) == expected


class FlakyStore(MemoryStore):
    """A bucket that fails while `down` is set: puts land (or not) and then the connection drops."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def put_file(self, key: str, path: Path) -> PutResult:
        result = super().put_file(key, path)
        if self.down:
            raise StoreUnavailable("connection reset during upload", key=key)
        return result


def test_a_failed_upload_leaves_the_segment_local_and_is_retried(open_engine: Any) -> None:
    engine = open_engine(offload={"hot_window_s": 0})
    store = FlakyStore()
    engine.lifecycle.bucket = engine.lifecycle.ctx.bucket = store
    add_segment(engine, "p1", "x", 10, now_ms() - DAY_MS)
    expected = rows(engine)
    store.down = True
    assert engine.lifecycle.offload() == 0
    assert [e.location for e in engine.store.segment_entries()] == ["local"] and rows(engine) == expected
    store.down = False
    assert engine.lifecycle.offload() == 1
    assert [e.location for e in engine.store.segment_entries()] == ["remote"]


def test_a_bucket_outage_loses_nothing_and_ingest_and_recent_queries_keep_working(
    open_engine: Any, restartable_moto: Any
) -> None:
    start, stop = restartable_moto
    server = start()
    server.create_bucket("outage")
    settings = {"bucket": s3_bucket(server, "outage"), "offload": {"hot_window_s": 2 * 86_400}}
    engine = open_engine(**settings)
    add_segment(engine, "p1", "cold", 20, now_ms() - 5 * DAY_MS)
    add_segment(engine, "p1", "warm", 20, now_ms() - DAY_MS)
    expected = rows(engine)

    stop()  # the bucket goes away
    assert engine.lifecycle.offload() == 0
    assert [e.location for e in engine.store.segment_entries()] == ["local", "local"]
    add_segment(engine, "p1", "during", 10, now_ms())  # ingest and flush still work
    assert len(rows(engine)) == len(expected) + 10  # and queries too

    server = start()  # the bucket is back (a fresh moto: create the bucket again)
    server.create_bucket("outage")
    assert engine.lifecycle.offload() == 1
    assert sorted(e.location for e in engine.store.segment_entries()) == ["local", "local", "remote"]
    assert len(rows(engine)) == len(expected) + 10


def test_orphaned_bucket_objects_are_swept_once_old_enough(open_engine: Any, tmp_path: Path) -> None:
    engine = open_engine(bucket=directory_bucket(tmp_path / "bucket"), offload={"hot_window_s": 0})
    add_segment(engine, "p1", "x", 10, now_ms() - DAY_MS)
    engine.lifecycle.offload()
    node = engine.lifecycle.ctx.node_id
    engine.lifecycle.bucket.put(f"segments/{node}/p1/01ORPHAN.parquet", b"an upload whose switch never happened")
    assert sweep_bucket(engine.lifecycle.ctx) == 0  # too young: it may be an upload in progress
    assert sweep_bucket(engine.lifecycle.ctx, min_age_s=-1) == 1
    assert [m.key for m in engine.lifecycle.bucket.list("segments")] == [engine.store.segment_entries()[0].path]
    assert len(rows(engine)) == 10


def test_a_project_hot_window_overrides_the_default(open_engine: Any, tmp_path: Path) -> None:
    from lynex_box.auth import projects
    from lynex_box.auth.admin import CLI_ACTOR

    engine = open_engine(bucket=directory_bucket(tmp_path / "bucket"), offload={"hot_window_s": 2 * 86_400})

    def setting(project: str, value: int | None) -> None:
        """As the settings API and `lynex-box projects set-hot-window` store it."""
        engine.meta.write(lambda c: projects.update(c, CLI_ACTOR, project, {"hot_window_s": value}))

    def tx(conn: Any) -> None:
        conn.execute("INSERT INTO orgs (id, name, created_at) VALUES ('o', 'o', 0)")
        for p in ("p1", "p2", "p3"):
            conn.execute("INSERT INTO projects (id, org_id, name, created_at) VALUES (?, 'o', ?, 0)", (p, p))

    engine.meta.write(tx)
    for p in ("p1", "p2", "p3"):
        add_segment(engine, p, f"{p}-old", 5, now_ms() - 3 * DAY_MS)
        add_segment(engine, p, f"{p}-new", 5, now_ms() - 3600_000)
    setting("p2", 10 * 86_400)  # keeps 10 days local
    setting("p3", 0)  # offloads as soon as flushed
    assert engine.lifecycle.offload() == 3

    def remote(project: str) -> int:
        return sum(e.location == "remote" for e in engine.store.segment_entries() if e.project_id == project)

    assert (remote("p1"), remote("p2"), remote("p3")) == (1, 0, 2)
    setting("p2", None)  # back to the default
    assert engine.lifecycle.offload() == 1 and remote("p2") == 1
    with pytest.raises(Exception, match="hot_window_s must be null"):
        setting("p1", -1)
