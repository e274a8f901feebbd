"""Run one read-only SQL query over one project's spans: its segments plus its head.

The caller writes SQL against a relation named `spans`, already restricted to one project and a
time range; the engine picks files from the store's snapshot, registers the head tables, and runs
DuckDB on a cursor of a shared in-memory database. Project ids and times are bound parameters;
file paths come from the catalog, never from a client. Queries block, so async callers run them on
the engine's own worker threads (`query_async`, `call_async`: `pool.WorkerPool`), never on asyncio's
default executor, which ingest and login share.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import re
import threading
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from lynex_box.config import QuerySettings
from lynex_box.meta.catalog import SegmentEntry
from lynex_box.query import sandbox, upserts
from lynex_box.query.pool import WorkerPool
from lynex_box.query.shared import SharedSegments
from lynex_box.schema.span import SPAN_SCHEMA, parquet_relation
from lynex_box.scores import judges
from lynex_box.segments import encryption
from lynex_box.segments.store import Snapshot, SpanStore
from lynex_box.sources.langfuse.upserts import fold_sql

if TYPE_CHECKING:
    import pyarrow.dataset as ds

UTC = dt.UTC
T = TypeVar("T")


def us_to_datetime(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class SpanScope:
    """Which spans a query may see: always one project; optionally a time range or one trace."""

    project_id: str
    start_us: int | None = None
    end_us: int | None = None
    trace_id: str | None = None


@dataclass(frozen=True, slots=True)
class Extent:
    """What a project holds: the first and last span start (epoch µs) and the number of rows."""

    min_us: int
    max_us: int
    rows: int


@dataclass(frozen=True, slots=True)
class Restriction:
    """What every query of a project must not see (set by the lifecycle: retention and deletions).

    `min_start_us` hides spans that started earlier; `condition` is SQL over span columns, and rows for which it is
    not true are hidden; its parameters use names starting with `lx_`.
    """

    min_start_us: int | None = None
    condition: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


class VisibilityFilter(Protocol):
    def restrict(self, project_id: str) -> Restriction: ...


class RemoteFiles(Protocol):
    def acquire(self, entries: list[SegmentEntry]) -> contextlib.AbstractContextManager[list[Path]]:
        """Local paths of these bucket segments, kept on disk until the context exits."""
        ...


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What one query of a scope runs over: the `spans` CTE body and its parameters, the head table, the
    encrypted project's dataset (registered as `__encrypted`) and the plaintext files the body reads."""

    body: str
    params: dict[str, Any]
    head: pa.Table
    encrypted: ds.Dataset | None
    files: list[Path]
    verdicts: pa.Table | None = None  # judges' verdicts on the scope's spans, registered as `__verdicts`


def _sql_literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class QueryEngine:
    """DuckDB over the span store. One instance per process; thread-safe.

    `visibility` (retention and deletions) and `remote` (the bucket cache) are the lifecycle's hooks, given here so
    that no query runs without them; None: every stored span is visible, and no segment is in a bucket. `shared`
    (cluster mode) holds the other nodes' segments: each query reads those of its scope too, through `remote`."""

    def __init__(
        self,
        store: SpanStore,
        settings: QuerySettings,
        *,
        visibility: VisibilityFilter | None = None,
        remote: RemoteFiles | None = None,
        shared: SharedSegments | None = None,
        memory_limit_mb: int | None = None,
        temp_dir: Path | None = None,
        verdicts: Callable[[str, str | None], pa.Table | None] | None = None,
    ) -> None:
        """`verdicts(project_id, trace_id)` gives the judges' verdicts of a scope (scores/judges.py), folded into
        every query's `spans` (None: no judges). `memory_limit_mb` defaults to the query engine's part of the
        budget (`settings.queries_memory_mb`); DuckDB spills to `temp_dir` (its default, `.tmp` in the working
        directory, when None)."""
        self.store = store
        self.settings = settings
        self.memory_limit_mb = settings.queries_memory_mb if memory_limit_mb is None else memory_limit_mb
        config: dict[str, str | int] = {"threads": settings.threads, "memory_limit": f"{self.memory_limit_mb}MB"}
        if temp_dir is not None:
            config["temp_directory"] = str(temp_dir)
        self._db = duckdb.connect(":memory:", config=config)
        self._db.execute("SET TimeZone = 'UTC'")
        # Segment files never change once published (a rewrite is a new file), so their footers and
        # bloom filters can be cached across queries instead of being read again by every query.
        self._db.execute("SET GLOBAL parquet_metadata_cache = true")
        self._local = threading.local()
        self._empty = SPAN_SCHEMA.empty_table()
        self.visibility = visibility
        self.updates = upserts.UpdateIndex()
        self.remote = remote
        self.shared = shared
        self.verdicts = verdicts
        # Threads start with the first async query, so the CLI, which only calls `run`, never has any.
        self.pool = WorkerPool("query", settings.workers, settings.saturated_after_s)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cur", None)
        if cur is None:
            cur = self._db.cursor()
            cur.execute("SET TimeZone = 'UTC'")
            self._local.cur = cur
        return cur

    def spans_sql(
        self,
        scope: SpanScope,
        files: list[Path],
        dedupe: bool,
        restriction: Restriction | None = None,
        within: Collection[Path] = (),
        head: bool = True,
        encrypted: bool = False,
        fold_updates: bool = False,
    ) -> tuple[str, dict[str, Any]]:
        """The `spans` CTE body for a scope, with its parameters.

        `within` names files of `files` that hold only rows of this project inside the scope's time
        range (the catalog knows each file's project and min/max start time): they are read without
        the project and time predicates, which saves reading and testing those columns row by row.
        `head=False` leaves out the head (when it holds nothing of this project and there are files).
        `encrypted=True` adds the project's encrypted segments, registered as `__encrypted` (see `run`).
        `fold_updates=True` puts each updated Langfuse observation's usage and cost on one row (`upserts`).
        """
        scoped = ["project_id = $project_id"]
        params: dict[str, Any] = {"project_id": scope.project_id}
        if scope.start_us is not None:
            scoped.append("start_time >= $start")
            params["start"] = us_to_datetime(scope.start_us)
        if scope.end_us is not None:
            scoped.append("start_time < $end")
            params["end"] = us_to_datetime(scope.end_us)
        rest = []
        if scope.trace_id is not None:
            rest.append("trace_id = $trace_id")
            params["trace_id"] = scope.trace_id
        if restriction is not None and restriction.condition:
            rest.append(f"({restriction.condition})")
            params.update(restriction.params)
        cond = " AND ".join(scoped + rest)
        parts = [f"SELECT * FROM __head WHERE {cond}"] if head or not (files or encrypted) else []
        if encrypted:
            parts.insert(0, f"SELECT * FROM __encrypted WHERE {cond}")
        inside = [p for p in files if p in within]
        outside = [p for p in files if p not in within]
        if inside:
            listing = ", ".join(_sql_literal(p) for p in inside)
            where = f" WHERE {' AND '.join(rest)}" if rest else ""
            parts.insert(0, f"SELECT * FROM {parquet_relation(f'[{listing}]')}{where}")
        if outside:
            listing = ", ".join(_sql_literal(p) for p in outside)
            parts.insert(0, f"SELECT * FROM {parquet_relation(f'[{listing}]')} WHERE {cond}")
        body = " UNION ALL BY NAME ".join(parts)
        # DuckDB refuses parameters the statement does not use (a part left out may have used them).
        params = {k: v for k, v in params.items() if re.search(rf"\${re.escape(k)}\b", body)}
        if dedupe:
            body = (
                f"SELECT * FROM ({body}) QUALIFY row_number() OVER "
                "(PARTITION BY event_id ORDER BY ingested_at, span_id) = 1"
            )
        if fold_updates:
            body = fold_sql(body)
        return body, params

    def run(self, scope: SpanScope, sql: str, params: dict[str, Any] | None = None, dedupe: bool = False) -> pa.Table:
        """Run `sql` (which reads `spans`) for one scope; blocking. Returns an Arrow table."""
        with self._prepared(scope, params, dedupe) as q:
            cur = self._cursor()
            cur.register("__head", q.head)
            if q.encrypted is not None:
                cur.register("__encrypted", q.encrypted)
            if q.verdicts is not None:
                cur.register("__verdicts", q.verdicts)
            try:
                return cur.sql(f"WITH spans AS ({q.body}) {sql}", params=q.params).to_arrow_table()
            finally:
                cur.unregister("__head")
                if q.encrypted is not None:
                    cur.unregister("__encrypted")
                if q.verdicts is not None:
                    cur.unregister("__verdicts")

    def run_untrusted(self, scope: SpanScope, sql: str, temp_dir: Path | None = None) -> pa.Table:
        """Run SQL a person wrote (one SELECT over `spans`) on a sandboxed connection of its own (`sandbox`).

        The connection may read this scope's segment files only; `temp_dir` (private) is where DuckDB may
        spill. Raises `SandboxError` for a statement that is not one SELECT or for anything the sandbox refuses.
        """
        with self._prepared(scope, None, False) as q:
            con = sandbox.open_sandbox(q.files, self.settings.threads, self.memory_limit_mb, temp_dir)
            try:
                sandbox.check_select(con, sql)
                con.register("__head", q.head)
                if q.encrypted is not None:
                    con.register("__encrypted", q.encrypted)
                if q.verdicts is not None:
                    con.register("__verdicts", q.verdicts)
                # `spans` as a view of its own, so the person's SQL runs as written (a `WITH` of its own too)
                con.sql(q.body, params=q.params).create_view("spans")
                return con.sql(sql).to_arrow_table()
            except duckdb.Error as exc:
                refused = sandbox.explain(exc)
                if refused is None:
                    raise
                raise refused from None
            finally:
                con.close()

    @contextlib.contextmanager
    def _prepared(self, scope: SpanScope, params: dict[str, Any] | None, dedupe: bool) -> Iterator[_Prepared]:
        """The `spans` CTE of a scope with its parameters, head and encrypted dataset; files stay on disk
        (bucket segments in the cache) until the context exits."""
        scope, restriction = self._restrict(scope)
        ciphers = self.store.ciphers
        cipher = ciphers(scope.project_id) if ciphers is not None else None  # raises KeyUnavailable when locked
        snap = self._own_snapshot(scope.project_id, scope.start_us, scope.end_us, scope.trace_id)
        head = pa.concat_tables(snap.head) if snap.head else self._empty
        remote = snap.remote + self._shared(scope.project_id, scope.start_us, scope.end_us, scope.trace_id)
        with self._remote_files(remote) as fetched:
            files, encrypted = encryption.split(snap.files + fetched, cipher)
            fold = self.updates.any_in(files, [head] if snap.head else [], encrypted, cipher)
            body, bound = self.spans_sql(
                scope, files, dedupe, restriction, snap.within, bool(snap.head), bool(encrypted), fold
            )
            overlap = set(bound) & set(params or {})
            if overlap:
                raise ValueError(f"query parameters {sorted(overlap)} are reserved")
            bound.update(params or {})
            dataset = None
            if encrypted:
                assert cipher is not None
                dataset = encryption.dataset(encrypted, cipher)
            verdicts = self.verdicts(scope.project_id, scope.trace_id) if self.verdicts is not None else None
            if verdicts is not None:
                body = judges.fold_sql(body)
            yield _Prepared(body, bound, head, dataset, files, verdicts)

    def _own_snapshot(
        self, project_id: str, start_us: int | None = None, end_us: int | None = None, trace_id: str | None = None
    ) -> Snapshot:
        """This node's snapshot, without its segments that another node's listed merged segment replaces (cluster
        mode: that segment, read through `_shared`, holds their rows)."""
        snap = self.store.snapshot(project_id, start_us, end_us, trace_id)
        hidden = self.shared.hidden() if self.shared is not None else frozenset()
        if not hidden:
            return snap
        files = [p for p in snap.files if p.stem not in hidden]
        remote = [e for e in snap.remote if e.id not in hidden]
        return dataclasses.replace(snap, files=files, remote=remote, within=snap.within & frozenset(files))

    def _shared(
        self, project_id: str, start_us: int | None = None, end_us: int | None = None, trace_id: str | None = None
    ) -> list[SegmentEntry]:
        """The other nodes' segments of the scope (cluster mode), read like offloaded ones."""
        return [] if self.shared is None else self.shared.select(project_id, start_us, end_us, trace_id)

    def layout(self, project_id: str) -> tuple[list[SegmentEntry], pa.ChunkedArray]:
        """The project's published segments (catalog rows: min/max start time, rows; the other nodes' too in cluster
        mode) and the start times (epoch µs) of its head rows. Nothing is read from a file."""
        hidden = self.shared.hidden() if self.shared is not None else frozenset()
        own = [e for e in self.store.segment_entries(project_id) if e.id not in hidden]
        entries = own + self._shared(project_id)
        head = self.store.snapshot(project_id, 0, 0).head  # an empty range: the head only, no files
        table = pa.concat_tables(head) if head else self._empty  # zero-copy: the head is many small sorted runs
        return entries, table.column("start_time").cast(pa.int64())

    def extent(self, project_id: str) -> Extent | None:
        """Earliest and latest span start of a project and its row count, from the catalog and the head.

        No file is read: newest-first lists size their first time window from it (`query/pages.py`).
        None when the project holds nothing. Rows hidden by retention or deletions still count.
        """
        entries, head_starts = self.layout(project_id)
        lows = [e.min_time for e in entries]
        highs = [e.max_time for e in entries]
        rows = sum(e.row_count for e in entries)
        if len(head_starts):
            bounds = pc.min_max(head_starts)
            lows.append(bounds["min"].as_py())
            highs.append(bounds["max"].as_py())
            rows += len(head_starts)
        if not lows:
            return None
        return Extent(min(lows), max(highs), rows)

    def _restrict(self, scope: SpanScope) -> tuple[SpanScope, Restriction | None]:
        if self.visibility is None:
            return scope, None
        restriction = self.visibility.restrict(scope.project_id)
        floor = restriction.min_start_us
        if floor is not None and (scope.start_us is None or scope.start_us < floor):
            scope = dataclasses.replace(scope, start_us=floor)
        return scope, restriction

    @contextlib.contextmanager
    def _remote_files(self, entries: list[SegmentEntry]) -> Iterator[list[Path]]:
        if not entries:
            yield []
            return
        if self.remote is None:
            raise RuntimeError(
                f"{len(entries)} segment(s) of this range are in the bucket but no bucket is configured; "
                "hint: set [bucket] in lynex.toml"
            )
        with self.remote.acquire(entries) as paths:
            yield paths

    def may_hold_trace(self, project_id: str, trace_id: str) -> bool:
        """Whether a segment (by its trace bloom filter) or a head row may hold the trace. False answers the lookup
        of an absent trace (a UI or SDK polling for one still on its way) without a query: DuckDB spends 3-5 ms of
        CPU on any query, this well under one. Raises KeyUnavailable for a locked project, as `run` does."""
        if self.store.ciphers is not None:
            self.store.ciphers(project_id)
        snap = self._own_snapshot(project_id, trace_id=trace_id)
        if snap.files or snap.remote or self._shared(project_id, trace_id=trace_id):
            return True
        if not snap.head:
            return False
        ids = pa.concat_tables(snap.head).column("trace_id")  # one kernel call over the head's many small runs
        return bool(pc.any(pc.equal(ids, pa.scalar(trace_id, pa.string()))).as_py())

    async def query_async(
        self, scope: SpanScope, sql: str, params: dict[str, Any] | None = None, dedupe: bool = False
    ) -> pa.Table:
        return await self.pool.run(self.run, scope, sql, params, dedupe)

    def memory_bytes(self) -> int:
        """Bytes DuckDB holds for this engine's queries now (`duckdb_memory()`), for GET /metrics."""
        rows = self._cursor().execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchall()  # whole
        return int(rows[0][0] or 0) if rows else 0

    async def call_async(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)`, blocking work that runs queries (e.g. `query/pages.py`), on the query workers."""
        return await self.pool.run(fn, *args)

    def close(self) -> None:
        self.pool.close()
        self._db.close()
