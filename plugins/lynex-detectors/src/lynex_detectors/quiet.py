"""The detectors over whole columns of a batch's LLM spans: for each detector, the spans it has nothing to say about
get its quiet result (no opinion, or 0.0 without reasons) from Arrow kernels, and the few others are named for the
Python detector of checks.py, which alone builds reasons and excerpts.

Most answers hold no number, quote, URL, citation or refusal: one RE2 pass per detector over the answers column
(the `*_RE2` prefilters of checks.py, supersets of the Python patterns) clears them. The language guess runs over
the question and answer columns at once (lang.guess_column). What stays per span in Python is reading its texts
from the stored JSON (`texts_of`), one orjson parse of its input and output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from lynex_detectors import checks
from lynex_detectors.case import (
    LENGTH_REASONS,
    answer_of,
    finish_reason_of,
    loads,
    question_of,
    strings,
    wants_json,
)
from lynex_detectors.lang import guess_column
from lynex_detectors.settings import Settings

Found = list[dict[str, tuple[float, list[str]]]]  # per LLM span: detector name -> (score, reasons)
_BLANK_RE2: Final = rf"^[{checks._SPACE_RE2}]*$"  # nothing but what str.strip() removes
_LENGTH_REASONS: Final = pa.array(sorted(LENGTH_REASONS), pa.string())
COLUMNS: Final = ["trace_id", "input", "output", "tool_calls", "attributes"]  # what texts_of reads
# what finish_reason_of and wants_json look for: `finish_reason(s)` keys, a `response_format` in model parameters
_ATTRIBUTE_KEYS: Final = ("finish_reason", "response_format")


@dataclass(slots=True)
class Texts:
    """A batch's LLM spans as the detectors read them: the stored columns, and per span its texts."""

    columns: pa.Table  # COLUMNS of the LLM spans
    inputs: list[str | None]
    outputs: list[str | None]
    answers: list[str | None]
    questions: list[str]
    prompts: list[str]
    reasons: list[str | None]
    wants_json: list[bool]

    def trace(self, i: int) -> str:
        found: str = self.columns.column("trace_id")[i].as_py()
        return found

    def row(self, i: int) -> dict[str, Any]:
        """Span `i` as batch._case reads it."""
        return {"trace_id": self.trace(i), "input": self.inputs[i], "output": self.outputs[i],
                "tool_calls": self.columns.column("tool_calls")[i].as_py(),
                "attributes": self.columns.column("attributes")[i].as_py()}  # fmt: skip


def texts_of(llm: pa.Table) -> Texts:
    """The texts of each LLM span, as batch._case builds them (answer, question, prompt, finish reason, JSON asked)."""
    attributes = llm.column("attributes")
    n = llm.num_rows
    hinted = pc.indices_nonzero(  # only these spans' attributes are parsed
        pc.fill_null(pc.or_(*(pc.match_substring(attributes, key) for key in _ATTRIBUTE_KEYS)), False)
    )
    parsed: list[dict[str, Any]] = [{}] * n
    for i, text in zip(hinted.to_pylist(), attributes.take(hinted).to_pylist(), strict=True):
        value = loads(text)
        parsed[i] = value if isinstance(value, dict) else {}
    t = Texts(columns=llm, inputs=llm.column("input").to_pylist(), outputs=llm.column("output").to_pylist(),
              answers=[], questions=[], prompts=[], reasons=[], wants_json=[])  # fmt: skip
    for raw_in, raw_out, attrs in zip(t.inputs, t.outputs, parsed, strict=True):
        question, text = _input_texts(loads(raw_in))
        answer, reason = _output_texts(loads(raw_out) if raw_out is not None else None)
        t.answers.append(answer)
        t.questions.append(question)
        t.prompts.append(text)
        t.reasons.append(reason or (finish_reason_of(attrs) if attrs else None))
        t.wants_json.append(wants_json(attrs) if attrs else False)
    return t


_USERS: Final = ("user", "human")
_SAYERS: Final = ("assistant", "model", "ai", None)


def _input_texts(value: Any) -> tuple[str, str]:
    """(question_of(value), every text of value joined), quickly for `{"messages": [...]}` of flat messages."""
    messages = value.get("messages") if type(value) is dict and len(value) == 1 else None
    if type(messages) is list:
        texts: list[str] = []
        question: str | None = None
        for m in messages:
            if type(m) is not dict:
                break
            for v in m.values():
                if type(v) is not str:
                    break
                texts.append(v)
            else:
                if m.get("role") in _USERS:
                    question = m.get("content", "")
                continue
            break
        else:
            prompt = "\n".join(texts)
            return (prompt if question is None else question), prompt
    return question_of(value), "\n".join(strings(value))


def _output_texts(value: Any) -> tuple[str | None, str | None]:
    """answer_of(value) without its tool-call flag, quickly for `{"messages": [...]}` of flat messages."""
    messages = value.get("messages") if type(value) is dict else None
    if type(messages) is list and all(type(m) is dict and type(m.get("content")) is str for m in messages):
        reason = value.get("finish_reason")
        said = "\n".join(m["content"] for m in messages if m.get("role") in _SAYERS)
        return said, reason if isinstance(reason, str) else None
    answer, reason, _ = answer_of(value)
    return answer, reason


def _positions(mask: pa.Array) -> list[int]:
    found: list[int] = pc.indices_nonzero(pc.fill_null(mask, False) if mask.null_count else mask).to_pylist()
    return found


def _matches(values: pa.Array, pattern: str) -> pa.Array:
    return pc.fill_null(pc.match_substring_regex(values, pattern), False)


def detect(t: Texts, s: Settings) -> tuple[Found, dict[str, list[int]]]:
    """(each span's quiet results, and per detector the spans its Python detector must look at)."""
    answers = pa.array(t.answers, pa.string())
    found: Found = [{} for _ in t.answers]
    exact: dict[str, list[int]] = {}
    valid = pc.is_valid(answers)
    has_answer = pc.fill_null(pc.greater(pc.binary_length(answers), 0), False)

    def quietly(mask: pa.Array, result: tuple[float, list[str]]) -> None:
        kept = result if result[0] >= s.threshold else (0.0, [])
        for i in _positions(mask):
            found[i][name] = kept

    prompts: pa.Array | None = None
    for name in s.enabled:
        if name == "grounding":
            exact[name] = _positions(pc.and_(has_answer, _matches(answers, checks.GROUNDING_RE2)))
        elif name == "citations":
            exact[name] = _positions(pc.and_(has_answer, _matches(answers, checks.CITATIONS_RE2)))
        elif name == "refusal":
            maybe = pc.and_(has_answer, _matches(answers, checks.REFUSAL_ANY_RE2))
            exact[name] = _positions(maybe)
            quietly(pc.and_(has_answer, pc.invert(maybe)), (0.0, []))
        elif name == "completeness":
            reasons = pa.array(t.reasons, pa.string())
            maybe = pc.or_(_matches(answers, _BLANK_RE2), pc.fill_null(pc.is_in(reasons, _LENGTH_REASONS), False))
            exact[name] = _positions(pc.and_(valid, maybe))
            quietly(pc.and_(valid, pc.invert(maybe)), (0.0, []))
        elif name == "json":
            prompts = prompts if prompts is not None else pa.array(t.prompts, pa.string())
            asked = pc.or_(pa.array(t.wants_json, pa.bool_()), _matches(prompts, checks.JSON_RE2))
            exact[name] = _positions(pc.and_(valid, asked))
        else:
            prompts = prompts if prompts is not None else pa.array(t.prompts, pa.string())
            exact[name] = _language(t, s, answers, has_answer, prompts, found)
    return found, exact


def _language(
    t: Texts, s: Settings, answers: pa.Array, has_answer: pa.Array, prompts: pa.Array, found: Found
) -> list[int]:
    """The language detector's quiet results in `found`; returns the spans whose prompt asks for a translation (the
    Python detector decides those)."""
    questions = pa.array(t.questions, pa.string())
    both = pc.and_(has_answer, pc.greater(pc.binary_length(questions), 0))
    translating = pc.and_(both, _matches(prompts, checks.TRANSLATE_RE2))
    rest = pc.and_(both, pc.invert(translating))
    where = _positions(rest)
    if where:
        picked = pa.array(where, pa.int64())
        guessed = guess_column(pa.concat_arrays([questions.take(picked), answers.take(picked)]))
        asked, said = guessed[: len(where)], guessed[len(where) :]
        for i, one, other in zip(where, asked, said, strict=True):
            if one is None or other is None:
                continue
            if one == other:
                found[i]["language"] = (0.0, [])
            elif s.language_score >= s.threshold:
                found[i]["language"] = (s.language_score, [f"language_mismatch: asked in {one}, answered in {other}"])
            else:
                found[i]["language"] = (0.0, [])
    return _positions(translating)
