"""Precision and recall of each detector over a labelled set (JSON lines: `input`, `output`, `documents`,
`tool_results`, `tool_calls`, `finish_reason`, `model_parameters`, `expected` reason codes), no server. The cases
become span tables as the pipeline holds them (`table_of`: per case a trace of a retriever span with its documents,
tool spans with its tool results and the LLM span, values as stored JSON text) that the plugin's own batch path
reads (batch.analyse, the columnar one the server runs). A detector's prediction on a case is "some code of mine",
its truth "some expected code of mine"; per code the same. bench/detectors.py prints this; the plugin's tests hold
it to thresholds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from lynex_box.schema.span import SPAN_COLUMNS, spans_to_table
from lynex_detectors.batch import analyse
from lynex_detectors.case import Case, document_of, question_of, strings
from lynex_detectors.checks import CODES, DETECTORS
from lynex_detectors.run import codes
from lynex_detectors.settings import Settings

LABELLED = Path(__file__).resolve().parents[2] / "tests" / "data" / "labelled.jsonl"
# Cases written after the detectors were tuned and never used to tune them (tests/data/heldout.jsonl).
HELDOUT = LABELLED.with_name("heldout.jsonl")


def load(path: Path = LABELLED) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def case_of(record: dict[str, Any]) -> Case:
    prompt = record["input"]
    params = record.get("model_parameters") or {}
    fmt = params.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else fmt
    docs = [document_of(item) for item in record.get("documents") or []]
    return Case(
        question=question_of(prompt),
        prompt="\n".join(strings(prompt)),
        answer=record.get("output"),
        documents=[text for text, _ in docs if text],
        sources=[source for _, sources in docs for source in sources],
        tools=list(record.get("tool_results") or []),
        finish_reason=record.get("finish_reason"),
        has_tool_calls=bool(record.get("tool_calls")),
        wants_json=isinstance(kind, str) and "json" in kind,
    )


def _stored(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def table_of(records: list[dict[str, Any]]) -> tuple[pa.Table, list[int]]:
    """The spans of the cases (one trace each, id the case's id) and the row of each case's LLM span."""
    rows: list[dict[str, Any]] = []
    llm: list[int] = []
    for record in records:
        trace = str(record["id"])
        if record.get("documents"):
            rows.append({"trace_id": trace, "kind": "retriever", "attributes": {"documents": record["documents"]}})
        rows.extend({"trace_id": trace, "kind": "tool", "output": r} for r in record.get("tool_results") or [])
        answer = record.get("output")
        output = None if answer is None else {"messages": [{"role": "assistant", "content": answer}]}
        if output is not None and record.get("finish_reason"):
            output["finish_reason"] = record["finish_reason"]
        params = record.get("model_parameters")
        llm.append(len(rows))
        attributes = {"model_parameters": params} if params else None
        rows.append({"trace_id": trace, "kind": "llm", "input": record["input"], "output": output,
                     "tool_calls": record.get("tool_calls"), "attributes": attributes})  # fmt: skip
    n = len(rows)
    values: dict[str, list[Any]] = {name: [None] * n for name in SPAN_COLUMNS}
    values.update(project_id=["eval"] * n, span_id=[f"s{i}" for i in range(n)], event_id=[f"e{i}" for i in range(n)],
                  start_time=list(range(n)), ingested_at=[0] * n)  # fmt: skip
    for i, row in enumerate(rows):
        values["trace_id"][i], values["kind"][i] = row["trace_id"], row["kind"]
        for key in ("input", "output", "tool_calls", "attributes"):
            values[key][i] = _stored(row.get(key))
    return spans_to_table(values), llm


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


def evaluate(records: list[dict[str, Any]], settings: Settings | None = None) -> dict[str, Any]:
    s = settings or Settings()
    # detectors and codes apart: the `refusal` detector (refusal + uncertainty) shares its name with a code
    groups = [("detector", d.name, set(d.codes)) for d in DETECTORS] + [("code", c, {c}) for c in CODES]
    counts = {(kind, name): [0, 0, 0] for kind, name, _ in groups}  # true positives, false positives, negatives
    misses: list[dict[str, Any]] = []
    table, llm = table_of(records)
    results = analyse(table, s)
    for record, row in zip(records, llm, strict=True):
        found = codes(results[row] or {})
        expected = set(record["expected"])
        for kind, name, members in groups:
            said, truth = bool(found & members), bool(expected & members)
            counts[kind, name][0] += said and truth
            counts[kind, name][1] += said and not truth
            counts[kind, name][2] += truth and not said
        if found != expected:
            misses.append({"id": record["id"], "expected": sorted(expected), "found": sorted(found)})
    per = {
        name: {"precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn), "positives": tp + fn,
               "tp": tp, "fp": fp, "fn": fn}
        for name, (tp, fp, fn) in counts.items()
    }  # fmt: skip
    return {
        "cases": len(records),
        "detectors": {d.name: per["detector", d.name] for d in DETECTORS},
        "codes": {code: per["code", code] for code in CODES},
        "mismatches": misses,
    }
