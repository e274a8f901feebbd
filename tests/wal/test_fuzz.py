"""Fuzzing the WAL's framing and record payloads: any bytes are records or a FrameError/PayloadError, a file of any
bytes is opened with its damaged tail cut, never a crash.

The byte-level checks are `tests.fuzz_targets.wal` (shared with `bench/fuzz.py wal`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lynex_box.config import WalSettings
from lynex_box.wal import WalLog
from lynex_box.wal.format import FILE_HEADER_SIZE, encode_file_header, encode_record
from lynex_box.wal.reader import WalCursor
from lynex_box.wal.records import PayloadError, RecordHeader, decode_payload, encode_payload
from tests import fuzz_targets

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PAYLOAD = encode_payload(RecordHeader("p1", 1, "sdk", (0, 2)), b'{"events": []}')


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes(data: bytes) -> None:
    fuzz_targets.wal(data)


@FUZZ
@given(st.sampled_from(fuzz_targets.seeds("wal")), st.integers(0, 400), st.binary(min_size=1, max_size=6))
def test_mutated_frames(seed: bytes, position: int, patch: bytes) -> None:
    fuzz_targets.wal(seed[:position] + patch + seed[position + len(patch) :])


@FUZZ
@given(st.integers(0, len(PAYLOAD)), st.binary(max_size=6), st.integers(0, 6))
def test_mutated_payload_headers(position: int, patch: bytes, cut: int) -> None:
    try:
        header, body = decode_payload(PAYLOAD[:position] + patch + PAYLOAD[position + cut :])
    except PayloadError:
        return
    assert isinstance(header.project_id, str) and isinstance(header.received_us, int)
    assert all(isinstance(i, int) for i in header.skip) and isinstance(body, memoryview)


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x05", b"\x10\x00{}", b"\x02\x00[]", b'\x0b\x00{"p": 1, "t": 2}', b'\x0e\x00{"p":"x","t":"2"}'],
)
def test_damaged_payload_headers_are_payload_errors(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        decode_payload(payload)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200), st.integers(0, 3))
def test_a_file_of_any_tail_opens_with_the_tail_cut(tail: bytes, whole: int) -> None:
    image = encode_file_header(1) + b"".join(encode_record(lsn, 1, PAYLOAD, 0) for lsn in range(1, whole + 1))
    with tempfile.TemporaryDirectory() as tmp:
        wal_dir = Path(tmp) / "wal"
        wal_dir.mkdir()
        (wal_dir / "00000001.wal").write_bytes(image + tail)
        log = WalLog.open(wal_dir, WalSettings())
        try:
            records = WalCursor(wal_dir, 1, lambda: log.durable_lsn).read(100)
        finally:
            log.close()
    assert [r.payload for r in records][:whole] == [PAYLOAD] * whole
    assert len(image) >= FILE_HEADER_SIZE
