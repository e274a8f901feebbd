"""The decode worker process: decodes OTLP WAL records with the pipeline's own decoders, off the server's GIL.

Started by `decode_process.DecodeProcess` as `python -m lynex_box.pipeline.decode_worker <fd>`, where `<fd>` is
its end of a Unix socket pair. It imports only what decoding needs (the OTLP package, pyarrow, the WAL record
format): not the server, DuckDB or the store. The protocol (see `decode_process`): requests, each answered in
order by zero or more log frames and one result frame. It exits when the socket reaches EOF: the parent closed
it, or died.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import signal
import socket
import struct
import sys
import traceback
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from lynex_box.pipeline.otlp_decoders import otlp_decoders
from lynex_box.schema.span import spans_to_table
from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import decode_payload

# Frame layouts and kinds, shared with the parent side (`decode_process`).
REQUEST = "<IQH"  # payload length, record lsn, record type; then the WAL payload (header + body) itself
RESPONSE = "<BI"  # kind, length; then the data
READY, TABLE, ROWS, ERROR, LOG = 1, 2, 3, 4, 5


class _Captured(logging.Handler):
    """Keeps the log records of one decode, so the parent logs them in its own format and handlers."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.records.append((record.name, record.levelno, text))


def _ipc(table: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def read_exactly(sock: socket.socket, size: int) -> bytearray | None:
    """`size` bytes from the socket, or None at EOF (both sides of the protocol read frames with it)."""
    data = bytearray(size)
    view = memoryview(data)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:], 0, socket.MSG_WAITALL)  # one wait without the GIL, not one a chunk
        if n == 0:
            return None
        got += n
    return data


def _send(sock: socket.socket, kind: int, data: bytes | pa.Buffer) -> None:
    size = data.size if isinstance(data, pa.Buffer) else len(data)
    sock.sendall(struct.pack(RESPONSE, kind, size))
    if size:
        sock.sendall(memoryview(data))


def _requests(sock: socket.socket) -> Iterator[tuple[int, int, bytearray]]:
    """(lsn, record type, payload) of each request, in order, until EOF."""
    head_size = struct.calcsize(REQUEST)
    while (head := read_exactly(sock, head_size)) is not None:
        size, lsn, rtype = struct.unpack(REQUEST, head)
        payload = read_exactly(sock, size)
        if payload is None:
            return
        yield lsn, rtype, payload


def serve(sock: socket.socket) -> None:
    """Answer requests, in order, until EOF.

    One thread: the parent sends records ahead into the socket and reads answers on threads of its own, so the
    next request waits in the kernel's buffer, not in a reading thread here that would take the GIL from the
    decoding while it streams in (that cost about 25% more CPU per span)."""
    captured = _Captured()
    logging.getLogger().addHandler(captured)
    logging.getLogger().setLevel(logging.INFO)
    _send(sock, READY, str(os.getpid()).encode())
    decoders = otlp_decoders()
    # The cyclic collector would walk every object a decode creates (tens of thousands, all alive until the
    # answer is sent, none in a cycle) several times per request: about a tenth of the CPU per span. So it is off
    # while a request is decoded and back on between requests (a cycle made by a failed decode is still
    # collected), and what was imported at start is frozen out of its full collections.
    gc.freeze()
    for lsn, rtype, payload in _requests(sock):
        captured.records.clear()
        kind: int
        data: bytes | pa.Buffer
        gc.disable()
        try:
            record = WalRecord(lsn, rtype, bytes(payload))
            header, body = decode_payload(record.payload)
            result: Any = decoders[rtype](record, header, body)
            if isinstance(result, dict):
                kind, data = TABLE, _ipc(spans_to_table(result))
            else:
                kind, data = ROWS, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            kind, data = ERROR, traceback.format_exc().encode()
        finally:
            gc.enable()
        if captured.records:
            _send(sock, LOG, pickle.dumps(captured.records, protocol=pickle.HIGHEST_PROTOCOL))
        _send(sock, kind, data)


def main() -> None:
    # The parent stops this process (EOF on the socket, a kill if need be). A Ctrl-C on the terminal, or a SIGTERM
    # to the whole group (systemd), is for the parent: it still decodes the records it drains before it exits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=int(sys.argv[1]))
    try:
        serve(sock)
    except (BrokenPipeError, ConnectionResetError):  # the parent went away mid-answer
        pass
    finally:
        sock.close()


if __name__ == "__main__":
    main()
