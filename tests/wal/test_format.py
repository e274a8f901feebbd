"""Property tests of the WAL framing: round trips, and damage at the tail is found and cut."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lynex_box.config import WalSettings
from lynex_box.versions import WAL_FORMAT, FormatTooNew
from lynex_box.wal import WalLog
from lynex_box.wal.format import (
    CODECS,
    FILE_HEADER_SIZE,
    FLAG_LZ4,
    FLAG_ZSTD,
    FrameError,
    compress_payload,
    decode_file_header,
    decode_record_at,
    encode_file_header,
    encode_record,
    file_version,
)
from lynex_box.wal.reader import WalCursor

payloads = st.lists(st.tuples(st.integers(1, 4), st.binary(max_size=300)), min_size=1, max_size=12)
codecs = st.sampled_from(CODECS)


def frame_all(records: list[tuple[int, bytes]], codec: str) -> tuple[bytes, list[int]]:
    """A whole WAL file image and the offset at which each record starts."""
    out = bytearray(encode_file_header(1))
    offsets = []
    for lsn, (rtype, payload) in enumerate(records, start=1):
        body, flags = compress_payload(payload, codec=codec)
        offsets.append(len(out))
        out += encode_record(lsn, rtype, body, flags)
    return bytes(out), offsets


@given(payloads, codecs)
def test_any_sequence_of_records_round_trips(records: list[tuple[int, bytes]], codec: str) -> None:
    image, _ = frame_all(records, codec)
    offset, decoded = FILE_HEADER_SIZE, []
    for lsn in range(1, len(records) + 1):
        rec, offset = decode_record_at(image, offset, lsn)
        decoded.append((rec.type, rec.payload))
    assert decoded == records
    assert offset == len(image)


def recover(tmp: Path, image: bytes) -> list[tuple[int, bytes]]:
    wal_dir = tmp / "wal"
    wal_dir.mkdir()
    (wal_dir / "00000001.wal").write_bytes(image)
    log = WalLog.open(wal_dir, WalSettings())
    try:
        cursor = WalCursor(wal_dir, 1, lambda: log.durable_lsn)
        return [(r.type, r.payload) for r in cursor.read(10_000)]
    finally:
        log.close()


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads, codecs, st.data())
def test_a_corrupted_byte_in_the_last_record_is_cut_and_earlier_records_kept(
    tmp_path_factory: pytest.TempPathFactory, records: list[tuple[int, bytes]], codec: str, data: st.DataObject
) -> None:
    image, offsets = frame_all(records, codec)
    position = data.draw(st.integers(offsets[-1], len(image) - 1))
    flip = data.draw(st.integers(1, 255))
    damaged = bytearray(image)
    damaged[position] ^= flip
    assert recover(tmp_path_factory.mktemp("w"), bytes(damaged)) == records[:-1]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads, codecs, st.data())
def test_a_truncated_tail_is_cut_and_earlier_records_kept(
    tmp_path_factory: pytest.TempPathFactory, records: list[tuple[int, bytes]], codec: str, data: st.DataObject
) -> None:
    image, offsets = frame_all(records, codec)
    cut = data.draw(st.integers(offsets[-1], len(image) - 1))
    assert recover(tmp_path_factory.mktemp("w"), image[:cut]) == records[:-1]


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads, st.data())
def test_damage_anywhere_keeps_every_record_before_it(
    tmp_path_factory: pytest.TempPathFactory, records: list[tuple[int, bytes]], data: st.DataObject
) -> None:
    image, offsets = frame_all(records, "none")
    position = data.draw(st.integers(FILE_HEADER_SIZE, len(image) - 1))
    damaged = bytearray(image)
    damaged[position] ^= 0xFF
    hit = max(i for i, off in enumerate(offsets) if off <= position)
    assert recover(tmp_path_factory.mktemp("w"), bytes(damaged)) == records[:hit]


def test_wrong_lsn_is_a_frame_error() -> None:
    frame = encode_record(5, 1, b"abc", 0)
    with pytest.raises(FrameError, match="lsn 5"):
        decode_record_at(frame, 0, 6)


def test_zero_type_and_unknown_flags_are_rejected() -> None:
    with pytest.raises(ValueError):
        encode_record(1, 0, b"x", 0)
    with pytest.raises(FrameError, match="flags"):
        decode_record_at(encode_record(1, 1, b"x", 0x80), 0, 1)
    body, _ = compress_payload(b"x" * 100, codec="lz4")
    with pytest.raises(FrameError, match="flags"):  # one codec per payload
        decode_record_at(encode_record(1, 1, body, FLAG_LZ4 | FLAG_ZSTD), 0, 1)


def test_an_lz4_body_that_does_not_decompress_is_a_frame_error() -> None:
    body, flags = compress_payload(b"abc" * 1000, codec="lz4")
    assert flags == FLAG_LZ4
    with pytest.raises(FrameError, match="does not decompress"):
        decode_record_at(encode_record(1, 1, body[:4] + b"garbage" * 3, flags), 0, 1)


def test_a_header_of_a_newer_format_is_refused_not_taken_for_damage() -> None:
    header = b"LNXWAL02" + (7).to_bytes(8, "little")
    with pytest.raises(FormatTooNew) as info:
        decode_file_header(header, "wal/00000003.wal")
    assert (info.value.where, info.value.found, info.value.supported) == ("wal/00000003.wal", 2, WAL_FORMAT)
    assert "wal/00000003.wal has format version 2" in str(info.value) and "hint:" in str(info.value)
    assert decode_file_header(encode_file_header(7)) == 7  # this release's own header
    for foreign in (b"LNXWAL00", b"LNXWALx1", b"LNXWAL\xd9\xa1", b"PAR1\x00\x00\x00\x00", b"\x00" * 8):
        with pytest.raises(FrameError):  # damage (or not a WAL file at all): recovery's business, as before
            decode_file_header(foreign + (7).to_bytes(8, "little"))
    assert (file_version(b"LNXWAL01"), file_version(b"LNXWAL17"), file_version(b"LNXWBL01")) == (1, 17, None)
