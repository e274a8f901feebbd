"""Which decoder serves which WAL record type: filled by the sources at composition time (`engine`).

The pipeline looks decoders up here and never imports a source module, so a new source (or a plugin) registers
its record types without the pipeline changing. A record type has one decoder, and optionally a batch decoder
that takes runs of its records at once (the native events); registering a type twice is a wiring bug and raises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from lynex_box.pipeline.decode.types import BatchDecoder, Decoder


class DuplicateDecoder(ValueError):
    """Two sources claimed one record type."""


class DecoderRegistry(Mapping[int, Decoder]):
    """Record type -> decoder (a read-only mapping once filled), plus the batch decoders; `close` releases them."""

    def __init__(self) -> None:
        self._decoders: dict[int, Decoder] = {}
        self._batch: dict[int, BatchDecoder] = {}

    def register(self, rtype: int, decoder: Decoder, batch: BatchDecoder | None = None) -> None:
        """Serve `rtype` with `decoder` (and runs of its records with `batch`, when given)."""
        if rtype in self._decoders:
            raise DuplicateDecoder(
                f"record type {rtype} already has a decoder ({self._decoders[rtype]!r}); hint: each record type "
                "belongs to one source"
            )
        self._decoders[rtype] = decoder
        if batch is not None:
            self._batch[rtype] = batch

    def batch(self, rtype: int) -> BatchDecoder | None:
        """The batch decoder of `rtype`, if its records are decoded in runs."""
        return self._batch.get(rtype)

    def __getitem__(self, rtype: int) -> Decoder:
        return self._decoders[rtype]

    def __iter__(self) -> Iterator[int]:
        return iter(self._decoders)

    def __len__(self) -> int:
        return len(self._decoders)

    def close(self) -> None:
        """Close every decoder (stops the worker processes behind them); one failing does not keep the rest open."""
        with contextlib.ExitStack() as stack:
            for decoder in self._decoders.values():
                stack.callback(decoder.close)
