"""The shared segment rewrite (lifecycle/rewrite.py): a staged file is invisible until its commit, a refused
commit removes what was written (local file or bucket object) and leaves the old segment published, and a
skipped rewrite leaves nothing behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lynex_box.lifecycle.rewrite import commit, stage
from lynex_box.meta.catalog import CatalogConflict
from tests.lifecycle.conftest import DAY_MS, add_segment, directory_bucket, now_ms, rows


def test_a_staged_rewrite_is_seen_only_after_its_commit(open_engine: Any) -> None:
    engine = open_engine()
    add_segment(engine, "p1", "a", 10, now_ms() - DAY_MS)
    expected = rows(engine)
    [entry] = engine.store.segment_entries("p1")
    staged = stage(engine.lifecycle.ctx, [entry], level=3)
    assert staged.local is not None and staged.local.exists() and staged.new is not None
    assert [e.id for e in engine.store.segment_entries("p1")] == [entry.id]  # not yet swapped in
    staged.commit()
    [new] = engine.store.segment_entries("p1")
    assert (new.id, new.level, new.row_count) == (staged.new.id, 3, 10)
    assert [d.id for d in engine.catalog.deleting()] == [entry.id]  # the old file waits for the grace period
    assert rows(engine) == expected


def test_a_refused_commit_removes_the_new_local_file(open_engine: Any) -> None:
    engine = open_engine()
    add_segment(engine, "p1", "a", 10, now_ms() - DAY_MS)
    [entry] = engine.store.segment_entries("p1")
    ctx = engine.lifecycle.ctx
    late, first = stage(ctx, [entry]), stage(ctx, [entry])
    first.commit()
    with pytest.raises(CatalogConflict):
        late.commit()  # its input was replaced meanwhile
    assert late.local is not None and not late.local.exists()
    assert [e.id for e in engine.store.segment_entries("p1")] == [first.new.id if first.new else None]
    assert (engine.data_dir / engine.store.segment_entries("p1")[0].path).exists()


def test_a_refused_commit_removes_the_uploaded_object(open_engine: Any, tmp_path: Path) -> None:
    engine = open_engine(bucket=directory_bucket(tmp_path / "bucket"), offload={"hot_window_s": 0})
    add_segment(engine, "p1", "a", 10, now_ms() - 2 * DAY_MS)
    assert engine.lifecycle.offload() == 1
    [entry] = engine.store.segment_entries("p1")
    ctx = engine.lifecycle.ctx
    late, first = stage(ctx, [entry]), stage(ctx, [entry])
    assert late.key and first.key and late.new and late.new.location == "remote"
    assert not any(ctx.scratch.iterdir())  # the scratch copies are gone once uploaded
    commit(ctx, [first])
    with pytest.raises(CatalogConflict):
        commit(ctx, [late])
    assert ctx.bucket is not None
    objects = {o.key for o in ctx.bucket.list("segments/")}
    assert first.key in objects and late.key not in objects and entry.remote_key in objects  # old: grace period
    assert [e.remote_key for e in engine.store.segment_entries("p1")] == [first.key]


def test_a_skipped_rewrite_leaves_nothing_and_commits_nothing(open_engine: Any) -> None:
    engine = open_engine()
    add_segment(engine, "p1", "a", 10, now_ms() - DAY_MS)
    [entry] = engine.store.segment_entries("p1")
    before = set((engine.data_dir / "segments" / "p1").iterdir())
    staged = stage(engine.lifecycle.ctx, [entry], skip_if=lambda: True)
    assert staged.skipped and staged.new is None
    staged.commit()
    assert set((engine.data_dir / "segments" / "p1").iterdir()) == before
    assert [e.id for e in engine.store.segment_entries("p1")] == [entry.id] and not engine.catalog.deleting()
