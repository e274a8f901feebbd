"""Lynex Box plugin: hallucination-risk and quality detectors on every LLM span, run in the pipeline.

`create(config)` is the entry point (`lynex_box.plugins` group, name `detectors`), called with the
`[plugins.detectors]` table (settings.py). Its `lynex_detectors` hook returns one detector per enabled check
(checks.py: grounding, citations, refusal, completeness, language, json); each batch is analysed once, over
whole columns (batch.py, quiet.py), and every detector returns its own scores and `code: excerpt` reasons, which
the server merges into `hallucination_risk` and the `detections` column (docs/plugins.md, docs/detectors.md).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from lynex_box.plugins.hookspecs import hookimpl
from lynex_detectors.batch import Results, analyse
from lynex_detectors.case import Case
from lynex_detectors.checks import CODES, NAMES
from lynex_detectors.run import codes, run_case
from lynex_detectors.settings import ConfigError, Settings, validate

__all__ = ["CODES", "NAMES", "Case", "ConfigError", "Detectors", "Settings", "codes", "create", "run_case",
           "validate"]  # fmt: skip


Columns = dict[str, tuple[list[float | None], list[list[str] | None] | None]]  # name -> (scores, reasons)


class _Shared:
    """One analysis per batch for all of this plugin's detectors (they are called one after the other on it), split
    into each detector's scores and reasons once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._table: pa.Table | None = None  # kept so that its id is not reused while cached
        self._columns: Columns = {}

    def columns(self, table: pa.Table) -> Columns:
        if table is not self._table:
            self._columns = _columns(analyse(table, self.settings), self.settings.enabled)
            self._table = table
        return self._columns

    def forget(self) -> None:
        self._table, self._columns = None, {}


def _columns(results: Results, names: tuple[str, ...]) -> Columns:
    """Per detector, its score and reasons on each row (None: no opinion, or no reasons); reasons None for a
    detector that gave none in this batch."""
    n = len(results)
    scores: dict[str, list[float | None]] = {name: [None] * n for name in names}
    reasons: dict[str, list[list[str] | None]] = {name: [None] * n for name in names}
    gave: set[str] = set()
    for i, found in enumerate(results):
        if found is None:
            continue
        for name, (score, why) in found.items():
            scores[name][i] = score
            if why:
                reasons[name][i] = why
                gave.add(name)
    return {name: (scores[name], reasons[name] if name in gave else None) for name in names}


class _Detector:
    def __init__(self, name: str, shared: _Shared, last: bool) -> None:
        self.name = name
        self._shared = shared
        self._last = last

    def detect(self, table: pa.Table) -> tuple[list[float | None], list[list[str] | None] | None] | None:
        found = self._shared.columns(table).get(self.name)
        if self._last:
            self._shared.forget()  # do not keep the batch alive until the next one
        return found


class Detectors:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @hookimpl
    def lynex_detectors(self) -> list[Any]:
        shared = _Shared(self.settings)
        names = self.settings.enabled
        return [_Detector(name, shared, i == len(names) - 1) for i, name in enumerate(names)]


def create(config: dict[str, Any]) -> Detectors:
    """The plugin object for the `[plugins.detectors]` table."""
    return Detectors(validate(config))
