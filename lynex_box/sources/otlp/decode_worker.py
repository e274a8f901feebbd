"""The decode worker process: decodes OTLP WAL records with the pipeline's own decoders, off the server's GIL.

Started by `decode_process.DecodeProcess` as `python -m lynex_box.sources.otlp.decode_worker <fd>`, where `<fd>` is
its end of a Unix socket pair. It imports only what decoding needs (the OTLP package, pyarrow, the WAL record
format): not the server, DuckDB or the store. The protocol is `worker_protocol` (docs/format/decode-workers.md):
requests, each answered in order by zero or one log frame and one result frame. It exits when the socket reaches
EOF: the parent closed it, or died.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import sys
import traceback
from typing import Any

import pyarrow as pa

from lynex_box.sources.otlp import worker_protocol as wire
from lynex_box.sources.otlp.decoder import otlp_decoders
from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import decode_payload


class _Captured(logging.Handler):
    """Keeps the log records of one decode, so the parent logs them in its own format and handlers."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: wire.LogRecords = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.records.append((record.name, record.levelno, text))


def serve(sock: socket.socket) -> None:
    """Answer requests, in order, until EOF.

    One thread: the parent sends records ahead into the socket and reads answers on threads of its own, so the
    next request waits in the kernel's buffer, not in a reading thread here that would take the GIL from the
    decoding while it streams in (that cost about 25% more CPU per span)."""
    captured = _Captured()
    logging.getLogger().addHandler(captured)
    logging.getLogger().setLevel(logging.INFO)
    wire.send_frame(sock, wire.READY, str(os.getpid()).encode())
    decoders = otlp_decoders()
    # The cyclic collector would walk every object a decode creates (tens of thousands, all alive until the
    # answer is sent, none in a cycle) several times per request: about a tenth of the CPU per span. So it is off
    # while a request is decoded and back on between requests (a cycle made by a failed decode is still
    # collected), and what was imported at start is frozen out of its full collections.
    gc.freeze()
    for lsn, rtype, payload in wire.read_requests(sock):
        captured.records.clear()
        kind: int
        data: bytes | pa.Buffer
        gc.disable()
        try:
            record = WalRecord(lsn, rtype, bytes(payload))
            header, body = decode_payload(record.payload)
            result: Any = decoders[rtype](record, header, body)
            kind, data = wire.answer(result)
        except Exception:
            kind, data = wire.error_answer(traceback.format_exc())
        finally:
            gc.enable()
        if captured.records:
            wire.send_frame(sock, wire.LOG, wire.log_frame(captured.records))
        wire.send_frame(sock, kind, data)


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
