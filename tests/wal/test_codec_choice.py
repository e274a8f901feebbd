"""`[wal] compression = "auto"`: protobuf bodies are written as they are, every other body as LZ4."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lynex_box.config import load_settings
from lynex_box.engine import Engine
from lynex_box.wal.format import FILE_HEADER_SIZE, FLAG_LZ4, FLAG_ZSTD, FRAME_HEADER
from lynex_box.wal.log import list_wal_files
from lynex_box.wal.records import PROTOBUF, RecordHeader, RecordType


def flags_by_lsn(wal_dir: Path) -> dict[int, int]:
    found = {}
    for _, path in list_wal_files(wal_dir):
        data, offset = path.read_bytes(), FILE_HEADER_SIZE
        while offset < len(data):
            _, length, _, flags, lsn = FRAME_HEADER.unpack_from(data, offset)
            found[lsn] = flags
            offset += FRAME_HEADER.size + length
    return found


@pytest.mark.parametrize(
    "setting, protobuf_flags, json_flags",
    [("auto", 0, FLAG_LZ4), ("lz4", FLAG_LZ4, FLAG_LZ4), ("zstd", FLAG_ZSTD, FLAG_ZSTD), ("none", 0, 0)],
)
def test_the_codec_follows_the_setting_and_the_body(
    tmp_path: Path, setting: str, protobuf_flags: int, json_flags: int
) -> None:
    settings = load_settings(env={}, overrides={"server": {"data_dir": str(tmp_path)}, "wal": {"compression": setting}})
    engine = Engine.open(settings)
    try:
        now = time.time_ns() // 1000
        protobuf = engine.append(RecordType.OTLP_TRACES, RecordHeader("p", now, "otlp", (), PROTOBUF), b"\x0a" * 4000)
        native = engine.append(RecordType.EVENTS, RecordHeader("p", now, "sdk"), b'{"events": []}' + b" " * 4000)
    finally:
        engine.close()
    flags = flags_by_lsn(tmp_path / "wal")
    assert (flags[protobuf], flags[native]) == (protobuf_flags, json_flags)
