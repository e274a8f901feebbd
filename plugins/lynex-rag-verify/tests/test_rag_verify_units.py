"""rag-verify's parts on their own: the support heuristic (numbers, named entities, content words, what is not a
claim), the documents and answer found in stored spans of both conventions, the score it builds, and a bad
`[plugins.rag-verify]` table refused naming the key (the host reports the plugin failed, not the server)."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
import pytest
from lynex_rag_verify import ConfigError, create, validate
from lynex_rag_verify.extract import documents_of, rag_parts
from lynex_rag_verify.support import claim_of, sentences, verify

from lynex_box.config import PluginsSettings
from lynex_box.plugins.host import PluginHost

DOC = "Acme Corp was founded in 1999 in Lyon. It employs 1,200 people and its revenue grew 40% in 2023."


@pytest.mark.parametrize(
    ("answer", "supported"),
    [
        ("Acme Corp was founded in Lyon in 1999.", True),
        ("Acme employs 1200 people.", True),  # 1,200 = 1200
        ("Its revenue grew by 40 percent in 2023.", True),
        ("Acme Corp was founded in Lyon in 2001.", False),  # a number the document does not hold
        ("Acme Corp was founded in Paris in 1999.", False),  # an entity the document does not hold
        ("The company sells rockets and satellites to governments.", False),  # words the document does not hold
    ],
)
def test_one_claim_against_one_document(answer: str, supported: bool) -> None:
    verdict = verify(answer, [DOC], 0.6)
    assert verdict.claims == 1 and (verdict.supported == 1) is supported


def test_sentences_without_a_claim_are_not_counted_and_lists_split() -> None:
    assert claim_of("Sure!") is None and claim_of("Here it is:") is None
    assert sentences("Facts:\n- Acme was founded in 1999.\n- It is in Lyon. Revenue is 3.5 million.") == [
        "Facts:", "Acme was founded in 1999.", "It is in Lyon.", "Revenue is 3.5 million."
    ]  # fmt: skip
    verdict = verify("Sure! Acme Corp was founded in 1999. It sells rockets to Mars colonists.", [DOC], 0.6)
    assert (verdict.claims, verdict.supported, verdict.unsupported) == (2, 1, ["It sells rockets to Mars colonists."])


def test_a_claim_must_be_held_by_one_document_alone() -> None:
    docs = ["Acme Corp was founded in 1999.", "Acme Corp is based in Lyon."]
    assert verify("Acme Corp was founded in Lyon in 1999.", docs, 0.6).supported == 0
    assert verify("Acme Corp was founded in 1999.", docs, 0.6).supported == 1


def test_documents_of_both_conventions() -> None:
    attributes = {
        "retrieval.documents.1.document.content": "second", "retrieval.documents.0.document.content": "first",
        "retrieval.documents.0.document.id": "d0", "reranker.output_documents.0.document.content": "reranked",
        "gen_ai.retrieval.documents": orjson.dumps([{"id": "g", "content": "genai"}, {"id": "n"}]).decode(),
        "other.0.document.content": "not a document",
    }  # fmt: skip
    assert sorted(documents_of(attributes)) == ["first", "genai", "reranked", "second"]
    assert documents_of({"retrieval.documents": [{"document.content": "listed"}]}) == ["listed"]


def _spans(*rows: dict[str, Any]) -> pa.Table:
    cols = ("span_id", "kind", "end_time", "start_time", "output", "attributes")
    return pa.table({c: [r.get(c) for r in rows] for c in cols})


def test_the_answer_is_the_last_llm_output() -> None:
    docs = orjson.dumps({"retrieval.documents.0.document.content": DOC}).decode()
    out = orjson.dumps({"messages": [{"role": "assistant", "content": "Acme was founded in 1999."}]}).decode()
    early = orjson.dumps({"messages": [{"role": "assistant", "content": "a draft"}]}).decode()
    table = _spans(
        {"span_id": "r", "kind": "retriever", "start_time": 1, "end_time": 2, "attributes": docs},
        {"span_id": "l2", "kind": "llm", "start_time": 5, "end_time": 9, "output": out},
        {"span_id": "l1", "kind": "chat", "start_time": 3, "end_time": 4, "output": early},
        {"span_id": "c", "kind": "chain", "start_time": 0, "end_time": 10, "output": '"the chain"'},
    )
    assert rag_parts(table) == ([DOC], "Acme was founded in 1999.", "l2")
    score = create({}).score_of("p1", "t1", table)
    assert score is not None and score["value"] == 1.0 and score["trace_id"] == "t1"
    again = create({}).score_of("p1", "t1", table)
    assert again is not None and again["id"] == score["id"]  # a stable id: a second event replaces the score
    assert create({"min_documents": 2}).score_of("p1", "t1", table) is None


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"threshold": 0}, "threshold = 0 must be a number in (0, 1]"),
        ({"threshold": "high"}, "threshold = 'high'"),
        ({"score_name": ""}, "score_name = ''"),
        ({"min_documents": 0}, "min_documents = 0"),
        ({"treshold": 0.5}, "unknown key(s) ['treshold']"),
    ],
)
def test_a_bad_table_is_refused_naming_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate(config)
    assert message in str(info.value)


def test_a_bad_table_fails_the_plugin_not_the_host() -> None:
    host = PluginHost.start(PluginsSettings(enabled=("rag-verify",), configs={"rag-verify": {"threshold": 2}}))
    try:
        [status] = [p for p in host.status() if p["name"] == "rag-verify"]
        assert status["state"] == "failed" and "threshold = 2" in status["error"]
    finally:
        host.close()
