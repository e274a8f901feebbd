"""The pipeline stage on span tables and rows, the policy's validation, and the request path's redaction."""

from __future__ import annotations

from typing import Any

import orjson
import pyarrow as pa
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from lynex_box.config import PiiSettings
from lynex_box.pii.policy import PiiPolicy, PolicyError, parse_policy
from lynex_box.pii.request import redact_request
from lynex_box.pii.scanner import Scanner
from lynex_box.pii.stage import PiiStage
from lynex_box.schema.span import empty_span_columns, spans_to_table
from lynex_box.wal.records import PROTOBUF, RecordHeader, RecordType

EMAIL = "jane@example.com"


def table(rows: list[dict[str, Any]]) -> pa.Table:
    columns = empty_span_columns()
    for i, row in enumerate(rows):
        base = {"project_id": "p1", "trace_id": f"t{i}", "span_id": f"s{i}", "event_id": f"e{i}",
                "start_time": 1_795_000_000_000_000, "ingested_at": 1_795_000_000_000_000}  # fmt: skip
        full = {**base, **row}
        for name in columns:
            columns[name].append(full.get(name))
    return spans_to_table(columns)


def test_redact_masks_every_text_column_and_counts_per_span() -> None:
    stage = PiiStage(PiiSettings(), {"p1": PiiPolicy("redact")})
    out = stage.enrich_table(
        table([
            {"name": f"n {EMAIL}", "input": f'[{{"content":"{EMAIL}"}}]', "output": "card 4111111111111111",
             "tool_calls": '{"ip":"10.1.2.3"}', "attributes": '{"k":"123-45-6789"}', "user_id": EMAIL,
             "session_id": "s", "status_message": "x", "tags": ["t", f"mail {EMAIL}"], "model": EMAIL},
            {"name": "clean", "input": "nothing here", "tags": None},
        ])
    ).to_pylist()  # fmt: skip
    first, second = out
    assert first["name"] == "n [EMAIL]" and first["input"] == '[{"content":"[EMAIL]"}]'
    assert (first["output"], first["tool_calls"], first["attributes"]) == (
        "card [CARD]",
        '{"ip":"[IP]"}',
        '{"k":"[SSN]"}',
    )
    assert first["user_id"] == "[EMAIL]" and first["tags"] == ["t", "mail [EMAIL]"]
    assert first["model"] == EMAIL  # not a free-text column
    assert orjson.loads(first["pii"]) == {"mode": "redact", "found": {"card": 1, "email": 4, "ip": 1, "ssn": 1}}
    assert second["pii"] is None and second["input"] == "nothing here"


def test_detect_keeps_the_text_and_projects_follow_their_own_mode() -> None:
    stage = PiiStage(PiiSettings(default_mode="detect"), {"p2": PiiPolicy("redact"), "p3": PiiPolicy("off")})
    rows = [{"project_id": p, "input": f"mail {EMAIL}"} for p in ("p1", "p2", "p3")]
    out = stage.enrich_table(table(rows)).to_pylist()
    assert [r["input"] for r in out] == [f"mail {EMAIL}", "mail [EMAIL]", f"mail {EMAIL}"]
    assert [r["pii"] and orjson.loads(r["pii"])["mode"] for r in out] == ["detect", "redact", None]


def test_off_everywhere_returns_the_table_untouched() -> None:
    original = table([{"input": EMAIL}])
    assert PiiStage(PiiSettings()).enrich_table(original) is original


def test_rows_are_redacted_in_place() -> None:
    stage = PiiStage(PiiSettings(default_mode="redact"))
    rows: list[dict[str, Any]] = [{"project_id": "p1", "input": EMAIL, "tags": [EMAIL]}, {"project_id": "p1"}]
    stage(rows)
    assert rows[0]["input"] == "[EMAIL]" and rows[0]["tags"] == ["[EMAIL]"] and rows[1].get("input") is None
    assert orjson.loads(rows[0]["pii"])["found"] == {"email": 2}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"mode": "hide"}, "not one of"),
        ({"custom_patterns": [{"name": "a", "pattern": r"(a)\1"}]}, "not a valid RE2"),
        ({"custom_patterns": [{"name": "a", "pattern": r"(?=x)y"}]}, "lookaround"),
        ({"custom_patterns": [{"name": "a", "pattern": "x*"}]}, "empty string"),
        ({"custom_patterns": [{"name": "A b", "pattern": "x"}]}, "name"),
        ({"custom_patterns": [{"name": "a", "pattern": "x" * 300}]}, "1..256"),
        ({"custom_patterns": [{"name": "a", "pattern": "x"}, {"name": "a", "pattern": "y"}]}, "unique"),
        ({"custom_patterns": [{"name": f"a{i}", "pattern": "x"} for i in range(17)]}, "at most 16"),
        ({"masked_keys": ["has space"]}, "masked key"),
        ({"other": 1}, "unknown pii field"),
    ],
)
def test_bad_policies_are_refused_with_a_message(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(doc, PiiSettings())


def test_a_nested_quantifier_runs_in_linear_time() -> None:
    policy = parse_policy({"mode": "redact", "custom_patterns": [{"name": "evil", "pattern": "(a+)+b"}]}, PiiSettings())
    scanner = Scanner(policy)
    stage = PiiStage(PiiSettings(), {"p1": policy})
    out = stage.enrich_table(table([{"input": "a" * 200_000 + "c"}]))  # exponential for a backtracking engine
    assert out.column("input")[0].as_py() == "a" * 200_000 + "c" and scanner.policy.mode == "redact"


def test_a_partial_change_keeps_the_other_fields() -> None:
    base = parse_policy({"mode": "redact", "masked_keys": ["k"]}, PiiSettings())
    assert parse_policy({"mode": "detect"}, PiiSettings(), base) == PiiPolicy("detect", (), ("k",))


def test_the_request_path_redacts_json_and_protobuf_bodies() -> None:
    scanner = Scanner(PiiPolicy("redact", (), ("secret.key",)))
    body = orjson.dumps({"events": [{"event_id": "e1", "input": f"hi {EMAIL}", "metadata": {"secret.key": "v"}}]})
    out = orjson.loads(redact_request(scanner, RecordType.EVENTS, RecordHeader("p", 0, "sdk"), body))
    assert out == {"events": [{"event_id": "e1", "input": "hi [EMAIL]", "metadata": {"secret.key": "[MASKED]"}}]}
    clean = b'{"events": [{"input": "nothing"}]}'
    assert redact_request(scanner, RecordType.EVENTS, RecordHeader("p", 0, "sdk"), clean) is clean
    span = {"traceId": "AAECAwQFBgcICQoLDA0ODw==", "spanId": "AAECAwQFBgc=", "name": f"for {EMAIL}",
            "attributes": [{"key": "secret.key", "value": {"stringValue": "v"}},
                           {"key": "input.value", "value": {"stringValue": "card 4111111111111111"}}]}  # fmt: skip
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    proto = json_format.ParseDict(doc, ExportTraceServiceRequest()).SerializeToString()
    header = RecordHeader("p", 0, "otlp", content_type=PROTOBUF)
    message = ExportTraceServiceRequest.FromString(redact_request(scanner, RecordType.OTLP_TRACES, header, proto))
    got = message.resource_spans[0].scope_spans[0].spans[0]
    assert got.name == "for [EMAIL]" and got.trace_id == bytes(range(16))
    assert [a.value.string_value for a in got.attributes] == ["[MASKED]", "card [CARD]"]


def test_json_columns_stay_valid_json() -> None:
    stage = PiiStage(PiiSettings(default_mode="redact"))
    attributes = '{"score":0.6397957146137140,"card":4111111111111111,"text":"x@y.org"}'
    out = stage.enrich_table(table([{"attributes": attributes, "output": '{"n":4111111111111111}'}])).to_pylist()[0]
    assert orjson.loads(out["attributes"]) == {"score": 0.639795714613714, "card": "[CARD]", "text": "[EMAIL]"}
    assert orjson.loads(out["output"]) == {"n": "[CARD]"}
    assert orjson.loads(out["pii"])["found"] == {"card": 2, "email": 1}


def test_candidates_at_value_edges_are_found_whatever_the_neighbours() -> None:
    scanner = Scanner(PiiPolicy("redact"))
    values = ["ends with 4111", "4111111111111111 starts", None, "", "x@y.org", "1111 1111 1111 1111", "a@b.io"]
    flags = scanner.candidates(pa.array(values, pa.string())).to_pylist()
    assert flags == [False, True, False, False, True, False, True]
    many = pa.array([f"row {i} " + ("z@q.io" if i % 7 == 0 else "nothing") for i in range(1000)])
    assert scanner.candidates(many).to_pylist() == [i % 7 == 0 for i in range(1000)]
