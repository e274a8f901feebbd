"""The columnar detectors (batch.analyse: RE2 prefilters over the answers column, the language guess over whole
columns, Python only on the spans a prefilter keeps) find exactly what the per-span reference (batch.analyse_rows:
every detector's Python on every LLM span) finds: on the labelled and held-out sets and on generated batches that
mix what the prefilters must not miss (numbers, names after a word or in pairs, quotes, URLs, citations, refusals
and doubts, blank and truncated answers, JSON asks, translation prompts, other languages and scripts, long texts,
odd message shapes and texts holding backslashes or the message separators, attributes with a finish reason or a
response format); and at a fraction of its CPU."""

from __future__ import annotations

import random
import time
from typing import Any

import orjson
import pyarrow as pa
import pytest
from lynex_detectors.batch import analyse, analyse_rows
from lynex_detectors.evaluate import HELDOUT, load, table_of
from lynex_detectors.lang import guess, guess_column
from lynex_detectors.settings import Settings, validate

from lynex_box.schema.span import SPAN_COLUMNS, spans_to_table

PIECES = [
    "the order was shipped and the invoice is attached to your account",
    "It cost 4,200 dollars in 2019 and 12% more on March 3, 2021.",
    "the report by Marie Curie was sent to the board",
    "New York and Acme Corp agreed.",
    "I'm happy to help with that",
    'she said "the quarterly numbers look fine" and left',
    "see https://example.com/docs/page. Paris is nice",
    "as stated in [2] and [7]",
    "(Source: internal wiki) ",
    "I'm sorry, but I cannot help with that request.",
    "I'm not sure, but it could be the cache",
    "I\u00a0can't do that",
    "ı cannot verify this",
    "Der Vertrag ist nicht gültig und wir können das nicht ändern, bitte",
    "le contrat est signé et nous avons la réponse pour vous dans le dossier",
    "el pedido está en camino y no hay problema con su cuenta para usted",
    "la fattura è pronta e non ci sono problemi con il tuo conto",
    "日本語のテキストです。よろしくお願いします。",
    "Это ответ на ваш вопрос о заказе и счёте",
    "what is the status of my order and when will it arrive",
    "the_x and the-y of it is to be",
    "Ⅻ ² Über straße für dich",
    "\u2028\u00a0 \t",
    'a path C:\\new\\notes and a \\"quoted\\" backslash',  # stored with escaped backslashes
    'not a separator: "},{"role":"user","content":" nor ","content":" inside a text',
]
QUESTIONS = [
    "what is the status of my order and how can I see the invoice for it",
    "Wie ist der Status meiner Bestellung und wann kommt sie an, bitte?",
    "quel est le statut de ma commande et quand est-ce que je la reçois",
    "Translate this into German: the order is on its way",
    "Answer in JSON: what is the order status?",
    "respond with a JSON object holding the order status",
    "hi",
]


def _text(rng: random.Random, pieces: int) -> str:
    return rng.choice([" ", "\n", ". ", "  "]).join(rng.choice(PIECES) for _ in range(pieces))


def _output(rng: random.Random, answer: str) -> Any:
    shape = rng.randrange(8)
    if shape == 0:
        return None
    if shape == 1:
        return answer  # a plain string
    if shape == 2:
        return {"messages": [{"role": "assistant", "content": [{"type": "text", "text": answer}]}]}
    if shape == 3:
        return {"content": answer, "finish_reason": rng.choice(["stop", "length"])}
    if shape == 4:
        return {"messages": [{"role": "assistant", "content": rng.choice(["", "  \n", answer])}],
                "finish_reason": rng.choice(["stop", "length", "max_tokens"])}  # fmt: skip
    if shape == 5:
        return {"messages": [{"role": "assistant", "content": answer, "tool_calls": [{"name": "f"}]}]}
    return {"messages": [{"role": "assistant", "content": answer}]}


def _input(rng: random.Random, question: str) -> Any:
    shape = rng.randrange(5)
    if shape == 0:
        return question
    system = {"role": "system", "content": _text(rng, rng.randint(1, 3))}
    if shape == 1:
        return {"messages": [system, {"role": "user", "content": question}], "temperature": 0.2}
    if shape == 2:
        return {"messages": [system, {"role": "user", "content": [{"type": "text", "text": question}]}]}
    if shape == 3:
        return {"messages": [system, {"role": "user", "content": question, "name": 7}]}
    return {"messages": [system, {"role": "user", "content": question}]}


def generated(seed: int, traces: int) -> pa.Table:
    """LLM spans with retriever and tool spans of their traces, values as the pipeline stores them."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for t in range(traces):
        trace = f"t{seed}-{t}"
        if rng.random() < 0.4:
            docs = [{"document.content": _text(rng, 2), "document.id": "policy.md"}]
            rows.append({"trace_id": trace, "kind": "retriever", "attributes": {"retrieval.documents": docs}})
        if rng.random() < 0.3:
            rows.append({"trace_id": trace, "kind": "tool", "output": _text(rng, 1)})
        question = rng.choice(QUESTIONS) if rng.random() < 0.5 else _text(rng, rng.randint(1, 4))
        answer = _text(rng, rng.choice([1, 2, 3, 12]))  # 12 pieces: past the language guess's sample
        attributes = rng.choice([None, {"gen_ai.response.finish_reasons": ["length"]},
                                 {"model_parameters": {"response_format": {"type": "json_object"}}},
                                 {"llm.finish_reason": "stop", "other": "x"}])  # fmt: skip
        rows.append({"trace_id": trace, "kind": rng.choice(["llm", "chat"]), "input": _input(rng, question),
                     "output": _output(rng, answer), "attributes": attributes,
                     "tool_calls": rng.choice([None, [{"name": "lookup", "arguments": "{}"}]])})  # fmt: skip
    n = len(rows)
    values: dict[str, list[Any]] = {name: [None] * n for name in SPAN_COLUMNS}
    values.update(project_id=["p"] * n, span_id=[f"s{i}" for i in range(n)], event_id=[f"e{i}" for i in range(n)],
                  start_time=list(range(n)), ingested_at=[0] * n)  # fmt: skip
    for i, row in enumerate(rows):
        for key, value in row.items():
            values[key][i] = value if key in ("trace_id", "kind") or value is None else orjson.dumps(value).decode()
    return spans_to_table(values)


SETTINGS = [{}, {"threshold": 0.0}, {"threshold": 0.7}, {"enabled": ["language", "json"]},
            {"enabled": ["citations", "grounding"], "grounding_min_prompt_chars": 0}]  # fmt: skip


@pytest.mark.parametrize("config", SETTINGS)
def test_the_columnar_detectors_find_what_the_per_span_ones_find(config: dict[str, Any]) -> None:
    settings = validate(config)
    tables = [table_of(load())[0], table_of(load(HELDOUT))[0], *(generated(seed, 150) for seed in range(4))]
    fired = 0
    for table in tables:
        expected = analyse_rows(table, settings)
        assert analyse(table, settings) == expected
        fired += sum(1 for found in expected if found and any(score > 0 for score, _ in found.values()))
    assert fired > 50  # the batches hold detections, not only quiet spans


def test_the_language_guess_over_a_column_is_the_guess_of_each_text() -> None:
    rng = random.Random(7)
    texts: list[str | None] = [_text(rng, rng.randint(0, 14)) for _ in range(300)]
    texts += [None, "", "a b", "THE AND IS ARE", "x" * 700, "the " * 200 + "der " * 10, *PIECES, *QUESTIONS]
    column = pa.array(texts, pa.string())
    assert guess_column(column) == [None if t is None else guess(t) for t in texts]
    assert guess_column(column.slice(5, 40)) == [None if t is None else guess(t) for t in texts[5:45]]


def _cpu(fn: Any, table: pa.Table, settings: Settings) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        fn(table, settings)
        best = min(best, time.process_time() - started)
    return best


def test_the_columnar_detectors_cost_a_fraction_of_the_per_span_ones() -> None:
    """On spans like bench/ingest.py's (chat prompts and answers of ordinary words): measured about a fifth."""
    rng = random.Random(3)
    words = ["the", "a", "model", "answer", "question", "context", "document", "token", "cost", "user", "order"]
    rows = []
    for t in range(400):
        question = " ".join(rng.choice(words) for _ in range(rng.randint(40, 120)))
        answer = " ".join(rng.choice(words) for _ in range(rng.randint(40, 140)))
        prompt = [{"role": "system", "content": "You are a helpful assistant. " * 8},
                  {"role": "user", "content": question}]  # fmt: skip
        rows.append({"id": t, "input": prompt, "output": answer, "expected": []})
    table, _ = table_of(rows)
    settings = Settings()
    assert analyse(table, settings) == analyse_rows(table, settings)
    assert _cpu(analyse, table, settings) < 0.5 * _cpu(analyse_rows, table, settings)
