"""The span store: head + published segments, and the flush that turns one into the other.

It owns the in-memory view of the catalog so that a query's snapshot (segment files + head tables)
is taken under one lock, and a flush swaps "head" for "segment" under the same lock: a query sees a
span exactly once, before, during and after a flush. The sequence and its reasons are in
docs/format/segments.md. This module must never publish a file before it is durable, nor advance
the consumed WAL position any way but through `Catalog.publish`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from ulid import ULID

from lynex_box import fsutil
from lynex_box.config import HeadSettings, SegmentSettings
from lynex_box.crashpoints import crash_point
from lynex_box.meta.catalog import Catalog, SegmentEntry
from lynex_box.schema.span import SPAN_SCHEMA
from lynex_box.segments.bloom import bloom_may_contain, build_bloom
from lynex_box.segments.encryption import ProjectCipher
from lynex_box.segments.head import HeadBuffer
from lynex_box.segments.parquet_file import write_segment_runs
from lynex_box.versions import SPAN_SCHEMA_VERSION, FormatTooNew

log = logging.getLogger("lynex.segments")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one query reads: segment files (absolute paths) and head tables of one project."""

    files: list[Path]
    head: list[pa.Table]
    remote: list[SegmentEntry] = field(default_factory=list)  # in the bucket: the reader fetches them (lifecycle)
    # Those of `files` whose every row lies inside the asked time range: a query needs no time filter on them.
    within: frozenset[Path] = frozenset()


def check_schema_version(entry: SegmentEntry) -> None:
    """Refuse a catalog row of a segment written in a newer span schema than this release's (FormatTooNew): its
    columns may mean what this code does not know, so neither queries nor rewrites may read it."""
    if entry.schema_version > SPAN_SCHEMA_VERSION:
        raise FormatTooNew("segment", entry.path, entry.schema_version, SPAN_SCHEMA_VERSION)


class SpanStore:
    """Head and segments of every project on this node.

    `ciphers` says how each project's segments are encrypted (the engine passes `DataKeys.cipher`); None: all
    plaintext. `on_checkpoint` gets the consumed WAL position after each publish (the engine removes WAL files)."""

    def __init__(
        self,
        data_dir: Path,
        catalog: Catalog,
        head_settings: HeadSettings,
        segment_settings: SegmentSettings,
        on_checkpoint: Callable[[int], None] | None = None,
        ciphers: Callable[[str], ProjectCipher | None] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.ciphers = ciphers
        self.segments_dir = data_dir / "segments"
        self.catalog = catalog
        self.head_settings = head_settings
        self.segment_settings = segment_settings
        self._on_checkpoint = on_checkpoint
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        fsutil.make_dir(self.segments_dir)
        self._entries: dict[str, list[SegmentEntry]] = {}
        for entry in catalog.segments():
            check_schema_version(entry)
            self._entries.setdefault(entry.project_id, []).append(entry)
        consumed = catalog.consumed_lsn()
        self._active = HeadBuffer(lsn_from=consumed + 1, lsn_to=consumed)
        self._frozen: HeadBuffer | None = None
        # running totals for GET /metrics (api/platform_metrics.py), read without the lock: a scrape may see one
        # append or flush late, never a torn value (each is one attribute store)
        self.spans_appended = 0
        self.flushes = 0
        self.flush_seconds = 0.0

    # ------------------------------------------------------------------------ start-up
    def sweep(self) -> list[Path]:
        """Delete temporary files and Parquet files the catalog does not know; returns what went."""
        known = {e.path for entries in self._entries.values() for e in entries}
        removed = []
        for path in self.segments_dir.rglob("*"):
            if not path.is_file():
                continue
            rel = path.relative_to(self.data_dir).as_posix()
            if path.name.endswith(".tmp") or (path.suffix == ".parquet" and rel not in known):
                path.unlink(missing_ok=True)
                removed.append(path)
        for path in removed:
            log.info("segment swept path=%s", path.relative_to(self.data_dir))
        return removed

    @property
    def next_lsn(self) -> int:
        """The LSN the head expects next: where the pipeline's replay starts."""
        with self._lock:
            return self._active.lsn_to + 1

    # ------------------------------------------------------------------------ appending
    def append(self, table: pa.Table, lsn_from: int, lsn_to: int) -> None:
        """Add spans decoded from WAL records `lsn_from..lsn_to` (contiguous with what came before)."""
        with self._lock:
            if lsn_from != self._active.lsn_to + 1:
                raise ValueError(f"head expects lsn {self._active.lsn_to + 1}, got {lsn_from}")
            self._active.add(table, lsn_to)
            self.spans_appended += table.num_rows

    def flush_due(self) -> bool:
        with self._lock:
            a, s = self._active, self.head_settings
            if a.empty:
                return False
            return a.rows >= s.max_rows or a.nbytes >= s.max_bytes or a.age_s() >= s.max_age_s

    def over_limits(self) -> bool:
        """The head holds more rows or bytes than its limits: flush now, whatever its age."""
        with self._lock:
            a, s = self._active, self.head_settings
            return a.rows >= s.max_rows or a.nbytes >= s.max_bytes

    def head_stats(self) -> dict[str, int]:
        with self._lock:
            frozen = self._frozen.rows if self._frozen else 0
            return {
                "rows": self._active.rows + frozen,
                "bytes": self._active.nbytes,
                "lsn_to": self._active.lsn_to,
            }

    # ------------------------------------------------------------------------ flushing
    def flush(self) -> int:
        """Publish the head as segments (blocking; run it in a thread). Returns rows flushed."""
        with self._flush_lock:
            started = time.perf_counter()
            with self._lock:
                if self._frozen is None:  # a failed flush leaves its frozen head to retry first
                    if self._active.empty:
                        return 0
                    self._frozen = self._active
                    self._active = HeadBuffer(lsn_from=self._frozen.lsn_to + 1, lsn_to=self._frozen.lsn_to)
                frozen = self._frozen
            entries = [self._write_project(project, tables, frozen) for project, tables in frozen.tables.items()]
            self.catalog.publish(entries, frozen.lsn_from, frozen.lsn_to)
            crash_point("segments.after_publish")
            with self._lock:
                for entry in entries:
                    self._entries.setdefault(entry.project_id, []).append(entry)
                self._frozen = None
            frozen.tables = {}  # hand the frozen head's memory back now, not when the next flush replaces it
            pa.default_memory_pool().release_unused()
            log.info("head flushed rows=%d files=%d lsn_to=%d", frozen.rows, len(entries), frozen.lsn_to)
            self.flushes += 1
            self.flush_seconds += time.perf_counter() - started
            if self._on_checkpoint is not None:
                self._on_checkpoint(frozen.lsn_to)
            return frozen.rows

    def _write_project(self, project_id: str, tables: list[pa.Table], frozen: HeadBuffer) -> SegmentEntry:
        table = pa.concat_tables(tables)  # the head's tables are each sorted by start_time (HeadBuffer.add)
        segment_id = str(ULID())
        rel = f"segments/{project_id}/{segment_id}.parquet"
        cipher = self.ciphers(project_id) if self.ciphers is not None else None  # raises if the key is locked
        size = write_segment_runs(
            tables,
            self.data_dir / rel,
            self.segment_settings.row_group_rows,
            self.segment_settings.flush_zstd_level,
            cipher,
            self.segment_settings.flush_compression,
        )
        start = table.column("start_time").cast(pa.int64())
        bloom = build_bloom(
            table.column("trace_id").unique().to_pylist(), self.segment_settings.trace_bloom_bits_per_key
        )
        return SegmentEntry(
            id=segment_id,
            project_id=project_id,
            path=rel,
            min_time=int(pc.min(start).as_py()),
            max_time=int(pc.max(start).as_py()),
            row_count=table.num_rows,
            bytes=size,
            schema_version=SPAN_SCHEMA_VERSION,
            created_at=time.time_ns() // 1000,
            trace_bloom=bloom,
            wal_from=frozen.lsn_from,
            wal_to=frozen.lsn_to,
        )

    # ------------------------------------------------------------------------ reading
    def snapshot(
        self,
        project_id: str,
        start_us: int | None = None,
        end_us: int | None = None,
        trace_id: str | None = None,
    ) -> Snapshot:
        """Files and head tables of one project that may hold rows in `[start_us, end_us)` / the trace."""
        with self._lock:
            entries = list(self._entries.get(project_id, ()))
            head = self._active.project_tables(project_id)
            if self._frozen is not None:
                head = self._frozen.project_tables(project_id) + head
        files: list[Path] = []
        within: list[Path] = []
        remote = []
        for e in entries:
            if not may_hold(e, start_us, end_us, trace_id):
                continue
            if e.location == "remote":
                remote.append(e)
                continue
            path = self.data_dir / e.path
            files.append(path)
            if (start_us is None or e.min_time >= start_us) and (end_us is None or e.max_time < end_us):
                within.append(path)
        return Snapshot(files=files, head=head, remote=remote, within=frozenset(within))

    def record_copy(self, segment_id: str, key: str, checksum: str) -> bool:
        """Note that a published local segment has a verified copy at bucket `key` (cluster mode uploads each one):
        in the catalog (`Catalog.record_copy`), then in the in-memory entry if it is still there (a rewrite may
        have replaced it meanwhile: then nothing is added back). Offload and backups then use that copy."""
        if not self.catalog.record_copy(segment_id, key, checksum):
            return False
        with self._lock:
            for entries in self._entries.values():
                for at, entry in enumerate(entries):
                    if entry.id == segment_id:
                        entries[at] = dataclasses.replace(entry, remote_key=key, checksum=checksum)
                        return True
        return True

    def consistent_entries(self) -> tuple[int, list[SegmentEntry]]:
        """The consumed WAL position and the segments that hold everything up to it (no flush in between)."""
        with self._flush_lock:
            consumed = self.catalog.consumed_lsn()
            return consumed, self.segment_entries()

    def replace_entries(self, old_ids: list[str], new_entries: list[SegmentEntry]) -> None:
        """Swap rows in the in-memory catalog after `Catalog.replace` committed them (lifecycle rewrites)."""
        gone = set(old_ids)
        with self._lock:
            for project_id in list(self._entries):
                self._entries[project_id] = [e for e in self._entries[project_id] if e.id not in gone]
            for entry in new_entries:
                self._entries.setdefault(entry.project_id, []).append(entry)

    def segment_entries(self, project_id: str | None = None) -> list[SegmentEntry]:
        with self._lock:
            if project_id is not None:
                return list(self._entries.get(project_id, ()))
            return [e for entries in self._entries.values() for e in entries]


def may_hold(entry: SegmentEntry, start_us: int | None, end_us: int | None, trace_id: str | None) -> bool:
    """Whether a segment may hold rows in `[start_us, end_us)` and of the trace, by its catalog row (time bounds,
    trace bloom filter) alone."""
    if start_us is not None and entry.max_time < start_us:
        return False
    if end_us is not None and entry.min_time >= end_us:
        return False
    return trace_id is None or entry.trace_bloom is None or bloom_may_contain(entry.trace_bloom, trace_id)


def empty_span_table() -> pa.Table:
    return SPAN_SCHEMA.empty_table()
