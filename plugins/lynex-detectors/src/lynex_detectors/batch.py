"""From a pipeline batch (a pyarrow Table of the span schema) to the detectors' results per row.

Arrow compute picks the rows: the LLM spans (kinds `llm`, `chat`), and the spans of their traces in this batch
that may hold context (retriever, reranker and tool spans, or attributes naming retrieved documents). `analyse`
reads each LLM span's texts once and runs the detectors over whole columns (quiet.py); only the spans a column
prefilter could not clear get a `Case` (with their trace's context, read for them alone) and checks.py's Python.
`analyse_rows`, the Python on every LLM span, is the reference it is tested against, and serves small batches.
A trace's documents are seen only when its retriever span arrives in the same batch as the LLM span (one pipeline
step); the `rag-verify` plugin checks whole traces once they complete.
"""

from __future__ import annotations

from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from lynex_box.schema.span import LLM_CALL_KINDS
from lynex_detectors import quiet
from lynex_detectors.case import (
    Case,
    answer_of,
    documents_of,
    finish_reason_of,
    loads,
    question_of,
    strings,
    wants_json,
)
from lynex_detectors.run import run_case
from lynex_detectors.settings import Settings

CONTEXT_KINDS: Final = ("retriever", "reranker", "tool", "retrieval", "embedding")
_DOC_KEYS: Final = r"retrieval\.documents|reranker\.output_documents|\"documents\""
Results = list[dict[str, tuple[float, list[str]]] | None]  # per row; None: not an LLM span
# Below this many LLM spans a batch is cheaper per span (a batch's kernels and RE2 compilations cost about 2 ms)
SMALL_BATCH: Final = 12


def _mask(values: pa.Array) -> list[int]:
    found: list[int] = pc.indices_nonzero(pc.fill_null(values, False)).to_pylist()
    return found


def _attributes(text: Any) -> dict[str, Any]:
    found = loads(text)
    return found if isinstance(found, dict) else {}


def _contexts(table: pa.Table, traces: pa.Array) -> dict[str, tuple[list[str], list[str], list[str]]]:
    """trace id -> (documents, sources, tool results) from this batch's context spans of those traces."""
    in_trace = pc.is_in(table.column("trace_id"), value_set=traces)
    contextual = pc.or_kleene(  # kleene: a null `attributes` must not hide a retriever kind
        pc.is_in(table.column("kind"), value_set=pa.array(CONTEXT_KINDS)),
        pc.match_substring_regex(table.column("attributes"), _DOC_KEYS),
    )
    rows = _mask(pc.and_(in_trace, pc.fill_null(contextual, False)))
    out: dict[str, tuple[list[str], list[str], list[str]]] = {}
    if not rows:
        return out
    picked = table.take(pa.array(rows, pa.int64())).select(["trace_id", "kind", "attributes", "output"]).to_pylist()
    for row in picked:
        docs, sources, tools = out.setdefault(row["trace_id"], ([], [], []))
        more, named = documents_of(_attributes(row["attributes"]))
        docs.extend(more)
        sources.extend(named)
        output = loads(row["output"])
        if row["kind"] in ("retriever", "reranker", "retrieval") and not more:
            docs.extend(t for t in strings(output) if t.strip())
        elif output is not None:
            tools.extend(strings(output))
    return out


def analyse_rows(table: pa.Table, s: Settings) -> Results:
    """`analyse`, one `Case` and every detector's Python per LLM span: the reference `analyse` is held to (tests)."""
    results: Results = [None] * table.num_rows
    rows = _mask(pc.is_in(table.column("kind"), value_set=pa.array(LLM_CALL_KINDS)))
    if not rows:
        return results
    llm = table.take(pa.array(rows, pa.int64()))
    contexts = _contexts(table, pc.unique(llm.column("trace_id").combine_chunks()))
    columns = llm.select(["trace_id", "input", "output", "tool_calls", "attributes"]).to_pylist()
    for i, row in zip(rows, columns, strict=True):
        results[i] = run_case(_case(row, contexts.get(row["trace_id"])), s)
    return results


def analyse(table: pa.Table, s: Settings) -> Results:
    """Each row's detections (None for rows that are not LLM calls), as `analyse_rows` finds them, at a fraction of
    its cost: the texts are read once per LLM span (`_texts`), then each detector works over whole columns
    (`quiet.py`); the Python detectors of checks.py run only on the spans a column prefilter could not clear."""
    results: Results = [None] * table.num_rows
    rows = _mask(pc.is_in(table.column("kind"), value_set=pa.array(LLM_CALL_KINDS)))
    if not rows:
        return results
    if len(rows) < SMALL_BATCH:
        return analyse_rows(table, s)
    llm = table.select(quiet.COLUMNS).take(pa.array(rows, pa.int64()))
    texts = quiet.texts_of(llm)
    found, exact = quiet.detect(texts, s)
    if any(exact.values()):
        picked = sorted({i for positions in exact.values() for i in positions})
        rows_of = {i: texts.row(i) for i in picked}
        traces = pa.array(sorted({row["trace_id"] for row in rows_of.values()}), pa.string())
        contexts = _contexts(table, traces)
        cases = {i: _case(row, contexts.get(row["trace_id"])) for i, row in rows_of.items()}
        for name, positions in exact.items():
            for i in positions:
                one = run_case(cases[i], s, (name,))
                if name in one:
                    found[i][name] = one[name]
                else:
                    found[i].pop(name, None)
    for i, row in enumerate(rows):
        results[row] = found[i]
    return results


def _case(row: dict[str, Any], context: tuple[list[str], list[str], list[str]] | None) -> Case:
    attributes = _attributes(row["attributes"])
    prompt = loads(row["input"])
    answer, reason, calls = answer_of(loads(row["output"]) if row["output"] is not None else None)
    docs, sources, tools = context or ([], [], [])
    return Case(
        question=question_of(prompt),
        prompt="\n".join(strings(prompt)),
        answer=answer,
        documents=list(docs),
        sources=list(sources),
        tools=[*tools, *strings(loads(row["tool_calls"]))],
        finish_reason=reason or finish_reason_of(attributes),
        has_tool_calls=calls or bool(row["tool_calls"]),
        wants_json=wants_json(attributes),
    )
