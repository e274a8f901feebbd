"""Precision and recall of each detector over a labelled set (JSON lines: `input`, `output`, `documents`,
`tool_results`, `tool_calls`, `finish_reason`, `model_parameters`, `expected` reason codes), calling the detectors
directly (no server). A detector's prediction on a case is "some code of mine", its truth "some expected code of
mine"; per code the same. bench/detectors.py prints this; the plugin's tests hold it to thresholds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lynex_detectors.case import Case, document_of, question_of, strings
from lynex_detectors.checks import CODES, DETECTORS
from lynex_detectors.run import codes, run_case
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


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


def evaluate(records: list[dict[str, Any]], settings: Settings | None = None) -> dict[str, Any]:
    s = settings or Settings()
    # detectors and codes apart: the `refusal` detector (refusal + uncertainty) shares its name with a code
    groups = [("detector", d.name, set(d.codes)) for d in DETECTORS] + [("code", c, {c}) for c in CODES]
    counts = {(kind, name): [0, 0, 0] for kind, name, _ in groups}  # true positives, false positives, negatives
    misses: list[dict[str, Any]] = []
    for record in records:
        found = codes(run_case(case_of(record), s))
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
