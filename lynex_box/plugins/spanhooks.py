"""The pipeline hooks of in-process plugins: `lynex_enrich_spans` and `lynex_detectors`, run on every batch of
decoded spans before it reaches the head (pipeline/runner.py), after the built-in cost enricher.

They run on the pipeline's own thread, in the order the plugins are enabled, so only first-party plugins take them
(docs/plugins.md) and bench/plugin_overhead.py measures their cost. Whatever a plugin does, no span is lost: a hook
that raises, or returns a table that is not the same spans (other rows, ids or projects, a schema that does not
cast), leaves the batch as it was before that hook; the error is counted, logged (the first one, then one in
every `LOG_EVERY`) and shown by GET /v1/plugins.

Detectors are vectorised: `detect(table)` gets the whole batch and returns, per row, a score from 0 to 1 (or null:
no opinion) and optionally reasons. Several detectors' scores are merged into the `hallucination_risk` column by
their maximum (a score the sender reported counts too); each flagged row (score > 0 or reasons given) gets its
detections in the `detections` column (span schema version 3, docs/format/segments.md): a JSON list of
`{"detector", "code", "score", "excerpt"}`, one per reason (a reason `code: excerpt` is split there; other text is
the excerpt of a reason coded with the detector's name), or one without an excerpt for a score given no reason.
The query API returns that list and filters on its detectors and codes (`?detector=`).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from lynex_box.schema.span import SPAN_SCHEMA

log = logging.getLogger("lynex.plugins")
ENRICH_HOOK: Final = "lynex_enrich_spans"
DETECT_HOOK: Final = "lynex_detectors"
DETECTIONS: Final = "detections"  # the column a flagged span's detections go in
MAX_DETECTIONS: Final = 32  # per span: the first ones say why; a list past this is cut
_CODE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
LOG_EVERY: Final = 100  # a hook that fails on every batch logs its first error, then one in this many
_IDENTITY: Final = ("project_id", "trace_id", "span_id", "event_id")  # what an enricher may never change


class HookError(ValueError):
    """What a pipeline hook returned cannot be used; the message names the hook's mistake."""


@dataclass(slots=True)
class HookStats:
    """One plugin's pipeline hook: batches it was called on, the calls that failed, seconds spent, the last error."""

    plugin: str
    hook: str
    calls: int = 0
    errors: int = 0
    seconds: float = 0.0
    last_error: str = ""

    def status(self) -> dict[str, Any]:
        return {"hook": self.hook, "calls": self.calls, "errors": self.errors,
                "seconds": round(self.seconds, 3), "last_error": self.last_error}  # fmt: skip


@dataclass(slots=True)
class _Detector:
    plugin: str
    name: str
    detect: Callable[[pa.Table], Any]
    stats: HookStats


@dataclass(slots=True)
class SpanHooks:
    """Called by the pipeline on each decoded batch (`__call__`); `active` is False when no plugin takes a hook."""

    _enrichers: list[tuple[Callable[..., Any], HookStats]] = field(default_factory=list)
    _detectors: list[_Detector] = field(default_factory=list)

    def add_enricher(self, plugin: str, fn: Callable[..., Any]) -> None:
        self._enrichers.append((fn, HookStats(plugin, ENRICH_HOOK)))

    def add_detectors(self, plugin: str, found: object) -> None:
        """The list a plugin's `lynex_detectors()` returned; raises HookError (the plugin then fails to load)
        when an entry is not a detector."""
        if not isinstance(found, Sequence):
            raise HookError(f"{DETECT_HOOK} returned {type(found).__name__}; hint: return a list of detectors")
        stats = HookStats(plugin, DETECT_HOOK)
        for detector in found:
            name, detect = getattr(detector, "name", None), getattr(detector, "detect", None)
            if not isinstance(name, str) or not name or not callable(detect):
                raise HookError(f"{DETECT_HOOK} returned {detector!r}; hint: an object with a `name` (str) and "
                                "`detect(table)`")  # fmt: skip
            self._detectors.append(_Detector(plugin, name, detect, stats))

    def order(self, names: Sequence[str]) -> None:
        """Run the hooks in the order of `names` (`[plugins] enabled`)."""
        rank = {name: i for i, name in enumerate(names)}
        self._enrichers.sort(key=lambda e: rank.get(e[1].plugin, len(rank)))
        self._detectors.sort(key=lambda d: rank.get(d.plugin, len(rank)))

    def forget(self, plugin: str) -> None:
        """Drop a plugin's hooks (it failed to start)."""
        self._enrichers = [(fn, s) for fn, s in self._enrichers if s.plugin != plugin]
        self._detectors = [d for d in self._detectors if d.plugin != plugin]

    @property
    def active(self) -> bool:
        return bool(self._enrichers or self._detectors)

    def status(self) -> dict[str, list[dict[str, Any]]]:
        """plugin name -> its pipeline hooks' counters."""
        seen: dict[int, HookStats] = {id(s): s for _, s in self._enrichers}
        seen.update((id(d.stats), d.stats) for d in self._detectors)
        out: dict[str, list[dict[str, Any]]] = {}
        for stats in seen.values():
            out.setdefault(stats.plugin, []).append(stats.status())
        return out

    def __call__(self, table: pa.Table) -> pa.Table:
        """The batch after every enricher and detector; on any plugin's failure, the batch as it was before it."""
        if not table.num_rows:
            return table
        for fn, stats in self._enrichers:
            table = self._enrich(fn, stats, table)
        if self._detectors:
            table = self._detect(table)
        return table

    def _enrich(self, fn: Callable[..., Any], stats: HookStats, table: pa.Table) -> pa.Table:
        started = time.perf_counter()
        try:
            found = fn(table=table)
            return table if found is None or found is table else _same_spans(found, table)
        except Exception as exc:  # a plugin's failure is its own: the batch goes on without its change
            _failed(stats, exc)
            return table
        finally:
            stats.calls += 1
            stats.seconds += time.perf_counter() - started

    def _detect(self, table: pa.Table) -> pa.Table:
        rows = table.num_rows
        merged = _float64(table.column("hallucination_risk"))
        flagged: dict[int, list[dict[str, Any]]] = {}  # row -> its detections, only rows some detector flagged
        for detector in self._detectors:
            started = time.perf_counter()
            try:
                found = detector.detect(table)
                if found is None:
                    continue
                scores, reasons = _detection(found, rows, detector.name)
            except Exception as exc:
                _failed(detector.stats, exc)
                continue
            finally:
                detector.stats.calls += 1
                detector.stats.seconds += time.perf_counter() - started
            merged = pc.max_element_wise(merged, scores, skip_nulls=True)
            _note(flagged, detector.name, scores, reasons)
        table = table.set_column(table.schema.get_field_index("hallucination_risk"), "hallucination_risk", merged)
        if flagged:
            table = _with_detections(table, flagged)
        return table


def _failed(stats: HookStats, exc: Exception) -> None:
    stats.errors += 1
    stats.last_error = f"{type(exc).__name__}: {exc}"[:500]
    if stats.errors == 1 or stats.errors % LOG_EVERY == 0:
        log.error("plugin %s %s failed (%d so far), the batch goes on without it: %s (GET /v1/plugins counts them)",
                  stats.plugin, stats.hook, stats.errors, stats.last_error)  # fmt: skip


def _same_spans(found: object, before: pa.Table) -> pa.Table:
    """`found` cast to the span schema, if it holds the very spans of `before` (an enricher changes columns only)."""
    if not isinstance(found, pa.Table):
        raise HookError(f"{ENRICH_HOOK} returned {type(found).__name__}; hint: a pyarrow Table, or None")
    if found.num_rows != before.num_rows:
        raise HookError(f"{ENRICH_HOOK} returned {found.num_rows} rows for {before.num_rows}; hint: keep every span")
    try:
        cast = found.select(SPAN_SCHEMA.names).cast(SPAN_SCHEMA)
    except (KeyError, ValueError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise HookError(f"{ENRICH_HOOK} returned a table that is not the span schema ({exc}); hint: change values, "
                        "keep the columns and their types") from exc  # fmt: skip
    for column in _IDENTITY:
        if not cast.column(column).equals(before.column(column)):
            raise HookError(f"{ENRICH_HOOK} changed {column}; hint: ids and projects are not an enricher's to change")
    return cast


def _float64(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return pc.cast(array, pa.float64())


def _detection(found: object, rows: int, name: str) -> tuple[pa.Array, list[Any] | None]:
    """(scores in [0, 1] or null, reasons per row or None) from what `detect` returned: `(scores, reasons)` or
    scores alone; scores a pyarrow/numpy array or a sequence of float | None."""
    pair = isinstance(found, tuple) and len(found) == 2 and not isinstance(found[0], int | float | type(None))
    scores, reasons = found if pair else (found, None)  # a 2-tuple of numbers is the scores of two spans
    try:
        array = _float64(scores if isinstance(scores, pa.Array | pa.ChunkedArray) else pa.array(scores, pa.float64()))
    except (TypeError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise HookError(f"detector {name!r} returned scores that are not numbers ({exc}); hint: floats 0-1") from exc
    if len(array) != rows:
        raise HookError(f"detector {name!r} returned {len(array)} scores for {rows} spans; hint: one per span")
    array = pc.if_else(pc.is_nan(array), pa.scalar(None, pa.float64()), array)  # NaN: no opinion
    array = pc.min_element_wise(pc.max_element_wise(array, 0.0, skip_nulls=False), 1.0, skip_nulls=False)
    if reasons is not None:
        reasons = reasons.to_pylist() if isinstance(reasons, pa.Array | pa.ChunkedArray) else list(reasons)
        if len(reasons) != rows:
            raise HookError(f"detector {name!r} returned {len(reasons)} reasons for {rows} spans; hint: one per span")
    return array, reasons


def _note(flagged: dict[int, list[dict[str, Any]]], name: str, scores: pa.Array, reasons: list[Any] | None) -> None:
    """Record, for each row this detector flagged (score > 0, or reasons), its detections."""
    hit = pc.fill_null(pc.greater(scores, 0.0), False)
    rows = set(pc.indices_nonzero(hit).to_pylist())
    if reasons is not None:
        rows.update(i for i, r in enumerate(reasons) if r)
    if not rows:
        return
    values = scores.to_pylist()
    for i in sorted(rows):
        why = reasons[i] if reasons is not None and reasons[i] else []
        score = values[i]
        score = None if score is None or math.isnan(score) else score
        texts = [str(r) for r in (why if isinstance(why, list | tuple) else [why])]
        flagged.setdefault(i, []).extend(detection(name, text, score) for text in texts or [None])


def detection(detector: str, reason: str | None, score: float | None) -> dict[str, Any]:
    """One entry of the `detections` column: `code: excerpt` split, other text the excerpt of the detector's code."""
    code, excerpt = detector, reason
    if reason is not None:
        head, sep, tail = reason.partition(":")
        if sep and _CODE.fullmatch(head.strip()):
            code, excerpt = head.strip(), tail.strip() or None
    return {"detector": detector, "code": code, "score": score, "excerpt": excerpt}


def _with_detections(table: pa.Table, flagged: dict[int, list[dict[str, Any]]]) -> pa.Table:
    """`detections` with each flagged row's entries added (Python only for the flagged rows)."""
    column = table.column(DETECTIONS).combine_chunks()
    updated: dict[int, str] = {}
    for i, found in flagged.items():
        before = _as_list(column[i].as_py())
        updated[i] = orjson.dumps([*before, *found][:MAX_DETECTIONS]).decode()
    positions = pa.array(sorted(updated), pa.int64())
    mask = pc.is_in(pa.array(range(len(column)), pa.int64()), value_set=positions)
    replacement = pa.array([updated[i] for i in sorted(updated)], pa.string())
    new = pc.replace_with_mask(column, mask, replacement)
    return table.set_column(table.schema.get_field_index(DETECTIONS), DETECTIONS, new)


def _as_list(text: str | None) -> list[Any]:
    """A row's detections before these (a replay of a batch already detected, or a sender's), as a list."""
    if text is None:
        return []
    try:
        found = orjson.loads(text)
    except orjson.JSONDecodeError:
        return []
    return found if isinstance(found, list) else []
