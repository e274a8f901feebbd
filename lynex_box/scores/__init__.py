"""Scores: evaluations, feedback and annotations attached to traces, spans or sessions (see `store` for why
they live in meta.db, not in the span segments)."""

from lynex_box.scores.model import DATA_TYPES, SOURCES, InvalidScore, Score, parse_score
from lynex_box.scores.store import ScoreFilter, list_scores, scores_for_trace, upsert_scores

__all__ = [
    "DATA_TYPES",
    "SOURCES",
    "InvalidScore",
    "Score",
    "ScoreFilter",
    "list_scores",
    "parse_score",
    "scores_for_trace",
    "upsert_scores",
]
