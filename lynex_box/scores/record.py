"""The body of a `SCORES` WAL record (docs/format/wal.md, type 4): accepted scores, resolved, as JSON.

A score route validates a request, fills in what the client left out (an id, a timestamp) and appends the result:
the record holds `{"scores": [...]}`, each item every `Score` field by name, so applying it later (the pipeline,
or a replay after a crash) stores exactly the scores the answer acknowledged, ids included. Pure: no I/O. Decoding
must never trust the bytes: an item that is not a whole score is reported, never half stored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Final

import orjson

from lynex_box.scores.model import DATA_TYPES, SOURCES, Score

_FIELDS: Final = tuple(f.name for f in dataclasses.fields(Score))
_TEXT: Final = frozenset(_FIELDS) - {"value", "timestamp_us"}
_REQUIRED_TEXT: Final = ("id", "name", "data_type", "source")
_INT64: Final = (-(2**63), 2**63 - 1)  # what SQLite stores; a larger integer would fail every retry of the record


def encode_scores(scores: Sequence[Score]) -> bytes:
    """The record body of `scores` (in this order)."""
    return orjson.dumps({"scores": [dataclasses.asdict(s) for s in scores]})


class ScoreRecordError(ValueError):
    """A SCORES record body that is not one `encode_scores` wrote; the message says what is wrong."""


def _score(item: Any) -> Score:
    if not isinstance(item, dict) or set(item) != set(_FIELDS):
        raise ScoreRecordError(f"an item is not a score object with the fields {list(_FIELDS)}")
    for name in _TEXT:
        value = item[name]
        if value is not None and not isinstance(value, str):
            raise ScoreRecordError(f"{name} of score {item['id']!r} is a {type(value).__name__}, not a string")
    for name in _REQUIRED_TEXT:
        if not item[name]:
            raise ScoreRecordError(f"score {item['id']!r} has no {name}")
    if item["data_type"] not in DATA_TYPES or item["source"] not in SOURCES:
        raise ScoreRecordError(f"score {item['id']!r} has data_type {item['data_type']!r}, source {item['source']!r}")
    value, stamp = item["value"], item["timestamp_us"]
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ScoreRecordError(f"value of score {item['id']!r} is {value!r}, not a number")
    if isinstance(stamp, bool) or not isinstance(stamp, int) or not _INT64[0] <= stamp <= _INT64[1]:
        raise ScoreRecordError(f"timestamp_us of score {item['id']!r} is {stamp!r}, not a 64-bit integer")
    return Score(**{**item, "value": None if value is None else float(value)})


def decode_scores(body: bytes | memoryview) -> tuple[list[Score], list[str]]:
    """The scores of a record body and the errors of items that are not scores; ScoreRecordError when the body
    as a whole is not a scores record."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ScoreRecordError(f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("scores"), list):
        raise ScoreRecordError('body is not {"scores": [...]}')
    scores: list[Score] = []
    errors: list[str] = []
    for item in doc["scores"]:
        try:
            scores.append(_score(item))
        except ScoreRecordError as exc:
            errors.append(str(exc))
    return scores, errors
