"""`Lifecycle`: the lifecycle's pieces wired for one data dir, and the passes the scheduler, API and CLI run.

Built by the engine (with its WAL position and flush), and read-only beside a running server too
(`Engine.open_read_only`), after the query hooks (hooks.py: retention + tombstones, the bucket cache) that the
query engines were built with, so every query path applies deletions and retention. Passes run one at a time
under `_work`, on one dedicated thread when scheduled (`jobs`), so background rewrites never compete with each
other or take the threads that serve queries. A failing pass is logged and retried on its next turn; none may
raise into the scheduler.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import json
import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from lynex_box.config import Settings
from lynex_box.jobs import Job
from lynex_box.lifecycle import backup as backups
from lynex_box.lifecycle import cross, deletion_scope
from lynex_box.lifecycle import reprice as reprices
from lynex_box.lifecycle.bucket import node_id
from lynex_box.lifecycle.compaction import compaction_pass
from lynex_box.lifecycle.context import LifecycleContext, open_duck
from lynex_box.lifecycle.deletion import delete, pending, purge_pass
from lynex_box.lifecycle.diskguard import DiskGuard, disk_free
from lynex_box.lifecycle.hooks import QueryHooks
from lynex_box.lifecycle.janitor import janitor_pass, sweep_bucket
from lynex_box.lifecycle.offload import offload_pass, rehydrate_pass
from lynex_box.lifecycle.retention import retention_pass
from lynex_box.lifecycle.visibility import Tombstone
from lynex_box.meta import audit
from lynex_box.meta.catalog import Catalog, SegmentEntry
from lynex_box.meta.db import MetaDB
from lynex_box.meta.prices import list_prices
from lynex_box.objstore import LocalStore, ObjectStore
from lynex_box.pricing import PriceBook
from lynex_box.query.engine import QueryEngine
from lynex_box.schema.timefmt import format_time_us, parse_time_us
from lynex_box.segments.store import SpanStore

log = logging.getLogger("lynex.lifecycle")
T = TypeVar("T")


class Lifecycle:
    def __init__(
        self,
        settings: Settings,
        db: MetaDB,
        catalog: Catalog,
        store: SpanStore,
        hooks: QueryHooks,
        *,
        durable_lsn: Callable[[], int] | None = None,
        flush: Callable[[], object] | None = None,
        free_bytes: Callable[[Path], int] = disk_free,
        temp_dir: Path | None = None,
    ) -> None:
        """`hooks` are the visibility rules and the bucket cache the process's query engine was built with;
        `durable_lsn` and `flush` come from the engine that holds the WAL (None in a CLI process beside a server).
        Threads start with the first pass; `close` stops them. DuckDB spills to `temp_dir`."""
        lc = settings.lifecycle
        self.settings = settings
        self.bucket = hooks.bucket
        self.bucket_health = hooks.bucket_health
        self.cache = hooks.cache
        self.visibility = hooks.visibility
        shutil.rmtree(hooks.work_dir / "tmp", ignore_errors=True)
        node = node_id(settings.bucket, db)
        self.guard = DiskGuard(settings.data_dir, lc.disk_pressure_free_bytes, settings.ingest.min_free_disk_bytes,
                               free_bytes)  # fmt: skip
        self._durable_lsn = durable_lsn
        self._flush = flush
        self._work = threading.Lock()
        self.failures: dict[str, int] = {}  # failed turns of each scheduled pass (GET /metrics)
        with contextlib.ExitStack() as opened:  # a failure here closes what was opened before it
            duck = open_duck(lc.threads, settings.query.rewrites_memory_mb, temp_dir)
            opened.callback(duck.close)
            # Sees every stored span, deleted or expired ones too: the scope of a deletion is found from the very
            # spans its tombstone hides (deletion_scope.py). Never used to answer a client.
            self.scanner = QueryEngine(
                store, dataclasses.replace(settings.query, threads=lc.threads), remote=self.cache,
                memory_limit_mb=settings.query.scans_memory_mb, temp_dir=temp_dir,
            )  # fmt: skip
            opened.callback(self.scanner.close)
            self.ctx = LifecycleContext(
                settings=settings, data_dir=settings.data_dir, db=db, catalog=catalog, store=store,
                visibility=self.visibility, bucket=self.bucket, node_id=node, cache=self.cache, duck=duck,
                work_dir=hooks.work_dir, clock=self.visibility.clock, shared=hooks.shared,
            )  # fmt: skip
            self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="lifecycle")
            opened.pop_all()

    # ------------------------------------------------------------------------ passes (blocking)
    def _locked(self, fn: Callable[[], T]) -> T:
        with self._work:
            return fn()

    def compact(self) -> int:
        """Merge what is due, then clear replaced files whose grace period is over."""
        done = self._locked(lambda: compaction_pass(self.ctx))
        self.clean()
        return done

    def merge_shared(
        self, inputs: list[SegmentEntry], own_ids: list[str], before_swap: Callable[[SegmentEntry], bool]
    ) -> SegmentEntry | None:
        """Cross-node compaction's merge on the `compaction` lease holder (cross.py), between the other passes (the
        cluster node's job calls it from a thread of its own: nothing once the lifecycle is closing)."""
        return self._locked(
            lambda: None if self.ctx.stopping.is_set() else cross.merge_shared(self.ctx, inputs, own_ids, before_swap)
        )

    def drop_replaced(self, ids: set[str]) -> int:
        """Retire this node's segments another node's merge replaced (cross.py); nothing once closing."""
        return self._locked(lambda: 0 if self.ctx.stopping.is_set() else cross.drop_replaced(self.ctx, ids))

    def apply_retention(self) -> dict[str, int]:
        """Retention, then the replaced files and the bucket's orphaned objects (this pass runs hourly)."""
        done = self._locked(lambda: retention_pass(self.ctx))
        self.clean()
        self._locked(lambda: sweep_bucket(self.ctx))
        return done

    def purge_deletions(self) -> int:
        keep = self.settings.cluster.enabled  # other nodes' copies of the rows are purged by their own passes
        done = self._locked(
            lambda: purge_pass(self.ctx, self._durable_lsn, self._flush, self.expand, keep_until_due=keep)
        )
        self.clean()
        return done

    def delete(self, project_id: str, kind: str, value: str, actor: audit.Actor | None) -> tuple[Tombstone, bool]:
        """Record a deletion (queries hide the spans at once), then look up the traces and sessions it covers, so
        that queries hide those too. Returns the tombstone and whether the lookup completed; when it did not (the
        bucket is down), the purge completes it and the spans of the request's own column are hidden meanwhile."""
        tomb = delete(self.ctx.db, project_id, kind, value, self.settings.deletion.max_delay_s, actor)
        return tomb, tomb.kind == "trace" or self.expand(tomb)

    def expand(self, tomb: Tombstone) -> bool:
        """Find and record what `tomb` covers beyond its own value; False when some spans could not be read."""
        try:
            found = deletion_scope.find(
                self.scanner, self.ctx.store.segment_entries(), tomb, self.settings.offload.cache_max_bytes // 2
            )
        except Exception as exc:  # the bucket down, the cache too small, a locked key...: the purge tries again
            log.warning("deletion scope incomplete; the purge retries tombstone=%d error=%s", tomb.id, exc)
            return False
        added = deletion_scope.record(self.ctx.db, tomb, found)
        log.info(
            "deletion scope tombstone=%d traces=%d sessions=%d new=%d",
            tomb.id, len(found.traces), len(found.sessions), added,
        )  # fmt: skip
        return True

    def expand_pending(self) -> None:
        """Look up what every pending session and user deletion covers in this node's own segments, in the
        lifecycle's thread. In cluster mode a tombstone applied from the metadata log arrives without the lookup a
        local deletion makes at once; this node's queries hide those traces from then on, before its purge."""

        def run() -> None:
            try:
                for tomb in pending(self.ctx.db):
                    if tomb.kind != "trace":
                        self.expand(tomb)
            except Exception:
                log.exception("replicated deletion scope not looked up (the purge pass does it)")

        self.executor.submit(run)

    def reprice_replicated(self, audit_row: dict[str, Any]) -> None:
        """Carry out on this node's own segments a repricing another node recorded (its `data.repriced` audit
        entry, arrived through the cluster's metadata log), in the lifecycle's thread: each node reprices only the
        segments it owns. An entry that cannot be read is logged and skipped."""
        try:
            details = json.loads(audit_row.get("details") or "{}")
            project_id = str(audit_row["project_id"])
            start, end = parse_time_us(details["from"]), parse_time_us(details["to"])
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("replicated repricing not understood error=%s", exc)
            return

        def run() -> None:
            try:
                book = PriceBook(list_prices(self.ctx.db, project_id))
                result = self.reprice(project_id, start, end, book)
                log.info("replicated repricing done project=%s result=%s", project_id, result.as_dict())
            except Exception:
                log.exception("replicated repricing failed project=%s", project_id)

        self.executor.submit(run)

    def offload(self) -> int:
        """Rehydrate pinned ranges, offload what is past the hot window, clear replaced files."""
        self._locked(lambda: rehydrate_pass(self.ctx))
        moved = self._locked(lambda: offload_pass(self.ctx))
        self.clean()
        return moved

    def reprice(
        self, project_id: str, from_us: int, to_us: int, book: PriceBook, progress: reprices.Progress | None = None
    ) -> reprices.RepriceResult:
        """Recompute the costs of the project's spans in `[from_us, to_us)` with `book` (reprice.py); spans still
        in the head are published first, so they are repriced too."""
        if self._durable_lsn is not None and self._flush is not None:
            reprices.publish_head(self.ctx.store, self._durable_lsn, self._flush)
        return self._locked(lambda: reprices.reprice_pass(self.ctx, project_id, from_us, to_us, book, progress))

    def reprice_recorded(
        self, project_id: str, from_us: int, to_us: int, actor: audit.Actor, progress: reprices.Progress | None = None
    ) -> dict[str, Any]:
        """Reprice the range with the project's current prices (the library's and its custom ones) and record it
        in the audit log as `actor`'s; returns the answer (the range and the counts). Blocking: the CLI's repricing
        when no server runs, of a project it checked exists, after the engine caught up with the WAL."""
        book = PriceBook(list_prices(self.ctx.db, project_id))
        result = self.reprice(project_id, from_us, to_us, book, progress)
        body = {"from": format_time_us(from_us), "to": format_time_us(to_us), **result.as_dict()}
        audit.record_now(self.ctx.db, actor, "data.repriced", project_id=project_id, target_type="project",
                         target_id=project_id, details=body)  # fmt: skip
        return body

    def rehydrate(self) -> int:
        return self._locked(lambda: rehydrate_pass(self.ctx))

    def clean(self, grace_s: float | None = None) -> int:
        return self._locked(lambda: janitor_pass(self.ctx, grace_s))

    def relieve_disk(self) -> bool:
        """The disk guard's check (and the janitor's regular turn); under pressure, free disk now. Returns whether
        there was pressure."""
        self.clean()
        if not self.guard.under_pressure():
            return False
        log.warning("disk pressure free=%d threshold=%d", self.guard.free(), self.guard.pressure_free_bytes)
        if self.cache is not None:
            self.cache.trim(0)
        self._locked(lambda: compaction_pass(self.ctx, self.guard.spare_bytes()))
        self._locked(lambda: offload_pass(self.ctx, urgent=self.guard.under_pressure))
        self.clean()
        return True

    def backup_target(self, directory: Path | None = None) -> tuple[ObjectStore, bool] | None:
        """Where a backup goes: `directory`, else `[backup] dir`, else the bucket; None if nowhere."""
        chosen = directory or (Path(self.settings.backup.dir) if self.settings.backup.dir else None)
        if chosen is not None:
            return LocalStore(chosen), False
        if self.bucket is not None:
            return self.bucket, True
        return None

    def backup(
        self, directory: Path | None = None, keep: int | None = None, progress: backups.Progress | None = None
    ) -> backups.Manifest:
        target = self.backup_target(directory)
        if target is None:
            raise backups.RestoreError("no backup destination; hint: pass --to DIR, or set [backup] dir or [bucket]")
        store, in_bucket = target

        def run() -> backups.Manifest:
            manifest = backups.backup(self.ctx, store, in_bucket, progress)
            backups.rotate(self.ctx, store, in_bucket, keep or self.settings.backup.keep)
            return manifest

        return self._locked(run)

    def run_all(self) -> None:
        """Every pass once, in order (tests and the CLI)."""
        self.purge_deletions()
        self.apply_retention()
        self.compact()
        self.offload()

    # ------------------------------------------------------------------------ scheduling
    async def run_async(self, name: str, fn: Callable[[], object]) -> None:
        """Run a pass on the lifecycle thread; log its failure instead of raising into the scheduler."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.executor, fn)
        except Exception:
            self.failures[name] = self.failures.get(name, 0) + 1
            log.exception("lifecycle pass failed; retried on its next turn pass=%s", name)

    def jobs(self) -> list[Job]:
        """Every periodic pass, each run on the lifecycle's thread (`run_async`), one at a time."""
        s = self.settings
        passes: list[tuple[str, Callable[[], object], float]] = [
            ("lifecycle_compaction", self.compact, s.compaction.interval_s),
            ("lifecycle_retention", self.apply_retention, s.retention.interval_s),
            ("lifecycle_deletion", self.purge_deletions, s.deletion.max_delay_s / 4),
            ("lifecycle_disk_guard", self.relieve_disk, s.lifecycle.disk_check_interval_s),
        ]
        if self.bucket is not None:
            passes.append(("lifecycle_offload", self.offload, s.offload.interval_s))
        if s.backup.interval_s > 0 and self.backup_target() is not None:
            passes.append(("lifecycle_backup", self.backup, s.backup.interval_s))
        return [Job(name, functools.partial(self.run_async, name, work), seconds) for name, work, seconds in passes]

    def close(self) -> None:
        self.ctx.stopping.set()
        self.executor.shutdown(wait=True)
        with self._work:
            self.ctx.duck.close()
            self.scanner.close()
