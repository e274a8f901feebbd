"""Typed WAL records: what a record's type byte means (`RecordType`) and its payload, a small JSON header
(`RecordHeader`: project, time, source, skipped items) plus the body.

Kept apart from the framing (format.py, whose `FRAME_HEADER` is the fixed binary header of every frame) as
Prometheus keeps `record` apart from `wlog`: the WAL stores bytes, this module says what those bytes mean. See
docs/format/wal.md, "Typed record payloads".
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

import orjson

PROTOBUF = "application/x-protobuf"  # the `ct` of a record whose body is protobuf (OTLP)


class RecordType(enum.IntEnum):
    """What a record carries (the frame's `type` byte); the framing does not care, the pipeline does."""

    EVENTS = 1
    OTLP_TRACES = 2
    OTLP_LOGS = 3
    SCORES = 4
    LANGFUSE_INGESTION = 5


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


class PayloadError(ValueError):
    """A record payload whose header is not one `encode_payload` wrote; the message says what is wrong."""


def decode_payload(payload: bytes) -> tuple[RecordHeader, memoryview]:
    """The header and body of a payload; PayloadError (and nothing else) when the header is damaged or foreign."""
    if len(payload) < 2:
        raise PayloadError(f"payload of {len(payload)} bytes has no header length")
    (size,) = struct.unpack_from("<H", payload)
    if 2 + size > len(payload):
        raise PayloadError(f"header of {size} bytes overruns a payload of {len(payload)} bytes")
    try:
        raw = orjson.loads(payload[2 : 2 + size])
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"header is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise PayloadError(f"header is a JSON {type(raw).__name__}, not an object")
    project_id, received_us = raw.get("p"), raw.get("t")
    source, skip, content_type = raw.get("src", "sdk"), raw.get("skip", []), raw.get("ct", "application/json")
    if not isinstance(project_id, str) or type(received_us) is not int:
        raise PayloadError(f"header needs a string p and an integer t, got {project_id!r} and {received_us!r}")
    if not isinstance(source, str) or not isinstance(content_type, str):
        raise PayloadError(f"header src and ct must be strings, got {source!r} and {content_type!r}")
    if not isinstance(skip, list) or not all(type(index) is int for index in skip):
        raise PayloadError("header skip must be a list of integers")
    header = RecordHeader(project_id, received_us, source, tuple(skip), content_type)
    return header, memoryview(payload)[2 + size :]
