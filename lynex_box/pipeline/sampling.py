"""Raw-text sampling: a project keeps the prompts and completions of only a fraction of its traces.

A project's `sample_text` (0–1, meta.db `projects.sample_text`, NULL = 1 = keep all) is read once per pipeline step.
A trace is kept when `trace_keep_fraction(trace_id) < sample_text`: the first 8 bytes of SHA-256 of the trace id,
big-endian, over 2**64, so the choice is the same on every node, at every replay and in every release, and a trace
is whole or absent. Spans of other traces lose `input`, `output` and `tool_calls` and get `text_sampled_out = true`,
except errors (`status = 'error'`) and spans a detector flagged (`pii` set, or `hallucination_risk` at least
`FLAGGED_RISK`). Every other column (tokens, costs, timings, attributes) is kept for every span, so metrics stay
exact. It runs last among the enrichers: after the detectors have flagged, after the fingerprint has read the prompt.
It must never drop the text of a span it cannot decide about: a batch it fails on keeps everything.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from lynex_box.meta.db import MetaDB
from lynex_box.pipeline.decode.types import Row

log = logging.getLogger("lynex.pipeline")

TEXT_COLUMNS: Final = ("input", "output", "tool_calls")
"""The columns a sampled-out span loses."""

FLAGGED_RISK: Final = 0.5
"""A span whose `hallucination_risk` is at least this keeps its text whatever the sampling."""

_SCALE: Final = float(2**64)


def trace_keep_fraction(trace_id: str) -> float:
    """Where a trace falls in [0, 1): kept when below the project's `sample_text`."""
    return int.from_bytes(hashlib.sha256(trace_id.encode()).digest()[:8], "big") / _SCALE


def sample_rates(meta: MetaDB) -> dict[str, float]:
    """The projects that keep less than all of their text, with their fraction."""
    rows = meta.read("SELECT id, sample_text FROM projects WHERE sample_text IS NOT NULL AND sample_text < 1")
    return {str(project): float(rate) for project, rate in rows}


class TextSampler:
    """Callable enricher: drops the raw text of the spans of traces a project does not sample."""

    def __init__(self, rates: Callable[[], dict[str, float]]) -> None:
        self.rates = rates

    def enrich_table(self, table: pa.Table) -> pa.Table:
        if not table.num_rows:
            return table
        rates = self.rates()
        if not rates:
            return table
        try:
            sampled = self._sampled_out(table, rates)
        except Exception:  # never drop a text undecided: the batch keeps everything
            log.exception("text sampling failed; the batch keeps its text rows=%d", table.num_rows)
            return table
        if sampled is None:
            return table
        for name in TEXT_COLUMNS:
            index = table.schema.get_field_index(name)
            field = table.schema.field(index)
            table = table.set_column(index, field, pc.if_else(sampled, pa.scalar(None, field.type), table.column(name)))
        index = table.schema.get_field_index("text_sampled_out")
        governed = pc.is_in(table.column("project_id"), pa.array(list(rates), pa.string()))
        marks = pc.if_else(governed, sampled, pa.scalar(None, pa.bool_()))
        return table.set_column(index, table.schema.field(index), marks)

    def __call__(self, rows: list[Row]) -> None:
        rates = self.rates() if rows else {}
        if not rates:
            return
        columns = ("project_id", "trace_id", "status", "pii")
        table = pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in columns})
        risks = pa.array([r.get("hallucination_risk") for r in rows], pa.float64())
        table = table.append_column("hallucination_risk", risks)
        sampled = self._sampled_out(table, rates)
        if sampled is None:
            return
        for row, out, project in zip(rows, sampled.to_pylist(), table.column("project_id").to_pylist(), strict=True):
            if project not in rates:
                continue
            row["text_sampled_out"] = bool(out)
            if out:
                for name in TEXT_COLUMNS:
                    row[name] = None

    def _sampled_out(self, table: pa.Table, rates: dict[str, float]) -> pa.Array | None:
        """True for the spans whose text goes; None when no span of the batch belongs to a sampling project."""
        projects = table.column("project_id").combine_chunks()
        rate = pc.fill_null(
            pc.take(pa.array(list(rates.values()), pa.float64()), pc.index_in(projects, pa.array(list(rates)))), 1.0
        )
        if pc.all(pc.greater_equal(rate, 1.0)).as_py():
            return None
        traces = table.column("trace_id").combine_chunks().dictionary_encode()
        fractions = pa.array([trace_keep_fraction(t) for t in traces.dictionary.to_pylist()], pa.float64())
        drop = pc.greater_equal(fractions.take(traces.indices), rate)
        keep = pc.or_kleene(
            pc.equal(pc.fill_null(table.column("status"), ""), "error"),
            pc.or_kleene(
                pc.greater_equal(pc.fill_null(table.column("hallucination_risk"), 0.0), FLAGGED_RISK),
                pc.invert(_empty(table.column("pii"))),
            ),
        )
        out = pc.and_(drop, pc.invert(keep))
        return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _empty(pii: pa.ChunkedArray | pa.Array) -> pa.Array:
    """True where the `pii` column records no finding (null, empty, `{}`, `[]`, `null`)."""
    filled = pc.fill_null(pii, "")
    return pc.is_in(filled, pa.array(["", "{}", "[]", "null"]))
