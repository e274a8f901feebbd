"""How deeply a JSON text nests, measured on its bytes: the bound every client JSON body is held to.

A value nested hundreds of levels deep parses (orjson takes 1,024 levels) but cannot be written back: orjson
encodes at most 254 levels, so such a value, once stored, would fail the pipeline's reference decoder and every
answer that shows it. Ingest therefore refuses bodies deeper than `[ingest] max_json_depth` (default 100, the
limit protobuf puts on an OTLP message). The count is done without building Python objects, so that the common
request, checked in C by `native.fastcheck`, stays cheap: one `bytes.translate` marks quotes, backslashes and brackets,
and the few marked positions are walked with numpy (about 1 ms for a 500 KB request). It must only be given text
that is valid JSON (it trusts the grammar: quotes and backslashes occur in strings only).
"""

from __future__ import annotations

from typing import Final

import numpy as np

_QUOTE, _BACKSLASH, _OPEN, _CLOSE = 1, 2, 3, 4


def _table() -> bytes:
    table = bytearray(256)
    table[ord('"')] = _QUOTE
    table[ord("\\")] = _BACKSLASH
    for char in b"[{":
        table[char] = _OPEN
    for char in b"]}":
        table[char] = _CLOSE
    return bytes(table)


_MARKS: Final = _table()


class TooDeep(ValueError):
    """A JSON body that nests deeper than its limit; the message names both."""


def json_depth(text: bytes) -> int:
    """The nesting depth of valid JSON `text`: 0 for a scalar, 1 for `[]` or `{"a": 1}`, and so on."""
    marks = np.frombuffer(text.translate(_MARKS), np.uint8)
    where = np.flatnonzero(marks.view(np.bool_))
    kind = marks[where]
    quote = kind == _QUOTE
    backslash = kind == _BACKSLASH
    if backslash.any():
        # A quote is escaped when the run of backslashes right before it is odd (`\"` is, `\\"` is not).
        n = kind.size
        index = np.arange(n)
        touching = np.zeros(n, np.bool_)
        touching[1:] = where[1:] == where[:-1] + 1  # this mark directly follows the previous one
        continues = np.zeros(n, np.bool_)
        continues[1:] = backslash[:-1] & touching[1:]  # the previous mark is a backslash right before this one
        run_start = np.maximum.accumulate(np.where(backslash & ~continues, index, 0))
        run_length = np.zeros(n, np.int64)
        run_length[1:] = index[:-1] - run_start[:-1] + 1  # the run ending just before each mark
        quote &= ~(continues & (run_length % 2 == 1))
    inside = (np.cumsum(quote) - quote) % 2 == 1  # an odd number of real quotes before: within a string
    steps = np.where(kind == _OPEN, 1, np.where(kind == _CLOSE, -1, 0)).astype(np.int32)
    steps[inside] = 0
    return int(np.cumsum(steps).max(initial=0))


def check_depth(text: bytes, limit: int, what: str = "JSON body") -> None:
    """Raise TooDeep when valid JSON `text` nests deeper than `limit` levels."""
    depth = json_depth(text)
    if depth > limit:
        raise TooDeep(
            f"{what} nests {depth} levels deep; the limit is {limit}; hint: send deeply nested values as JSON text "
            "in a string, or raise [ingest] max_json_depth (at most 200)"
        )
