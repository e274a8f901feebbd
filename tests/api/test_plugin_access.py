"""A plugin's `read_trace` and `write_scores` (api/plugin_access.py) on the real engine: scores go through the WAL
and are applied by the pipeline with the plugin's name in their metadata; a trace is read scoped to its project;
a bad score, a read-only node and a call from the event loop are refused with a message naming the problem."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from lynex_box.api.plugin_access import PluginAccessError, score_writer, trace_reader
from lynex_box.engine import Engine
from lynex_box.plugins.context import PluginContext
from lynex_box.scores import ScoreFilter, list_scores
from tests.scores.test_wal_path import project_in
from tests.segments.test_store import events, ingest, settings_for


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    opened = Engine.open(settings_for(tmp_path))
    yield opened
    opened.close()


def _context(engine: Engine, reason: str | None = None) -> PluginContext:
    writer = score_writer(engine, engine.settings, lambda: reason)
    base = PluginContext("", engine.data_dir, read_trace=trace_reader(engine), write_scores=writer)
    return base.for_plugin("judge")


def test_scores_written_by_a_plugin_are_applied_with_its_name(engine: Engine) -> None:
    project = project_in(engine.meta)
    ctx = _context(engine)
    assert ctx.write_scores is not None
    ids = ctx.write_scores(project, [{"id": "s1", "trace_id": "t1", "name": "faithful", "value": 0.5,
                                      "comment": "one claim unsupported", "metadata": {"claims": 2}}])  # fmt: skip
    assert ids == ["s1"]
    engine.catch_up()
    [stored] = list_scores(engine.meta, project, ScoreFilter(), 10)
    assert (stored.name, stored.value, stored.source, stored.comment) == (
        "faithful",
        0.5,
        "EVAL",
        "one claim unsupported",
    )
    assert stored.as_dict()["metadata"] == {"claims": 2, "plugin": "judge"}


def test_a_trace_is_read_scoped_to_its_project(engine: Engine) -> None:
    ingest(engine, "p1", events("p1", 8))
    ingest(engine, "p2", events("p2", 8))  # the same trace ids in another project
    engine.catch_up()
    ctx = _context(engine)
    assert ctx.read_trace is not None
    table = ctx.read_trace("p1", "trace-1")
    assert table.column("span_id").to_pylist() == ["span-4", "span-5", "span-6", "span-7"]
    assert set(table.column("project_id").to_pylist()) == {"p1"} and "attributes" in table.column_names
    assert ctx.read_trace("p1", "no-such-trace").num_rows == 0
    with pytest.raises(PluginAccessError, match="trace_id = ''"):
        ctx.read_trace("p1", "")


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ([], "must be a list of 1 to"),
        (["nope"], "scores[0] is a str"),
        ([{"trace_id": "t1", "name": "x"}], "scores[0]: value is required"),
        ([{"trace_id": "t1", "name": "x", "value": 1, "metadata": [1]}], "metadata must be an object"),
    ],
)
def test_bad_scores_are_refused_naming_them(engine: Engine, scores: list[object], message: str) -> None:
    ctx = _context(engine)
    assert ctx.write_scores is not None
    with pytest.raises(PluginAccessError) as info:
        ctx.write_scores(project_in(engine.meta), scores)
    assert message in str(info.value)


def test_a_read_only_node_and_the_event_loop_are_refused(engine: Engine) -> None:
    ctx = _context(engine, reason="this node runs in read-only mode")
    assert ctx.write_scores is not None and ctx.read_trace is not None
    with pytest.raises(PluginAccessError, match="no scores stored: this node runs in read-only mode"):
        ctx.write_scores("p1", [{"trace_id": "t1", "name": "x", "value": 1}])

    async def on_the_loop() -> None:
        assert ctx.read_trace is not None
        ctx.read_trace("p1", "t1")

    with pytest.raises(PluginAccessError, match="call it from a hook's thread"):
        asyncio.run(on_the_loop())
