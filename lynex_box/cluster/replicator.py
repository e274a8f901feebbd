"""`MetaReplicator`: this node's side of the metadata log, on the `metadata` lease holder and on every other node.

On every node it polls the log every `poll_interval_s` and applies each new entry to meta.db in one transaction
(`metalog.apply`), skipping entries of a generation lower than the highest fence applied; a node with no copy of the
cluster's metadata yet (joining) or one that fell behind the log's oldest entry loads the newest snapshot first.
After applying it calls `on_applied(tables, changes)` so the app drops its caches (a revoked key is refused at once).

On the holder it is also the single writer: `install` creates the capture triggers (metatables.py) and sets meta.db's
before-commit hook, which turns each write transaction's changes into one log entry written create-only at the next
seq with the holder's lease generation, inside the transaction: if the write to the bucket fails, the transaction
rolls back and the client's request fails (`MetaWriteUnavailable`, 503), so no node's meta.db holds a change the log
lacks. A new holder first catches up, then writes a fence entry before any other; every `snapshot_every` entries it
writes a snapshot and deletes the log entries older than the second newest one. On a node that does not hold the
lease, a write of replicated rows that is not the log being applied is refused (`MetaWriteRefused`, 503): metadata
writes go through the holder (forwarded there by the HTTP layer).

Blocking (bucket calls, SQLite); thread-safe: one poll at a time; the hook runs on meta.db's writer thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import apsw

from lynex_box.cluster import metasnapshot
from lynex_box.cluster.metalog import (
    LOG_PREFIX,
    Entry,
    apply,
    collect,
    log_key,
    read_state,
    seq_of,
    take_captured,
    write_state,
)
from lynex_box.cluster.metasnapshot import POINTER_KEY, SNAPSHOTS_PREFIX, Pointer, snapshot_key
from lynex_box.cluster.metatables import install_capture
from lynex_box.cluster.records import Clock, wall_clock_us
from lynex_box.meta.db import MetaDB
from lynex_box.objstore import ObjectNotFound, ObjectStore, ObjectStoreError, PreconditionFailed

log = logging.getLogger("lynex.cluster.meta")

OnApplied = Callable[[set[str], list[dict[str, Any]]], None]

WRITTEN_SEQS: ContextVar[list[int] | None] = ContextVar("lynex_meta_written_seqs", default=None)
"""Set to a list by whoever wants to know which log entries the writes made in its context wrote (the HTTP layer,
for the `X-Lynex-Meta-Seq` header); the holder's hook appends each entry's seq (meta.db runs it in the context of
the code that submitted the write)."""


class MetaWriteUnavailable(Exception):
    """A metadata write that cannot be made now (the bucket unreachable, the lease changing hands): the
    transaction was rolled back; the client retries after `retry_after_s`."""

    code = "metadata_unavailable"

    def __init__(self, message: str, retry_after_s: int = 2) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class MetaWriteRefused(MetaWriteUnavailable):
    """A write of replicated metadata on a node that does not hold the `metadata` lease."""

    code = "not_metadata_holder"


class MetaReplicator:
    def __init__(
        self,
        store: ObjectStore,
        db: MetaDB,
        node_id: str,
        holds: Callable[[], int | None],
        snapshot_every: int,
        clock: Clock = wall_clock_us,
    ) -> None:
        self.store = store
        self.db = db
        self.node_id = node_id
        self.holds = holds  # the generation of this node's `metadata` lease, or None
        self.snapshot_every = snapshot_every
        self.clock = clock
        self.scratch: Path = db.path.parent
        self.on_applied: OnApplied | None = None
        self._fenced_gen: int | None = None  # the generation this node wrote its fence entry with
        self._snapshot_seq: int | None = None  # the newest snapshot's seq, once read
        self._poll_lock = threading.Lock()
        self.last_written = 0  # the seq of the last entry this node wrote

    # --- capture and publishing (the holder) ---

    def install(self) -> None:
        """Create the capture triggers on meta.db's writer connection and set the before-commit hook."""
        self.db.write(install_capture)
        self.db.set_before_commit(self._before_commit)

    def uninstall(self) -> None:
        self.db.set_before_commit(None)

    def _before_commit(self, conn: apsw.Connection) -> None:
        captured = take_captured(conn)
        if not captured:
            return
        generation = self.holds()
        if generation is None:
            if all(table == "audit_log" for table, _ in captured):
                return  # this node's own audit entries (a request it answered itself) stay here
            tables = ",".join(sorted({table for table, _ in captured}))
            log.warning("metadata write refused: this node does not hold the metadata lease tables=%s", tables)
            raise MetaWriteRefused(
                f"metadata writes go through the metadata lease holder; this node ({self.node_id}) does not hold "
                f"it (tables {tables}); hint: send the request to the holder (GET /v1/cluster names it) or retry"
            )
        seq, fence = read_state(conn)
        if generation != self._fenced_gen or generation < fence or seq < 0:
            self._kick()
            raise MetaWriteUnavailable(
                f"this node took the metadata lease (generation {generation}) moments ago and is catching up with "
                "the log; retry"
            )
        changes = collect(conn, captured)
        if not changes:
            return
        seq += 1
        entry = Entry(seq, generation, self.clock(), self.node_id, changes)
        self._put_entry(entry)
        write_state(conn, seq)
        self.last_written = seq
        written = WRITTEN_SEQS.get()
        if written is not None:
            written.append(seq)

    def _put_entry(self, entry: Entry) -> None:
        try:
            self.store.put_if_absent(log_key(entry.seq), entry.to_bytes())
        except PreconditionFailed:
            self._kick()
            raise MetaWriteUnavailable(
                f"metadata log entry {entry.seq} was written by another holder; this node catches up; retry"
            ) from None
        except ObjectStoreError as exc:
            log.error("metadata log entry not written seq=%d error=%s", entry.seq, exc)
            raise MetaWriteUnavailable(
                f"the metadata log cannot be written now ({type(exc).__name__}); nothing was changed; retry", 5
            ) from None

    def _kick(self) -> None:
        """Catch up now, in the background (a write found the log ahead of it); once at a time."""
        if self._poll_lock.locked():
            return
        threading.Thread(target=self.poll_logged, name="cluster-meta-catchup", daemon=True).start()

    # --- applying (every node) ---

    @property
    def applied_seq(self) -> int:
        """The seq of the last log entry this node's meta.db holds (-1: none yet)."""
        return read_state(self.db.reader())[0]

    def wait_applied(self, seq: int, timeout_s: float) -> bool:
        """Poll the log now (and again) until this node has applied `seq`; False after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.applied_seq >= seq:
                return True
            self.poll_logged()
            if self.applied_seq >= seq:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def poll_logged(self) -> int:
        try:
            return self.poll()
        except Exception:  # the bucket down, say: the next poll tries again
            log.exception("metadata log poll failed")
            return 0

    def poll(self) -> int:
        """Apply the entries after this node's last; on the holder, then fence and snapshot. Returns the entries
        applied."""
        with self._poll_lock:
            tables: set[str] = set()
            changes: list[dict[str, Any]] = []
            applied = self._catch_up(tables, changes)
            generation = self.holds()
            if generation is not None and self.applied_seq >= 0:
                if self._fenced_gen != generation:
                    self._write_fence(generation)
                if self._fenced_gen == generation:
                    self._maybe_snapshot()
        if tables and self.on_applied is not None:
            self.on_applied(tables, changes)
        return applied

    def _log_seqs(self, after: int) -> list[int]:
        seqs = [s for meta in self.store.list(LOG_PREFIX + "/") if (s := seq_of(meta.key)) is not None]
        return sorted(s for s in seqs if s > after)

    def _catch_up(self, tables: set[str], changes: list[dict[str, Any]]) -> int:
        seq = self.applied_seq
        seqs = self._log_seqs(seq)
        if seq < 0 or (seqs and seqs[0] > seq + 1):
            pointer = self._read_pointer()
            if pointer is None:
                if seq < 0 and not seqs and self.holds() is not None:
                    # a cluster founded before the log existed: the holder's metadata becomes the cluster's
                    log.info("metadata log started from this node's meta.db (no snapshot in the bucket)")
                    self.db.write(lambda c: write_state(c, 0))
                    return 0
                return 0  # nothing to start from yet (the founder writes snapshot 0 at founding)
            if seq < 0 or pointer.seq >= seq:
                seq = self._load_snapshot(pointer)
                tables.add("*")
                seqs = [s for s in seqs if s > seq]
        applied = 0
        for expected in seqs:
            if expected != seq + 1:
                break  # a gap: the entry is not listed yet; the next poll looks again
            result = self.store.get(log_key(expected))
            entry = Entry.from_bytes(log_key(expected), result.data)
            touched = self.db.write(lambda c, e=entry: self._apply_entry(c, e))
            if touched is None:
                break
            tables |= touched
            changes.extend(entry.changes)
            seq, applied = expected, applied + 1
        return applied

    def _apply_entry(self, conn: apsw.Connection, entry: Entry) -> set[str] | None:
        seq, fence = read_state(conn)
        if entry.seq != seq + 1:
            return None  # applied meanwhile (the holder's own write)
        touched: set[str] = set()
        if entry.fence:
            fence = max(fence, entry.generation)
            log.info("metadata log fence applied seq=%d generation=%d node=%s", entry.seq, entry.generation, entry.node)
        elif entry.generation < fence:
            log.warning(
                "metadata log entry of a stale holder skipped seq=%d generation=%d fence=%d node=%s",
                entry.seq, entry.generation, fence, entry.node,
            )  # fmt: skip
        else:
            touched = apply(conn, entry.changes)
        write_state(conn, entry.seq, fence)
        return touched

    # --- the holder's fence and snapshots ---

    def _write_fence(self, generation: int) -> None:
        def tx(conn: apsw.Connection) -> None:
            seq, fence = read_state(conn)
            entry = Entry(seq + 1, generation, self.clock(), self.node_id, [], fence=True)
            self.store.put_if_absent(log_key(entry.seq), entry.to_bytes())
            write_state(conn, entry.seq, max(fence, generation))

        try:
            self.db.write(tx)
        except PreconditionFailed:
            return  # another entry took that seq: catch up at the next poll, then fence
        self._fenced_gen = generation
        log.info("metadata log fence written seq=%d generation=%d", self.applied_seq, generation)

    def _read_pointer(self) -> Pointer | None:
        try:
            return Pointer.from_bytes(self.store.get(POINTER_KEY).data)
        except ObjectNotFound:
            return None

    def _load_snapshot(self, pointer: Pointer) -> int:
        data = self.store.get(pointer.key).data
        seq = metasnapshot.load(self.db, data, self.scratch)
        log.info("metadata snapshot loaded seq=%d bytes=%d", seq, len(data))
        return seq

    def _maybe_snapshot(self) -> None:
        if self._snapshot_seq is None:
            pointer = self._read_pointer()
            self._snapshot_seq = pointer.seq if pointer is not None else -1
        if self._snapshot_seq < 0 or self.applied_seq - self._snapshot_seq >= self.snapshot_every:
            self.write_snapshot()

    def write_snapshot(self) -> int:
        """Write a snapshot of this node's metadata, point `snapshot.json` at it, and delete what it makes
        unnecessary (snapshots but the newest two, log entries older than the second newest). Returns its seq."""
        seq, data = metasnapshot.make(self.db, self.scratch)
        key = snapshot_key(seq)
        with contextlib.suppress(PreconditionFailed):  # the same seq's snapshot, written by an earlier holder
            self.store.put_if_absent(key, data)
        pointer = Pointer(seq, key)
        try:
            current = self.store.get(POINTER_KEY)
        except ObjectNotFound:
            self.store.put_if_absent(POINTER_KEY, pointer.to_bytes())
        else:
            if Pointer.from_bytes(current.data).seq < seq:
                self.store.put_if_match(POINTER_KEY, pointer.to_bytes(), current.etag)
        self._snapshot_seq = seq
        log.info("metadata snapshot written seq=%d bytes=%d", seq, len(data))
        self._prune()
        return seq

    def _prune(self) -> None:
        snaps = sorted(
            (s, m.key) for m in self.store.list(SNAPSHOTS_PREFIX + "/") if (s := _snapshot_seq(m.key)) is not None
        )
        if len(snaps) < 2:
            return
        keep_from = snaps[-2][0]
        for _, key in snaps[:-2]:
            self.store.delete(key)
        for seq in self._log_seqs(-1):
            if seq <= keep_from:
                self.store.delete(log_key(seq))


def _snapshot_seq(key: str) -> int | None:
    stem = key.rsplit("/", 1)[-1].removesuffix(".db.zst")
    return int(stem) if len(stem) == 20 and stem.isdigit() else None
