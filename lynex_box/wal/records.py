"""Typed WAL payloads: a small JSON header (project, time, source, skipped items) plus the body.

Kept apart from the framing (format.py) as Prometheus keeps `record` apart from `wlog`: the WAL
stores bytes, this module says what those bytes mean. See docs/format/wal.md, "Typed record payloads".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import orjson

PROTOBUF = "application/x-protobuf"  # the `ct` of a record whose body is protobuf (OTLP)


@dataclass(frozen=True, slots=True)
class RecordHeader:
    project_id: str
    received_us: int
    source: str
    skip: tuple[int, ...] = field(default=())
    content_type: str = "application/json"


def encode_payload(header: RecordHeader, body: bytes) -> bytes:
    head = orjson.dumps(
        {"p": header.project_id, "t": header.received_us, "src": header.source, "skip": list(header.skip),
         "ct": header.content_type}
    )  # fmt: skip
    return struct.pack("<H", len(head)) + head + body


def decode_payload(payload: bytes) -> tuple[RecordHeader, memoryview]:
    (size,) = struct.unpack_from("<H", payload)
    raw = orjson.loads(payload[2 : 2 + size])
    header = RecordHeader(
        project_id=raw["p"],
        received_us=int(raw["t"]),
        source=raw.get("src", "sdk"),
        skip=tuple(raw.get("skip", ())),
        content_type=raw.get("ct", "application/json"),
    )
    return header, memoryview(payload)[2 + size :]
