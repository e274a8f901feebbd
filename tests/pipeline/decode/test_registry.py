"""The decoder registry: one decoder per record type, every source's registered, all closed."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest

from lynex_box.config import PipelineSettings
from lynex_box.engine import decoder_registry
from lynex_box.pipeline.decode.registry import DecoderRegistry, DuplicateDecoder
from lynex_box.pipeline.decode.types import Decoded, Local
from lynex_box.sources.otlp.decode_process import RemoteDecoder
from lynex_box.wal.format import WalRecord
from lynex_box.wal.records import RecordHeader, RecordType


def _nothing(record: WalRecord, header: RecordHeader, body: memoryview) -> Decoded:
    return []


class Closing:
    ordered = False

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.closed = False

    def submit(self, record: WalRecord) -> None:
        return None

    def __call__(
        self, record: WalRecord, header: RecordHeader, body: memoryview, sent: Future[Any] | None = None
    ) -> Decoded:
        return []

    def close(self) -> None:
        self.closed = True
        if self.fail:
            raise RuntimeError("close failed")


def test_a_record_type_has_one_decoder() -> None:
    registry = DecoderRegistry()
    registry.register(RecordType.EVENTS, Local(_nothing))
    with pytest.raises(DuplicateDecoder, match=r"record type 1 already has a decoder.*hint"):
        registry.register(RecordType.EVENTS, Local(_nothing))


def test_close_reaches_every_decoder_when_one_fails() -> None:
    registry = DecoderRegistry()
    decoders = [Closing(fail=True), Closing(fail=False), Closing(fail=True)]
    for rtype, decoder in enumerate(decoders, start=1):
        registry.register(rtype, decoder)
    with pytest.raises(RuntimeError, match="close failed"):
        registry.close()
    assert all(decoder.closed for decoder in decoders)


def test_every_source_registers_its_record_types() -> None:
    local = decoder_registry(PipelineSettings(otlp_decode_process=False))
    assert set(local) == {
        RecordType.EVENTS,
        RecordType.OTLP_TRACES,
        RecordType.OTLP_LOGS,
        RecordType.LANGFUSE_INGESTION,
    }
    assert local.batch(RecordType.EVENTS) is not None and local.batch(RecordType.OTLP_TRACES) is None
    assert not any(decoder.ordered for decoder in local.values())
    workers = decoder_registry(PipelineSettings(otlp_decode_process=True))
    try:
        assert isinstance(workers[RecordType.OTLP_TRACES], RemoteDecoder)
        assert isinstance(workers[RecordType.OTLP_LOGS], RemoteDecoder)
    finally:
        workers.close()  # no worker started: they start on the first record
