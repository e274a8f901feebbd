"""The storage engine as one object: WAL, catalog, head + segments, pipeline and query, wired in order.

Usable without the HTTP server (tests, the CLI, benchmarks) and by `app.py`. Start-up order is the
recovery order: open meta.db (the catalog is the truth), sweep orphaned segment files, recover the WAL
(starting no earlier than the checkpoint), then replay it into the head. Each part goes on an exit stack as
soon as it is open, so a step that fails closes the ones before it; shutdown is the reverse and ends with a
flush, so a clean stop leaves nothing to replay. The read path (query hooks, query engine, lifecycle) is built
in one place, `open_reads`, for the engine and for the read-only engine a CLI opens beside a running server.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from lynex_box import fsutil
from lynex_box.config import PipelineSettings, Settings
from lynex_box.lifecycle import Lifecycle
from lynex_box.lifecycle.bucket import node_id
from lynex_box.lifecycle.hooks import QueryHooks
from lynex_box.meta.catalog import Catalog
from lynex_box.meta.db import MetaDB
from lynex_box.pii.request import redact_request
from lynex_box.pii.stage import PiiStage
from lynex_box.pii.store import PiiReloader
from lynex_box.pipeline.decode.registry import DecoderRegistry
from lynex_box.pipeline.dedupe import RecentIds, dedupe_key
from lynex_box.pipeline.modelmeta import ModelMetaEnricher
from lynex_box.pipeline.runner import Enricher, Pipeline, SpanHooks
from lynex_box.pipeline.sampling import TextSampler, sample_rates
from lynex_box.pipeline.traces import TOPIC as TRACE_COMPLETED
from lynex_box.pipeline.traces import TraceTracker
from lynex_box.plugins.events import NO_EVENTS, Events
from lynex_box.query.engine import QueryEngine
from lynex_box.scores.applier import ScoreApplier
from lynex_box.scores.judges import JudgeVerdicts
from lynex_box.scores.store import forget_applied_after
from lynex_box.segments import encryption
from lynex_box.segments.datakeys import DataKeys
from lynex_box.segments.encryption import KeyUnavailable
from lynex_box.segments.keywrap import check_source
from lynex_box.segments.store import SpanStore
from lynex_box.sources.langfuse import decoder as langfuse_decoder
from lynex_box.sources.native import decoder as native_decoder
from lynex_box.sources.otlp import decoder as otlp_decoder
from lynex_box.wal.log import WalLog
from lynex_box.wal.log import check_versions as check_wal_versions
from lynex_box.wal.records import PROTOBUF, RecordHeader, RecordType, encode_payload

log = logging.getLogger("lynex.engine")

# Each source registers the decoders of its WAL record types; the pipeline imports no source.
SOURCES = (otlp_decoder.register, langfuse_decoder.register)  # besides native events, which take an id prefix


def decoder_registry(settings: PipelineSettings, event_id_prefix: str = "") -> DecoderRegistry:
    """The pipeline's decoders, from every source (OTLP worker processes start on their first record).
    `event_id_prefix` starts the id of a native event sent without one (the node's id in cluster mode)."""
    registry = DecoderRegistry()
    native_decoder.register(registry, settings, event_id_prefix)
    for register in SOURCES:
        register(registry, settings)
    return registry


def _event_id_prefix(settings: Settings, meta: MetaDB) -> str:
    """In cluster mode the node's id (and a dash): it starts the ids the pipeline gives native events sent without
    one, which are otherwise their WAL places and so the same on every node. A single node keeps bare places."""
    return f"{node_id(settings.bucket, meta)}-" if settings.cluster.enabled else ""


@dataclass(frozen=True, slots=True)
class Backpressure:
    """Why ingest must wait: the answer carries `Retry-After`."""

    reason: str
    retry_after_s: int


class DataDirBusy(RuntimeError):
    """Another process already runs an engine on this data dir."""


def lock_data_dir(data_dir: Path) -> int:
    """Take the data dir's writer lock (released by the kernel if the process dies, even by SIGKILL)."""
    fd = fsutil.open_file(data_dir / "LOCK", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirBusy(
            f"another lynex-box process is running on {data_dir}; hint: stop it, or use another --data-dir"
        ) from None
    return fd


def seed_recent_ids(store: SpanStore, recent: RecentIds, data_keys: DataKeys | None = None) -> None:
    """Refill the dedupe window from the newest segments, so a retry across a restart is still dropped."""
    chunks: list[list[str]] = []
    total = 0
    for entry in sorted(store.segment_entries(), key=lambda e: e.created_at, reverse=True):
        if total >= recent.capacity:
            break
        if entry.location != "local":
            continue  # offloaded: old, and not worth a download at start-up
        path = store.data_dir / entry.path
        decryption = None
        if data_keys is not None and encryption.is_encrypted(path):
            try:
                cipher = data_keys.cipher(entry.project_id)
            except KeyUnavailable:
                continue  # a locked project takes no ingest, so it has no retries to drop
            decryption = cipher.decryption_properties() if cipher is not None else None
        ids = pq.read_table(path, columns=["event_id"], decryption_properties=decryption).column(0).to_pylist()
        chunks.append([dedupe_key(entry.project_id, event_id) for event_id in ids])
        total += len(ids)
    for keys in reversed(chunks):
        recent.filter_new(keys)


class EncryptionLocked(RuntimeError):
    """Replayed spans of an encrypted project wait in the head, and its key cannot be had: no flush could write them."""


def refuse_locked_head(store: SpanStore, keys: DataKeys) -> None:
    """Stop start-up when the WAL replay put spans of a locked project in the head.

    They could only be written as plaintext (never) or not at all, and a flush that cannot write one project
    writes none: refusing to start names the cause instead of stalling every project's flush."""
    for project_id, reason in keys.locked().items():
        if store.snapshot(project_id).head:
            raise EncryptionLocked(
                f"the WAL holds unflushed spans of encrypted project {project_id}, and {reason}; hint: configure "
                "the key-encryption key ([encryption] kek_file or kek_env) and start again"
            )


def open_reads(
    opened: contextlib.ExitStack,
    settings: Settings,
    meta: MetaDB,
    catalog: Catalog,
    store: SpanStore,
    *,
    work_dir: Path | None = None,
    durable_lsn: Callable[[], int] | None = None,
    flush: Callable[[], object] | None = None,
    temp_dir: Path | None = None,
) -> tuple[QueryEngine, Lifecycle]:
    """The read path over `store`, in its one build order (the engine's and the read-only one): the query hooks
    (retention and deletions, the bucket cache), the query engine built with them, the lifecycle over both. Each
    is registered on `opened` as soon as it is open, to close in reverse. DuckDB spills to `temp_dir`."""
    hooks = QueryHooks.open(settings, meta, work_dir)
    query = QueryEngine(
        store,
        settings.query,
        visibility=hooks.visibility,
        remote=hooks.cache,
        shared=hooks.shared,
        temp_dir=temp_dir,
        verdicts=JudgeVerdicts(meta).table,
    )
    opened.callback(query.close)
    lifecycle = Lifecycle(
        settings, meta, catalog, store, hooks, durable_lsn=durable_lsn, flush=flush, temp_dir=temp_dir
    )
    opened.callback(lifecycle.close)
    return query, lifecycle


class Engine:
    """Open with `Engine.open(settings)`; `close()` flushes and stops everything (or use it as a context manager).

    `Engine.open_read_only(settings)` opens the read path alone, beside a server that holds the data dir."""

    _opened: contextlib.ExitStack  # what `close` closes, in reverse order

    def __init__(
        self,
        settings: Settings,
        enrichers: list[Enricher] | None,
        opened: contextlib.ExitStack,
        events: Events = NO_EVENTS,
        span_hooks: SpanHooks | None = None,
    ) -> None:
        """The steps of `open`, in recovery order; each part is registered on `opened` right after it is open.
        `events` receives the pipeline's topics (span batch stored, score written; lynex_box/plugins/);
        `span_hooks` runs plugins' enrichers and detectors on each decoded batch (replayed ones too)."""
        self.settings = settings
        self.data_dir = settings.data_dir
        fsutil.prepare_data_dir(self.data_dir)  # 0700, or tightened with a warning
        check_source(settings.encryption, self.data_dir)  # a KEK file inside the data dir: refuse before anything
        self._lock_fd = lock_data_dir(self.data_dir)
        opened.callback(os.close, self._lock_fd)  # last to go: nothing else may open the data dir before
        spill = self.data_dir / "tmp" / "duckdb"  # the query engine's and lifecycle's DuckDB spill files
        # (removed on start: what a crash left is garbage)
        shutil.rmtree(spill, ignore_errors=True)
        fsutil.make_dir(spill)
        # Every format is checked before anything changes (docs/operations/upgrades.md): the WAL's file headers
        # here, before meta.db is migrated; meta.db's schema as it opens; the catalog's segments as the store loads.
        check_wal_versions(self.data_dir / "wal")
        self.meta = MetaDB(self.data_dir / "meta.db")
        opened.callback(self.meta.close)
        self.catalog = Catalog(self.meta)
        # every process that opens the engine (and so may replay the WAL) redacts: the stage is the engine's own
        self.pii = PiiStage(settings.pii)
        self.pii_settings = PiiReloader(self.meta, self.pii)  # the API, the scheduler and the cluster log reload it
        self.pii_settings.reload()
        self.data_keys = DataKeys.open(settings.encryption, self.meta, self.data_dir)
        self.store = SpanStore(self.data_dir, self.catalog, settings.head, settings.segments, self._advance_checkpoint,
                               ciphers=self.data_keys.cipher)  # fmt: skip
        self.store.sweep()
        consumed = self.catalog.consumed_lsn()
        self.wal = WalLog.open(self.data_dir / "wal", settings.wal, min_next_lsn=consumed + 1)
        opened.callback(self.wal.close)
        # Scores applied past the WAL's end were in a tail it lost (a power loss with durability "os", a restored
        # backup): their LSNs will be given again, to new records, which must not be taken for applied.
        forget_applied_after(self.meta, self.wal.durable_lsn)
        self.wal.remove_before(consumed)  # a crash after the last publish may have left them
        recent = RecentIds(settings.ingest.dedupe_window_events)
        seed_recent_ids(self.store, recent, self.data_keys)
        # open traces for `trace_completed`, only when a plugin subscribes (the host loaded before the engine): the
        # replay below rebuilds those whose spans are still in the WAL (docs/plugins.md)
        plugins = settings.plugins
        self.traces = (
            TraceTracker(events, plugins.trace_idle_s, plugins.trace_idle_max_open)
            if events.wants(TRACE_COMPLETED)
            else None
        )
        self.pipeline = Pipeline(
            self.wal,
            self.store,
            recent,
            decoder_registry(settings.pipeline, _event_id_prefix(settings, self.meta)),
            enrichers=[*builtin_enrichers(enrichers), self.pii],  # PII last: it sees every text the others wrote
            finishers=[TextSampler(functools.partial(sample_rates, self.meta))],
            batch_records=settings.pipeline.batch_records,
            decode_threads=settings.pipeline.decode_threads,
            appliers={RecordType.SCORES: ScoreApplier(self.meta, outbox=settings.cluster.enabled, events=events)},
            events=events,
            traces=self.traces,
            span_hooks=span_hooks,
        )
        opened.callback(self.pipeline.close)  # its threads and the OTLP decode workers
        self.query, self.lifecycle = open_reads(
            opened, settings, self.meta, self.catalog, self.store,
            durable_lsn=lambda: self.wal.durable_lsn, flush=self.store.flush, temp_dir=spill,
        )  # fmt: skip
        self.pipeline.process_available()  # replay: the head is whole before the first query
        refuse_locked_head(self.store, self.data_keys)
        self._closed = False

    @classmethod
    def open(
        cls,
        settings: Settings,
        enrichers: list[Enricher] | None = None,
        events: Events = NO_EVENTS,
        span_hooks: SpanHooks | None = None,
    ) -> Engine:
        """Recover and open the data dir's storage stack. A step that fails closes the steps before it, in reverse
        order, and releases the data dir's lock: a failed open leaves no thread, file or lock behind."""
        with contextlib.ExitStack() as opened:
            engine = cls(settings, enrichers, opened, events, span_hooks)
            engine._opened = opened.pop_all()
        return engine

    @staticmethod
    def open_read_only(settings: Settings) -> ReadOnlyEngine:
        """The published segments and the catalog, with retention, deletions and the bucket cache applied as in the
        server, without the data dir's lock: beside a running server (`lynex-box query`, `export`, `delete`)."""
        with contextlib.ExitStack() as opened:
            reader = ReadOnlyEngine(settings, opened)
            reader._opened = opened.pop_all()
        return reader

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _advance_checkpoint(self, consumed_lsn: int) -> None:
        removed = self.wal.remove_before(consumed_lsn)
        if removed:
            log.info("wal files removed count=%d consumed_lsn=%d", removed, consumed_lsn)

    # --------------------------------------------------------------------------- ingest
    def backpressure(self) -> Backpressure | None:
        """Non-None when ingest must refuse new data for now (WAL backlog or disk over its limit)."""
        limits = self.settings.ingest
        backlog = self.wal.backlog_bytes(self.catalog.consumed_lsn())
        if backlog > limits.max_backlog_bytes:
            return Backpressure(f"WAL backlog of {backlog} bytes is over its limit", limits.retry_after_s)
        free = shutil.disk_usage(self.data_dir).free
        if free < limits.min_free_disk_bytes:
            return Backpressure(f"free disk of {free} bytes is under its limit", limits.retry_after_s * 5)
        return None

    def append(self, rtype: RecordType, header: RecordHeader, body: bytes) -> int:
        """Append one typed record and block until durable; returns its LSN."""
        return self.wal.append(rtype, encode_payload(header, body), self._codec(header))

    def _codec(self, header: RecordHeader) -> str | None:
        """The WAL codec of a record's payload under `[wal] compression = "auto"`: none for a protobuf body, lz4
        for the others. Measured: on OTLP protobuf requests lz4 costs about 4 µs of CPU a span (about 5% of the
        OTLP ingest rate on 2 cores); on JSON requests, several times larger, no codec makes the WAL write and
        its replay slower than lz4 does."""
        if self.settings.wal.compression != "auto":
            return None
        return "none" if header.content_type == PROTOBUF else "lz4"

    async def append_async(self, rtype: RecordType, header: RecordHeader, body: bytes) -> int:
        """Append one typed record; return once it is durable and the pipeline is not too far behind.

        Flow control: while more than `[pipeline] max_lag_records` durable records wait for the
        pipeline, the acknowledgement waits too (up to `max_lag_wait_ms`), so senders slow down to the
        rate at which spans become queryable instead of building a backlog that delays visibility.
        """
        if self.settings.pii.redact_in_request and rtype != RecordType.SCORES:
            scanner = self.pii.scanner(header.project_id)
            if scanner is not None and scanner.redact:  # before the WAL: no raw copy on disk ([pii], docs/pii.md)
                body = await asyncio.to_thread(redact_request, scanner, rtype, header, body)
        lsn = await self.wal.append_async(rtype, lambda: encode_payload(header, body), self._codec(header))
        limits = self.settings.pipeline
        if limits.max_lag_wait_ms > 0:
            deadline = time.monotonic() + limits.max_lag_wait_ms / 1000
            while self.pipeline_lag() > limits.max_lag_records and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
        return lsn

    async def wait_processed(self, lsn: int, timeout_s: float) -> bool:
        """Wait until the pipeline has processed the record at `lsn` (its scores are in meta.db, its spans in the
        head), at most `timeout_s`; False if it has not by then (it will: the record is durable)."""
        return await self.pipeline.wait_processed(lsn, timeout_s)

    def pipeline_lag(self) -> int:
        """Durable WAL records the pipeline has not yet put in the head."""
        return max(0, self.wal.durable_lsn - (self.store.next_lsn - 1))

    # --------------------------------------------------------------------------- helpers
    def catch_up(self) -> None:
        """Process every durable record now (tests and the CLI; the server's pipeline task does it live)."""
        self.pipeline.process_available()

    def flush(self) -> int:
        self.pipeline.process_available()
        self.pipeline.wait_flushed()
        return self.store.flush()

    async def run_flusher(self, stop: asyncio.Event, poll_s: float = 0.25) -> None:
        """Flush the head whenever a threshold is reached; a failed flush is retried next time."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_s)
            if self.store.flush_due():
                try:
                    await asyncio.to_thread(self.store.flush)
                except Exception:
                    log.exception("head flush failed; will retry")

    @contextlib.asynccontextmanager
    async def tasks(self) -> AsyncIterator[None]:
        """The pipeline (WAL -> head) and the flusher (head -> segments) as tasks on the running loop until the
        context exits; then they are told to stop and awaited (the server's lifespan)."""
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(self.pipeline.run(stop, self.settings.pipeline.idle_poll_ms / 1000), name="pipeline")
        ]
        if not self.settings.server.read_only:  # read-only: the replayed head stays in memory, nothing is flushed
            tasks.append(asyncio.create_task(self.run_flusher(stop), name="flusher"))
        if self.traces is not None:  # idle traces completed on a timer, swept in a worker thread
            tasks.append(asyncio.create_task(self.traces.run(stop), name="trace-sweep"))
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        """Process what is durable, flush the head, then close the parts in the reverse of their opening order
        (lifecycle, query, pipeline, WAL, meta.db, the lock), even when the final flush fails. In read-only mode
        (`[server] read_only`) nothing is flushed: the WAL still holds the head, replayed at the next start."""
        if self._closed:
            return
        self._closed = True
        with self._opened:
            self.pipeline.process_available()
            self.pipeline.close()  # before the last flush: the pipeline's own flush has ended
            if not self.settings.server.read_only:
                self.store.flush()


class ReadOnlyEngine:
    """The read path of a data dir beside a running server (`Engine.open_read_only`): the catalog and the published
    segments, the query engine and the lifecycle, with a bucket cache and scratch space in a private temporary
    directory. It takes no lock, replays no WAL and never touches the server's head or cache."""

    _opened: contextlib.ExitStack

    def __init__(self, settings: Settings, opened: contextlib.ExitStack) -> None:
        self.settings = settings
        self.meta = MetaDB(settings.data_dir / "meta.db")
        opened.callback(self.meta.close)
        self.work_dir = Path(tempfile.mkdtemp(prefix="lynex-cli-"))  # private (0700), removed on close
        opened.callback(shutil.rmtree, self.work_dir, ignore_errors=True)
        catalog = Catalog(self.meta)
        data_keys = DataKeys.open(settings.encryption, self.meta, settings.data_dir)  # encrypted projects
        self.store = SpanStore(settings.data_dir, catalog, settings.head, settings.segments, ciphers=data_keys.cipher)
        spill = fsutil.make_dir(self.work_dir / "duckdb")  # DuckDB spills apart from a running server's
        self.query, self.lifecycle = open_reads(
            opened, settings, self.meta, catalog, self.store, work_dir=self.work_dir, temp_dir=spill
        )

    def close(self) -> None:
        self._opened.close()

    def __enter__(self) -> ReadOnlyEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def engine_or_none(settings: Settings, enrichers: list[Enricher] | None = None) -> Iterator[Engine | None]:
    """The data dir's engine for a CLI command (recovery, WAL replay), so it can flush and change files; None when
    a server holds the data dir, and the command works beside it (`Engine.open_read_only`)."""
    try:
        engine = Engine.open(settings, enrichers)
    except DataDirBusy:
        yield None
        return
    with engine:
        yield engine


def builtin_enrichers(given: list[Enricher] | None) -> list[Enricher]:
    """The given enrichers (costs), then the built-in model metadata and fingerprints. Raw-text sampling is not one
    of them: it runs after the plugins' detectors, whose flags keep a span's text (`Pipeline(finishers=...)`)."""
    return [*(given or []), ModelMetaEnricher()]
