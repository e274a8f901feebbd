"""Scores: evaluations, feedback and annotations attached to traces, spans or sessions (see `store` for why
they live in meta.db, not in the span segments, and how they get there through the WAL)."""

from lynex_box.scores.model import DATA_TYPES, SOURCES, InvalidScore, Score, parse_score
from lynex_box.scores.record import ScoreRecordError, decode_scores, encode_scores
from lynex_box.scores.store import (
    ScoreBatch,
    ScoreFilter,
    ScoreReader,
    applied_lsn,
    apply_batches,
    forget_applied_after,
    list_scores,
    scores_for_trace,
)

__all__ = [
    "DATA_TYPES",
    "SOURCES",
    "InvalidScore",
    "Score",
    "ScoreBatch",
    "ScoreFilter",
    "ScoreReader",
    "ScoreRecordError",
    "applied_lsn",
    "apply_batches",
    "decode_scores",
    "encode_scores",
    "forget_applied_after",
    "list_scores",
    "parse_score",
    "scores_for_trace",
]
