"""The decode-worker socket protocol: every frame between the server (`decode_process`) and an OTLP decode worker
(`decode_worker`), both directions. Specified in docs/format/decode-workers.md; a change here is a change there.

The two ends are one package of one version on one host (the server starts the worker from its own files), so
answers may be pickled: nothing else ever speaks this protocol. Little-endian, on a Unix stream socket pair:

- server -> worker, a request: `REQUEST` (payload length u32, record LSN u64, record type u16), then the WAL payload
  (the record's header and body, as stored).
- worker -> server, a frame: `FRAME` (kind u8, data length u32), then the data. First one `READY` frame (data: the
  worker's pid in ASCII); then, for each request in the order received, at most one `LOG` frame (the log records of
  that decode) and exactly one `TABLE`, `ROWS` or `ERROR` frame.

Must never import the server, DuckDB or pyarrow.compute: the worker process imports it.
"""

from __future__ import annotations

import pickle
import socket
import struct
from collections.abc import Iterator
from typing import Final

import pyarrow as pa

from lynex_box.pipeline.decode.types import Decoded, Row
from lynex_box.schema.span import spans_to_table
from lynex_box.wal.format import WalRecord

REQUEST: Final = "<IQH"  # payload length, record lsn, record type; then the WAL payload (header + body) itself
FRAME: Final = "<BI"  # kind, length; then the data
_REQUEST_SIZE: Final = struct.calcsize(REQUEST)
_FRAME_SIZE: Final = struct.calcsize(FRAME)

# Frame kinds (worker -> server).
READY: Final = 1  # the worker started; data: its pid, ASCII
TABLE: Final = 2  # span columns; data: an Arrow IPC stream of one table
ROWS: Final = 3  # span rows (a transient `_` hint, log events); data: a pickled list of dicts
ERROR: Final = 4  # the decoder raised; data: the worker's traceback, UTF-8
LOG: Final = 5  # log records of the decode that follows; data: a pickled list of (logger, level, message)
ANSWERS: Final = frozenset({TABLE, ROWS, ERROR})

LogRecords = list[tuple[str, int, str]]


class RemoteDecodeError(Exception):
    """The decoder raised in the worker; carries the worker's traceback."""


def read_exactly(sock: socket.socket, size: int) -> bytearray | None:
    """`size` bytes from the socket, or None at EOF (both ends read their frames with it)."""
    data = bytearray(size)
    view = memoryview(data)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:], 0, socket.MSG_WAITALL)  # one wait without the GIL, not one a chunk
        if n == 0:
            return None
        got += n
    return data


# --- server side


def request_head(record: WalRecord) -> bytes:
    """The fixed part of the request for `record`; its payload is sent right after it."""
    return struct.pack(REQUEST, len(record.payload), record.lsn, record.type)


def read_frame(sock: socket.socket) -> tuple[int, bytearray]:
    """(kind, data) of the worker's next frame; EOFError when the worker closed its end."""
    head = read_exactly(sock, _FRAME_SIZE)
    if head is None:
        raise EOFError("decode worker closed its socket")
    kind, size = struct.unpack(FRAME, head)
    data = read_exactly(sock, size)
    if data is None:
        raise EOFError("decode worker closed its socket")
    return kind, data


def decoded(kind: int, data: bytearray) -> Decoded:
    """The decoder's result carried by an answer frame; RemoteDecodeError for an `ERROR` frame."""
    if kind == TABLE:
        return _columns(data)
    if kind == ROWS:
        rows: list[Row] = pickle.loads(data)  # our own worker's answer
        return rows
    raise RemoteDecodeError(data.decode(errors="replace"))


def log_records(data: bytearray) -> LogRecords:
    records: LogRecords = pickle.loads(data)  # our own worker's answer
    return records


def _columns(data: bytearray) -> Decoded:
    """Span columns from the worker's Arrow IPC stream: one Arrow array per column, as `spans_to_table` takes."""
    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    if table.num_rows == 0:
        return []
    table = table.combine_chunks()
    return {name: column.chunk(0) for name, column in zip(table.column_names, table.columns, strict=True)}


# --- worker side


def read_requests(sock: socket.socket) -> Iterator[tuple[int, int, bytearray]]:
    """(lsn, record type, payload) of each request, in order, until EOF."""
    while (head := read_exactly(sock, _REQUEST_SIZE)) is not None:
        size, lsn, rtype = struct.unpack(REQUEST, head)
        payload = read_exactly(sock, size)
        if payload is None:
            return
        yield lsn, rtype, payload


def send_frame(sock: socket.socket, kind: int, data: bytes | pa.Buffer) -> None:
    size = data.size if isinstance(data, pa.Buffer) else len(data)
    sock.sendall(struct.pack(FRAME, kind, size))
    if size:
        sock.sendall(memoryview(data))


def answer(result: Decoded) -> tuple[int, bytes | pa.Buffer]:
    """The answer frame of a decoder's result: columns as Arrow IPC, rows pickled."""
    if isinstance(result, dict):
        return TABLE, _ipc(spans_to_table(result))
    return ROWS, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)


def error_answer(traceback_text: str) -> tuple[int, bytes]:
    return ERROR, traceback_text.encode()


def log_frame(records: LogRecords) -> bytes:
    return pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)


def _ipc(table: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()
