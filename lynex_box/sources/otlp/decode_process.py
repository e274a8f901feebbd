"""OTLP decoding in worker processes, so that it does not hold the server's GIL.

Decoding an OTLP record (protobuf walk, convention mapping) is pure Python and was most of the GIL the server
held under OTLP load: the HTTP side and the pipeline thread waited for it while the second core idled. Here
WAL records go to worker processes (`decode_worker`, `[pipeline] otlp_decode_workers` of them, in turn) over
Unix sockets and the pipeline's decode thread blocks on the answers with the GIL released. A worker runs the
very decoders the pipeline would run (`otlp_decoders`) and answers Arrow IPC bytes (span columns) or pickled rows
(a record with a transient `_` hint, and log events), so the result is the same as decoding in this process. The
frames are `worker_protocol`'s, specified in docs/format/decode-workers.md.

Records are sent ahead (`submit`, as soon as the pipeline reads them): per worker, a sender thread writes them
and a reader thread matches answers to requests in order, so a worker always has its next record queued and
never waits for this process between records; the pipeline takes the answers in WAL order. A worker is a fresh
interpreter (`python -m`), never a fork of this threaded process; it starts on its first OTLP record. A worker
that dies (or a socket that breaks) fails every answer it owes; each record is then sent again, to a new worker,
and a record that fails in two workers in a row is decoded in this process, so the pipeline never skips one.
When a worker cannot start (a full fd table, a starved box) records are decoded here for `RETRY_START_S`, then
a start is tried again; a worker that owes an answer for `ANSWER_TIMEOUT_S` (stopped, wedged) is killed and
replaced. A worker exits at EOF on its socket: when `close()` shuts it, or when this process dies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import lynex_box
from lynex_box.pipeline.decode.types import Decoded, DecodeFn, Decoder
from lynex_box.sources.otlp import worker_protocol as wire
from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import RecordHeader

log = logging.getLogger("lynex.pipeline")

ATTEMPTS = 2  # workers a record is tried in before this process decodes it itself
START_TIMEOUT_S = 60.0  # a worker that is not ready by then (imports on a starved box) counts as failed
STOP_TIMEOUT_S = 5.0
RETRY_START_S = 30.0  # after a worker could not start, records are decoded here for this long
ANSWER_TIMEOUT_S = 300.0  # a worker that owes an answer this long (stopped, wedged) is killed and replaced
SOCKET_BUFFER_BYTES = 4 * 1024 * 1024
WORKER_MODULE = "lynex_box.sources.otlp.decode_worker"  # run as `python -m`: a fresh interpreter, never a fork

Answer = tuple[int, bytearray, wire.LogRecords]  # kind, data, the worker's log records


class WorkerLost(Exception):
    """The worker died or its socket broke before it answered."""


class _Worker:
    """One running worker process: the answers it owes (futures, in request order) and its two I/O threads.

    Whatever ends it (EOF, a broken socket, a kill, `stop`) fails every answer still owed with WorkerLost.
    """

    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self.proc = proc
        self.sock = sock
        self._owed: deque[Future[Answer]] = deque()
        self._lost: WorkerLost | None = None
        self._lock = threading.Lock()  # orders `submit` against `_fail`: no future is added after the drain
        self._outbox: queue.SimpleQueue[tuple[bytes, bytes] | None] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send_requests, name="lynex-decode-send", daemon=True)
        self._reader = threading.Thread(target=self._read_answers, name="lynex-decode-read", daemon=True)
        self._sender.start()
        self._reader.start()

    @property
    def lost(self) -> bool:
        return self._lost is not None

    def submit(self, record: WalRecord) -> Future[Answer]:
        """Queue the record for the worker; the future gets its answer, or WorkerLost."""
        future: Future[Answer] = Future()
        with self._lock:
            if self._lost is not None:
                future.set_exception(self._lost)
                return future
            # Owed and queued under one lock, so answers (in request order) meet their futures in that order.
            self._owed.append(future)  # before the bytes leave: the answer cannot come first
            self._outbox.put((wire.request_head(record), record.payload))
        return future

    def owes(self, future: Future[Answer]) -> bool:
        with self._lock:
            return future in self._owed

    def abandon(self, reason: str) -> None:
        """Give the worker up (it stopped answering): kill it and fail what it owes."""
        self._fail(WorkerLost(reason))

    def _send_requests(self) -> None:
        while (item := self._outbox.get()) is not None:
            try:
                self.sock.sendall(item[0])
                self.sock.sendall(item[1])
            except BaseException as exc:
                self._fail(WorkerLost(f"sending to the decode worker failed: {exc!r}"))
                return

    def _read_answers(self) -> None:
        logs: wire.LogRecords = []
        try:
            while True:
                kind, data = wire.read_frame(self.sock)
                if kind == wire.LOG:
                    logs = wire.log_records(data)
                    continue
                if kind not in wire.ANSWERS:
                    raise WorkerLost(f"unexpected answer kind {kind}")
                with self._lock:
                    future = self._owed.popleft() if self._owed else None
                if future is None:
                    raise WorkerLost("an answer to no request")
                future.set_result((kind, data, logs))
                logs = []
        except BaseException as exc:
            self._fail(exc if isinstance(exc, WorkerLost) else WorkerLost(str(exc) or type(exc).__name__))

    def _fail(self, exc: WorkerLost) -> None:
        with self._lock:
            if self._lost is None:
                self._lost = exc
            owed, self._owed = self._owed, deque()
        for future in owed:
            future.set_exception(exc)
        self._outbox.put(None)
        if self.proc.poll() is None:
            self.proc.kill()  # a worker that broke the protocol, or whose socket broke, is not trusted again
        self.proc.wait()  # the socket is closed by `stop`, when the worker is replaced or the process closed

    def stop(self, kill: bool) -> None:
        """End the worker: EOF first (it exits by itself), a kill if asked or if it does not; reap it."""
        self._outbox.put(None)
        if kill:
            self.proc.kill()
        else:
            self._sender.join(STOP_TIMEOUT_S)  # requests already queued leave before the EOF
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)  # EOF to the worker; our reader sees EOF when it has exited
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(STOP_TIMEOUT_S)
        self._sender.join(STOP_TIMEOUT_S)
        self.sock.close()


class DecodeProcess:
    """The decode workers shared by the OTLP decoders, taking records in turn; thread-safe; a worker that dies is
    replaced."""

    def __init__(self, local: dict[int, DecodeFn], workers: int = 1) -> None:
        self.local = local  # the in-process decoders: the fallback, and the set of record types served
        self.starts = 0
        self._lock = threading.Lock()
        self._workers: list[_Worker | None] = [None] * max(1, workers)
        self._turn = 0  # records go to the workers in turn
        self._closed = False
        self._retry_at = 0.0  # monotonic time before which no worker is started (one could not start)

    @property
    def pids(self) -> list[int]:
        """The process ids of the started workers, by slot (none before the first record or after close)."""
        return [worker.proc.pid for worker in self._workers if worker is not None]

    def decoders(self) -> dict[int, Decoder]:
        """A decoder per record type the worker serves, to put in the pipeline's decoder map."""
        return {rtype: RemoteDecoder(self, rtype) for rtype in self.local}

    def submit(self, record: WalRecord) -> Future[Answer]:
        """Send the record to the worker now (starting one if needed); `decode` takes the future."""
        with self._lock:
            slot = self._turn % len(self._workers)
            self._turn += 1
            worker = self._workers[slot]
            try:
                if self._unavailable():
                    raise WorkerLost("no decode worker")
                if worker is None or worker.lost:
                    worker = self._start(slot)
                return worker.submit(record)
            except Exception as exc:
                failed: Future[Answer] = Future()
                failed.set_exception(exc if isinstance(exc, WorkerLost) else WorkerLost(repr(exc)))
                return failed

    def _unavailable(self) -> bool:
        return self._closed or time.monotonic() < self._retry_at

    def _abandon(self, future: Future[Answer]) -> None:
        """Kill the worker that owes `future` for too long; its answers then fail and are sent again."""
        for worker in list(self._workers):
            if worker is not None and worker.owes(future):
                log.error("decode worker owes an answer for over %.0f s; killing pid=%d", ANSWER_TIMEOUT_S,
                          worker.proc.pid)  # fmt: skip
                worker.abandon(f"no answer in {ANSWER_TIMEOUT_S:.0f} s")

    def decode(
        self, record: WalRecord, header: RecordHeader, body: memoryview, sent: Future[Answer] | None = None
    ) -> Decoded:
        """The record decoded by the worker (`sent`: its answer if `submit` sent it ahead), or here."""
        future = sent if sent is not None else self.submit(record)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                try:
                    kind, data, logs = future.result(ANSWER_TIMEOUT_S)
                except FutureTimeout:
                    self._abandon(future)
                    kind, data, logs = future.result()  # failed now, by the worker's end
            except WorkerLost as exc:
                if self._unavailable():
                    break
                log.warning("decode worker lost lsn=%d attempt=%d: %s", record.lsn, attempt, exc)
                if attempt < ATTEMPTS:
                    future = self.submit(record)
                continue
            for name, level, message in logs:
                logging.getLogger(name).log(level, "%s", message)
            return wire.decoded(kind, data)  # RemoteDecodeError if the decoder raised there
        else:
            log.error("decode worker failed %d times; decoding lsn=%d in the server process", ATTEMPTS, record.lsn)
        return self.local[record.type](record, header, body)

    def _start(self, slot: int) -> _Worker:
        """Start the worker of `slot` (replacing a lost one) and wait for it to be ready. When it cannot start
        (a full fd table, a starved box), records are decoded here for `RETRY_START_S`, then a start is tried again."""
        lost = self._workers[slot]
        if lost is not None:
            self._workers[slot] = None
            lost.stop(kill=True)
        try:
            ours, theirs = socket.socketpair()
        except OSError as exc:
            self._retry_at = time.monotonic() + RETRY_START_S
            log.error("decode worker could not start (%s); decoding OTLP in the server process", exc)
            raise WorkerLost(f"worker did not start: {exc}") from exc
        for end in (ours, theirs):  # a whole record or answer fits in the kernel: neither side waits to write it
            with contextlib.suppress(OSError):  # the kernel caps it (net.core.wmem_max); the default still works
                end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER_BYTES)
        root = str(Path(lynex_box.__file__).resolve().parents[1])  # the same package, installed or not
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        # Each answer's Arrow memory is freed as soon as it is sent: malloc returns it, where the default pool
        # (jemalloc or mimalloc) keeps about 30 MB per worker. An operator's own choice is kept.
        env.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
        proc: subprocess.Popen[bytes] | None = None
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", WORKER_MODULE, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env,
            )  # fmt: skip
            theirs.close()
            ours.settimeout(START_TIMEOUT_S)
            kind, _pid = wire.read_frame(ours)
            ours.settimeout(None)
            if kind != wire.READY:
                raise WorkerLost(f"unexpected first answer kind {kind}")
            worker = _Worker(proc, ours)
        except Exception as exc:
            theirs.close()
            ours.close()
            if proc is not None:
                proc.kill()
                proc.wait()
            self._retry_at = time.monotonic() + RETRY_START_S
            log.error("decode worker could not start (%s); decoding OTLP in the server process", exc)
            raise WorkerLost(f"worker did not start: {exc}") from exc
        self._workers[slot] = worker
        self.starts += 1
        if lost is not None:
            log.warning("decode worker restarted pid=%d starts=%d", proc.pid, self.starts)
        return worker

    def close(self) -> None:
        """Stop the worker; later records (there should be none) are decoded in this process."""
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, [None] * len(self._workers)
        for worker in workers:
            if worker is not None:
                worker.stop(kill=False)


class RemoteDecoder:
    """The pipeline's decoder for one record type, answered by the shared workers (a `Decoder` that submits)."""

    ordered = False

    def __init__(self, process: DecodeProcess, rtype: int) -> None:
        self.process = process
        self.rtype = rtype

    def submit(self, record: WalRecord) -> Future[Answer]:
        """Send the record ahead; pass the future to the call that decodes it."""
        return self.process.submit(record)

    def __call__(
        self, record: WalRecord, header: RecordHeader, body: memoryview, sent: Future[Any] | None = None
    ) -> Decoded:
        return self.process.decode(record, header, body, sent)

    def close(self) -> None:
        self.process.close()
