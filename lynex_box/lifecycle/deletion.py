"""Deletion of a trace, a session or everything of one end user (GDPR), at once for queries and then from files.

`delete` writes a tombstone (and its audit entry) in one transaction: from that commit on, every query hides the
rows (visibility.py). `purge_pass` then rewrites every file that holds matching rows, local and in the bucket,
and drops the tombstone once no published file holds them. A tombstone covers what was acknowledged before it:
the engine stamps it with the durable WAL position, and the purge waits until the catalog has consumed that far
(flushing the head first), so rows still in the head are purged too.
Purging a tombstone whose deadline (`due_at`, `[deletion] max_delay_s` after the request) has passed is
logged as an error. A trace is matched by `trace_id`; a session and an end user also cover the traces and
sessions that belong to them (deletion_scope.py), which the purge looks up again before rewriting, once every
span acknowledged before the request is in a segment.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from typing import Any

import apsw
import pyarrow.parquet as pq

from lynex_box.crashpoints import crash_point
from lynex_box.lifecycle import deletion_scope
from lynex_box.lifecycle.context import LifecycleContext
from lynex_box.lifecycle.rewrite import count_rows, rewrite_segment
from lynex_box.lifecycle.visibility import (
    KIND_COLUMNS,
    Deleted,
    Tombstone,
    deleted_condition,
    deleted_values,
    read_scope,
    read_tombstones,
)
from lynex_box.meta import audit
from lynex_box.meta.catalog import CatalogConflict, SegmentEntry
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import ObjectStore
from lynex_box.segments.bloom import bloom_may_contain

log = logging.getLogger("lynex.lifecycle.deletion")
MAX_VALUE_CHARS = 1024


class DeletionError(ValueError):
    """A deletion request that cannot be accepted; the message names the value."""


def delete(
    db: MetaDB,
    project_id: str,
    kind: str,
    value: str,
    max_delay_s: float,
    actor: audit.Actor | None = None,
    now_us: int | None = None,
) -> Tombstone:
    """Record the deletion (tombstone + audit entry, one transaction); queries stop showing the rows at once.

    `actor` is who asked (None: the system). Deleting the same thing again while its
    tombstone is pending extends it to what was acknowledged since.
    """
    if kind not in KIND_COLUMNS:
        raise DeletionError(f"kind {kind!r} is not one of {sorted(KIND_COLUMNS)}")
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE_CHARS:
        raise DeletionError(f"the {kind} id must be a non-empty string of at most {MAX_VALUE_CHARS} characters")
    now = time.time_ns() // 1000 if now_us is None else now_us
    due = now + int(max_delay_s * 1_000_000)

    def tx(conn: apsw.Connection) -> Tombstone:
        conn.execute(
            "INSERT INTO tombstones (project_id, kind, value, created_at, due_at, wal_lsn) "
            "VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT (project_id, kind, value) DO UPDATE SET wal_lsn = NULL",
            (project_id, kind, value, now, due),
        )
        row = next(
            conn.execute(
                "SELECT id, project_id, kind, value, created_at, due_at, wal_lsn FROM tombstones "
                "WHERE project_id = ? AND kind = ? AND value = ?",
                (project_id, kind, value),
            )
        )
        record_audit(conn, actor, project_id, kind, value)
        return Tombstone(*row)

    tombstone = db.write(tx)
    log.info("data deleted project=%s kind=%s tombstone=%d", project_id, kind, tombstone.id)
    return tombstone


def record_audit(conn: apsw.Connection, actor: audit.Actor | None, project_id: str, kind: str, value: str) -> None:
    """The audit entry of a deletion, in the deletion's own transaction: the value is an id, never content."""
    who = actor if actor is not None else audit.Actor("system", "lifecycle", "data lifecycle")
    audit.record(conn, who, "data.deleted", project_id=project_id, target_type=kind, target_id=value)


def pending(db: MetaDB, project_id: str | None = None) -> list[Tombstone]:
    return read_tombstones(db, project_id)


def stamp(db: MetaDB, durable_lsn: int) -> int:
    """Give unstamped tombstones the current durable WAL position; returns how many were stamped."""

    def tx(conn: apsw.Connection) -> int:
        conn.execute("UPDATE tombstones SET wal_lsn = ? WHERE wal_lsn IS NULL", (durable_lsn,))
        return int(conn.changes())

    return db.write(tx)


def purge_pass(
    ctx: LifecycleContext,
    durable_lsn: Callable[[], int] | None = None,
    flush: Callable[[], object] | None = None,
    expand: Callable[[Tombstone], bool] | None = None,
    keep_until_due: bool = False,
) -> int:
    """Rewrite files holding rows of stamped, consumed tombstones; drop those tombstones. Returns rows' files
    rewritten. `durable_lsn`/`flush` come from the engine; without them (no WAL in this process) every
    tombstone counts as covered. `expand` looks up a tombstone's scope again (False: it could not, e.g. the
    bucket is down; that project's tombstones wait for the next pass). `keep_until_due` (cluster mode): a purged
    tombstone is kept until its deadline, because this node's queries also read the other nodes' segments, which
    their own purge passes rewrite (each within the deadline); a pass after the deadline that still finds rows
    is the late one."""
    tombs = read_tombstones(ctx.db)
    if not tombs:
        return 0
    if durable_lsn is not None and any(t.wal_lsn is None for t in tombs):
        stamp(ctx.db, durable_lsn())
        tombs = read_tombstones(ctx.db)
    consumed, entries = ctx.store.consistent_entries()
    if flush is not None and any(t.wal_lsn is not None and t.wal_lsn > consumed for t in tombs):
        flush()  # rows they cover are still in the head: publish them, so this pass purges them
        consumed, entries = ctx.store.consistent_entries()
    ready = [t for t in tombs if durable_lsn is None or (t.wal_lsn is not None and t.wal_lsn <= consumed)]
    rewritten = 0
    for project_id in sorted({t.project_id for t in ready}):
        rewritten_before = rewritten
        mine = [t for t in ready if t.project_id == project_id]
        if expand is not None and not all(expand(t) for t in mine if t.kind != "trace"):
            log.warning("deletion purge postponed: its scope could not be looked up project=%s", project_id)
            continue
        scope = read_scope(ctx.db, project_id)
        wanted = deleted_values(mine, scope)
        candidates = [e for e in entries if e.project_id == project_id and _may_hold(ctx, e, wanted)]
        condition, params = deleted_condition(mine, scope)
        assert condition is not None
        for entry in candidates:
            if ctx.stopping.is_set():
                return rewritten  # tombstones stay; the next start purges
            with ctx.readable([entry]) as paths:
                hits = count_rows(ctx.duck, paths, condition, params, ctx.cipher(project_id))
            if hits:
                try:
                    rewrite_segment(ctx, entry)
                except CatalogConflict:
                    return rewritten  # replaced under us: the next pass looks again
                rewritten += 1
        if _elsewhere(ctx, project_id, wanted, condition, params):
            # Rows they cover are in another node's segment (cluster mode: one this node handed over to cross-node
            # compaction, merged into the compaction lease holder's segment): that node rewrites it, not this one,
            # so the tombstones stay and keep hiding those rows in this node's queries.
            log.info("deletion purge kept its tombstones: rows in other nodes' segments project=%s", project_id)
            continue
        # Every file rewritten, the tombstones not yet dropped: a crash here purges again (finding nothing).
        crash_point("lifecycle.deletion.before_drop")
        late = [t for t in mine if t.due_at < ctx.now_us()]
        _drop(ctx.db, late if keep_until_due else mine)
        if late and (rewritten > rewritten_before or not keep_until_due):
            log.error("deletion purged after its deadline project=%s tombstones=%d", project_id, len(late))
        log.info("deletion purged project=%s tombstones=%d files_rewritten=%d", project_id, len(mine), rewritten)
    return rewritten


def _elsewhere(ctx: LifecycleContext, project_id: str, wanted: Deleted, condition: str, params: dict[str, Any]) -> bool:
    """Whether another node's listed segment (cluster mode) holds rows the tombstones cover."""
    if ctx.shared is None:
        return False
    for entry in ctx.shared.entries(project_id):
        if not _may_hold(ctx, entry, wanted):
            continue
        with ctx.readable([entry]) as paths:
            if count_rows(ctx.duck, paths, condition, params, ctx.cipher(project_id)):
                return True
    return False


def _drop(db: MetaDB, tombs: list[Tombstone]) -> None:
    def tx(conn: apsw.Connection) -> None:
        for t in tombs:  # a tombstone re-stamped since (deleted again) stays for the next pass
            conn.execute("DELETE FROM tombstones WHERE id = ? AND wal_lsn IS ?", (t.id, t.wal_lsn))
            if conn.changes():
                deletion_scope.drop(conn, t.id)

    db.write(tx)


def _may_hold(ctx: LifecycleContext, entry: SegmentEntry, deleted: Deleted) -> bool:
    """Cheap pre-check before reading a file: the trace bloom filter, and for bucket files the footer's
    statistics (two range reads instead of a download)."""
    traces = deleted.traces | deleted.unowned_traces
    others = {"session_id": deleted.sessions | deleted.unowned_sessions, "user_id": deleted.users}
    bloom_hit = bool(traces) and (
        entry.trace_bloom is None or any(bloom_may_contain(entry.trace_bloom, v) for v in traces)
    )
    if not any(others.values()) and not bloom_hit:
        return False
    if entry.location != "remote" or ctx.bucket is None:
        return True
    wanted = {column: values for column, values in others.items() if values}
    if bloom_hit:
        wanted["trace_id"] = traces
    try:
        return footer_may_match(ctx.bucket, entry.remote_key or entry.path, entry.bytes, wanted)
    except Exception as exc:  # a footer we cannot read is no reason to skip the file: read it whole
        log.warning("footer statistics unreadable key=%s error=%s", entry.remote_key or entry.path, exc)
        return True


class _RangeFile(io.RawIOBase):
    """A read-only, seekable file over one bucket object, fetched by ranges (for Parquet footers)."""

    def __init__(self, bucket: ObjectStore, key: str, size: int) -> None:
        self.bucket, self.key, self.length, self.pos = bucket, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.length}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: Any) -> int:
        data = self.bucket.get_range(self.key, self.pos, len(buffer))
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def footer_may_match(bucket: ObjectStore, key: str, size: int, wanted: dict[str, set[str]]) -> bool:
    """False only when the statistics of every row group prove no column holds any wanted value."""
    meta = pq.read_metadata(io.BufferedReader(_RangeFile(bucket, key, size), buffer_size=64 * 1024))
    names = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for column, values in wanted.items():
            if column not in names:
                continue
            stats = group.column(names[column]).statistics
            if stats is None or not stats.has_min_max:
                if stats is None or stats.null_count != group.num_rows:
                    return True  # no statistics: cannot rule it out
                continue  # all null: no value matches
            if any(stats.min <= v <= stats.max for v in values):
                return True
    return False
