"""OTLP decoding in a worker process, so that it does not hold the server's GIL.

Decoding an OTLP record (protobuf walk, convention mapping) is pure Python and was most of the GIL the server
held under OTLP load: the HTTP side and the pipeline thread waited for it while the second core idled. Here
the pipeline's decode thread hands the WAL record to one worker process (`decode_worker`) over a Unix socket
and blocks on the answer with the GIL released. The worker runs the very decoders the pipeline would run
(`otlp_decoders`) and answers Arrow IPC bytes (span columns) or pickled rows (a record with a transient `_` hint,
and log events), so the result is the same as decoding in this process.

The worker is a fresh interpreter (`python -m`), never a fork of this threaded process; it starts on the first
OTLP record. A worker that dies (or a socket that breaks) is replaced and the record sent again; a record that
fails in two workers in a row is decoded in this process, so the pipeline never skips one. The worker exits at
EOF on its socket: when `close()` closes it, or when this process dies.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa

import lynex_box
from lynex_box.pipeline.decode_worker import ERROR, LOG, READY, REQUEST, RESPONSE, ROWS, TABLE
from lynex_box.pipeline.decoders import Decoder, Row, SpanColumns
from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import RecordHeader

log = logging.getLogger("lynex.pipeline")

ATTEMPTS = 2  # workers a record is tried in before this process decodes it itself
START_TIMEOUT_S = 60.0  # a worker that is not ready by then (imports on a starved box) counts as failed
STOP_TIMEOUT_S = 5.0


class WorkerLost(Exception):
    """The worker died or its socket broke during an exchange."""


class RemoteDecodeError(Exception):
    """The decoder raised in the worker; carries the worker's traceback."""


def _read_exactly(sock: socket.socket, size: int) -> bytearray:
    data = bytearray(size)
    view = memoryview(data)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])  # blocks without the GIL
        if n == 0:
            raise EOFError("decode worker closed its socket")
        got += n
    return data


def _read_frame(sock: socket.socket) -> tuple[int, bytearray]:
    kind, size = struct.unpack(RESPONSE, _read_exactly(sock, struct.calcsize(RESPONSE)))
    return kind, _read_exactly(sock, size)


def _columns(data: bytearray) -> list[Row] | SpanColumns:
    """Span columns from the worker's Arrow IPC stream: one Arrow array per column, as `spans_to_table` takes."""
    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    if table.num_rows == 0:
        return []
    table = table.combine_chunks()
    return {name: column.chunk(0) for name, column in zip(table.column_names, table.columns, strict=True)}


class DecodeProcess:
    """One decode worker process shared by the OTLP decoders; thread-safe (one exchange at a time)."""

    def __init__(self, local: dict[int, Decoder]) -> None:
        self.local = local  # the in-process decoders: the fallback, and the set of record types served
        self.starts = 0
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._closed = False
        self._broken = False  # a worker could not be started: decode here from now on

    @property
    def pid(self) -> int | None:
        """The running worker's process id (None before the first record or after close)."""
        return self._proc.pid if self._proc is not None else None

    def decoders(self) -> dict[int, Decoder]:
        """A decoder per record type the worker serves, to put in the pipeline's decoder map."""
        return {rtype: RemoteDecoder(self, rtype) for rtype in self.local}

    def decode(self, record: WalRecord, header: RecordHeader, body: memoryview) -> list[Row] | SpanColumns:
        for attempt in range(1, ATTEMPTS + 1):
            with self._lock:
                if self._closed or self._broken:
                    break
                try:
                    kind, data, logs = self._exchange(record)
                except WorkerLost as exc:
                    log.warning("decode worker lost lsn=%d attempt=%d: %s", record.lsn, attempt, exc)
                    continue
            for name, level, message in logs:
                logging.getLogger(name).log(level, "%s", message)
            if kind == TABLE:
                return _columns(data)
            if kind == ROWS:
                rows: list[Row] = pickle.loads(data)  # our own worker's answer
                return rows
            raise RemoteDecodeError(data.decode(errors="replace"))
        else:
            log.error("decode worker failed %d times; decoding lsn=%d in the server process", ATTEMPTS, record.lsn)
        return self.local[record.type](record, header, body)

    def _exchange(self, record: WalRecord) -> tuple[int, bytearray, list[tuple[str, int, str]]]:
        sock = self._sock if self._sock is not None else self._start()
        try:
            sock.sendall(struct.pack(REQUEST, len(record.payload), record.lsn, record.type))
            sock.sendall(record.payload)
            logs: list[tuple[str, int, str]] = []
            while True:
                kind, data = _read_frame(sock)
                if kind != LOG:
                    if kind not in (TABLE, ROWS, ERROR):
                        raise WorkerLost(f"unexpected answer kind {kind}")
                    return kind, data, logs
                logs = pickle.loads(data)  # our own worker's answer
        except (OSError, EOFError) as exc:
            self._stop(kill=True)
            raise WorkerLost(str(exc) or type(exc).__name__) from exc
        except WorkerLost:
            self._stop(kill=True)
            raise

    def _start(self) -> socket.socket:
        """Start a worker and wait for it to be ready; on failure mark this object broken."""
        ours, theirs = socket.socketpair()
        root = str(Path(lynex_box.__file__).resolve().parents[1])  # the same package, installed or not
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "lynex_box.pipeline.decode_worker", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env,
            )  # fmt: skip
            theirs.close()
            self._sock = ours
            ours.settimeout(START_TIMEOUT_S)
            kind, _pid = _read_frame(ours)
            ours.settimeout(None)
            if kind != READY:
                raise WorkerLost(f"unexpected first answer kind {kind}")
        except (OSError, EOFError, WorkerLost) as exc:
            theirs.close()
            self._stop(kill=True)
            self._broken = True
            log.error("decode worker could not start (%s); decoding OTLP in the server process", exc)
            raise WorkerLost(f"worker did not start: {exc}") from exc
        self.starts += 1
        if self.starts > 1:
            log.warning("decode worker restarted pid=%d starts=%d", self._proc.pid, self.starts)
        return ours

    def _stop(self, kill: bool) -> None:
        """End the worker: EOF first (it exits by itself), a kill if asked or if it does not; reap it."""
        sock, proc, self._sock, self._proc = self._sock, self._proc, None, None
        if sock is not None:
            sock.close()
        if proc is None:
            return
        if kill:
            proc.kill()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        """Stop the worker; later records (there should be none) are decoded in this process."""
        with self._lock:
            self._closed = True
            self._stop(kill=False)


class RemoteDecoder:
    """The pipeline's decoder for one record type, answered by the shared worker."""

    ordered = False

    def __init__(self, process: DecodeProcess, rtype: int) -> None:
        self.process = process
        self.rtype = rtype

    def __call__(self, record: WalRecord, header: RecordHeader, body: memoryview) -> list[Row] | SpanColumns:
        return self.process.decode(record, header, body)

    def close(self) -> None:
        self.process.close()


def close_decoders(decoders: dict[int, Any]) -> None:
    """Stop the worker processes behind a decoder map (a decoder without `close` holds none)."""
    for decoder in decoders.values():
        close = getattr(decoder, "close", None)
        if callable(close):
            close()
