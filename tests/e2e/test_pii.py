"""End to end: PII sent through every ingest path of a real server in `redact` mode is in no file it writes.

The same PII-laden trace goes in through the native events API, OTLP/HTTP JSON (GenAI attributes and a span event)
and protobuf (OpenInference attributes), and the Langfuse ingestion API. After the flush, the offload to a real
(moto) S3 bucket and the export, every WAL record, segment, bucket object and export is read (raw bytes, and the
decoded Parquet column values and WAL payloads): no original value is there, the masks are. With the default
`redact_in_request = false` the WAL holds the raw bodies (the window docs/pii.md documents); with true it never does.
"""

from __future__ import annotations

import base64
import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow.parquet as pq
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from lynex_box.objstore import S3Store
from lynex_box.wal.format import decode_file_header
from lynex_box.wal.log import list_wal_files
from lynex_box.wal.reader import WalCursor
from lynex_box.wal.records import decode_payload
from tests.e2e.server import RunningServer
from tests.objstore.conftest import MotoServer, bucket, moto_server  # noqa: F401 - fixtures reused here

EMAIL = "jane.doe.pii@example.com"
CARD = "4111 1111 1111 1111"
IBAN = "GB82 WEST 1234 5698 7654 32"
PHONE = "+1 415-555-0142"
IP = "203.0.113.77"
SSN = "123-45-6789"
SECRET = "sk-proj-Zq8xT3vNp6Lm2Rk9Wy4Hb7Cd"
CUSTOM = "ACCT-884211"
MASKED_VALUE = "hunter2-masked-value"
VALUES = (EMAIL, CARD, IBAN, PHONE, IP, SSN, SECRET, CUSTOM, MASKED_VALUE)
MASKS = ("[EMAIL]", "[CARD]", "[IBAN]", "[PHONE]", "[IP]", "[SSN]", "[SECRET]", "[CUSTOM:acct]", "[MASKED]")
TEXT = f"mail {EMAIL}, card {CARD}, iban {IBAN}, call {PHONE}, from {IP}, ssn {SSN}, key {SECRET}, {CUSTOM}"
DAY = time.strftime("%Y-%m-%d", time.gmtime())


def native_events() -> list[dict[str, Any]]:
    start = time.time_ns() // 1_000_000 - 60_000
    return [
        {"event_id": "n1", "trace_id": "native-t", "span_id": "n1", "type": "llm", "model": "gpt-4o",
         "name": f"chat for {EMAIL}", "start_time": start, "user_id": EMAIL, "session_id": f"s-{PHONE}",
         "tags": [f"ip:{IP}", "plain"], "input": [{"role": "user", "content": TEXT}],
         "output": {"role": "assistant", "content": f"noted {SSN}"},
         "tool_calls": [{"name": "pay", "arguments": {"card": CARD, "iban": IBAN}}],
         "metadata": {"note": TEXT, "user.password": MASKED_VALUE}, "status": "error", "status_message": TEXT},
    ]  # fmt: skip


def _attr(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def otlp_doc(trace_hex: str, attributes: list[dict[str, Any]], events: list[dict[str, Any]]) -> dict[str, Any]:
    now = time.time_ns()
    span = {"traceId": trace_hex, "spanId": trace_hex[:16], "name": f"llm {EMAIL}", "kind": 1,
            "startTimeUnixNano": str(now - 2_000_000_000), "endTimeUnixNano": str(now - 1_000_000_000),
            "attributes": attributes, "events": events}  # fmt: skip
    return {"resourceSpans": [{"resource": {"attributes": [_attr("service.name", "pii-app")]},
                               "scopeSpans": [{"scope": {"name": "t"}, "spans": [span]}]}]}  # fmt: skip


def genai_doc(trace_hex: str) -> dict[str, Any]:
    messages = orjson.dumps([{"role": "user", "parts": [{"type": "text", "content": TEXT}]}]).decode()
    out = orjson.dumps([{"role": "assistant", "parts": [{"type": "text", "content": f"ok {SSN}"}]}]).decode()
    attributes = [_attr("gen_ai.operation.name", "chat"), _attr("gen_ai.request.model", "gpt-4o"),
                  _attr("gen_ai.input.messages", messages), _attr("gen_ai.output.messages", out),
                  _attr("user.password", MASKED_VALUE), _attr("client.address", IP)]  # fmt: skip
    event = {"timeUnixNano": str(time.time_ns() - 1_500_000_000), "name": "gen_ai.content.prompt",
             "attributes": [_attr("gen_ai.prompt", f"event text {CARD} {EMAIL}")]}  # fmt: skip
    return otlp_doc(trace_hex, attributes, [event])


def openinference_doc(trace_hex: str) -> dict[str, Any]:
    attributes = [_attr("openinference.span.kind", "LLM"), _attr("llm.model_name", "gpt-4o-mini"),
                  _attr("input.value", TEXT), _attr("output.value", f"sure {IBAN} {SECRET}"),
                  _attr("llm.input_messages.0.message.role", "user"),
                  _attr("llm.input_messages.0.message.content", f"hi {PHONE} {CUSTOM}"),
                  _attr("user.password", MASKED_VALUE)]  # fmt: skip
    return otlp_doc(trace_hex, attributes, [])


def langfuse_batch(trace_id: str) -> list[dict[str, Any]]:
    at = f"{DAY}T00:00:01Z"
    return [
        {"id": "l1", "type": "trace-create", "timestamp": at,
         "body": {"id": trace_id, "name": f"trace {EMAIL}", "userId": EMAIL, "input": TEXT, "timestamp": at}},
        {"id": "l2", "type": "generation-create", "timestamp": at,
         "body": {"id": "gen-pii", "traceId": trace_id, "name": "answer", "startTime": at, "endTime": at,
                  "model": "gpt-4o", "input": [{"role": "user", "content": TEXT}],
                  "output": {"role": "assistant", "content": f"card {CARD}"},
                  "metadata": {"user.password": MASKED_VALUE, "ip": IP}}},
    ]  # fmt: skip


def send_everything(server: RunningServer) -> int:
    """Send the trace through every path; the number of spans it makes."""
    headers = server.headers()
    url = f"{server.url}/v1/projects/{server.project}/events"
    assert httpx.post(url, json={"events": native_events()}, headers=headers).status_code == 202
    json_headers = {**headers, "content-type": "application/json"}
    r = httpx.post(f"{server.url}/v1/traces", content=orjson.dumps(genai_doc(uuid.uuid4().hex)), headers=json_headers)
    assert r.status_code == 200, r.text
    doc = openinference_doc(uuid.uuid4().hex)
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for field in ("traceId", "spanId"):  # OTLP/JSON spells ids in hex, protobuf's JSON mapping in base64
        span[field] = base64.b64encode(bytes.fromhex(span[field])).decode()
    message = json_format.ParseDict(doc, ExportTraceServiceRequest())
    proto_headers = {**headers, "content-type": "application/x-protobuf"}
    r = httpx.post(f"{server.url}/v1/traces", content=message.SerializeToString(), headers=proto_headers)
    assert r.status_code == 200, r.text
    token = base64.b64encode(f"{server.project}:{server.creds['api_key']}".encode()).decode()
    r = httpx.post(f"{server.url}/api/public/ingestion", json={"batch": langfuse_batch(uuid.uuid4().hex)},
                   headers={"Authorization": f"Basic {token}"})  # fmt: skip
    assert r.status_code == 207 and not r.json()["errors"], r.text
    return 5  # native 1, OTLP 2, Langfuse trace + generation


def wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def spans(server: RunningServer) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.url}/v1/projects/{server.project}/spans", params={"limit": 100}, headers=server.headers())
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def parquet_texts(data: bytes) -> str:
    table = pq.read_table(io.BytesIO(data))
    return orjson.dumps(table.to_pylist(), default=str).decode()


def wal_texts(wal_dir: Path) -> str:
    """Every WAL record's body, decoded (the codec undone), as text."""
    files = list_wal_files(wal_dir)
    if not files:
        return ""
    cursor = WalCursor(wal_dir, decode_file_header(files[0][1].read_bytes()), lambda: 2**62)
    out: list[str] = []
    while records := cursor.read(1000):
        out.extend(bytes(decode_payload(r.payload)[1]).decode("utf-8", "replace") for r in records)
    return "\n".join(out)


def leaks(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [v for v in VALUES if v.encode() in data]


def set_pii(server: RunningServer) -> None:
    change = {"pii": {"mode": "redact", "custom_patterns": [{"name": "acct", "pattern": r"ACCT-[0-9]{6}"}],
                      "masked_keys": ["user.password"]}}  # fmt: skip
    r = httpx.patch(f"{server.url}/api/projects/{server.project}/settings", json=change, headers=server.headers())
    assert r.status_code == 200, r.text
    assert r.json()["pii"]["mode"] == "redact" and r.json()["pii"]["masked_keys"] == ["user.password"]


def s3_env(moto: MotoServer, name: str) -> dict[str, str]:
    return {
        "LYNEX_BUCKET_TYPE": "s3",
        "LYNEX_BUCKET_BUCKET": name,
        "LYNEX_BUCKET_ENDPOINT": moto.endpoint,
        "LYNEX_BUCKET_ACCESS_KEY_ID": "testing",
        "LYNEX_BUCKET_SECRET_ACCESS_KEY": "testing",
        "LYNEX_BUCKET_ALLOW_HTTP": "true",
        "LYNEX_OFFLOAD_HOT_WINDOW_S": "0",
        "LYNEX_OFFLOAD_INTERVAL_S": "1",
        "LYNEX_LIFECYCLE_GRACE_PERIOD_S": "0",
        "LYNEX_HEAD_MAX_AGE_S": "0.2",
    }


@pytest.fixture
def started() -> Iterator[list[RunningServer]]:
    servers: list[RunningServer] = []
    yield servers
    for server in servers:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()


@pytest.mark.parametrize("in_request", [False, True], ids=["pipeline", "in-request"])
def test_redacted_pii_is_in_no_segment_bucket_object_export_or_answer(
    tmp_path: Path,
    moto_server: MotoServer,  # noqa: F811 - the fixture
    bucket: str,  # noqa: F811 - the fixture
    started: list[RunningServer],
    in_request: bool,
) -> None:
    env = {**s3_env(moto_server, bucket), "LYNEX_PII_REDACT_IN_REQUEST": "true" if in_request else "false"}
    server = RunningServer(tmp_path / "data", env=env).start()
    started.append(server)
    set_pii(server)
    count = send_everything(server)
    found = wait_for(lambda: s if len(s := spans(server)) >= count else None)
    answer = orjson.dumps(found).decode()
    assert leaks(answer) == []
    for mask in MASKS:
        assert mask in answer, mask
    pii = [orjson.loads(s["pii"]) if isinstance(s["pii"], str) else s["pii"] for s in found]
    assert all(p is not None and p["mode"] == "redact" for p in pii), pii
    assert sum(p["found"].get("email", 0) for p in pii) >= 5

    store = S3Store(moto_server.settings(bucket))
    objects = wait_for(lambda: [o for o in store.list() if o.key.endswith(".parquet")])
    wait_for(lambda: not list((server.data_dir / "segments").rglob("*.parquet")))  # offloaded
    for meta in store.list():
        data = store.get(meta.key).data
        assert leaks(data) == [], meta.key
        if meta.key.endswith(".parquet"):
            decoded = parquet_texts(data)
            assert leaks(decoded) == [] and "[EMAIL]" in decoded, meta.key
    assert objects

    url = f"{server.url}/v1/projects/{server.project}/export"
    for fmt in ("parquet", "jsonl", "csv"):
        r = httpx.get(url, params={"format": fmt}, headers=server.headers())
        assert r.status_code == 200, r.text
        text = parquet_texts(r.content) if fmt == "parquet" else r.text
        assert leaks(r.content) == [] and leaks(text) == [] and "[CARD]" in text, fmt

    for path in server.data_dir.rglob("*"):  # segments, the cache of bucket objects, meta.db, ...
        if path.is_file() and "wal" not in path.parts:
            data = path.read_bytes()
            assert leaks(data) == [], path
            if path.suffix == ".parquet":
                assert leaks(parquet_texts(data)) == [], path
    wal_dir = server.data_dir / "wal"
    raw_wal = b"".join(p.read_bytes() for _, p in list_wal_files(wal_dir))
    if in_request:  # no raw copy on disk at all
        assert leaks(raw_wal) == [] and leaks(wal_texts(wal_dir)) == []
        assert "[EMAIL]" in wal_texts(wal_dir)
    else:  # the documented window: the newest WAL file keeps the raw bodies until it is rotated and checkpointed
        assert set(leaks(wal_texts(wal_dir))) == set(VALUES)


def test_the_settings_api_validates_and_detect_mode_keeps_the_text(server: RunningServer) -> None:
    url = f"{server.url}/api/projects/{server.project}/settings"
    shown = httpx.get(url, headers=server.headers()).json()["pii"]
    assert shown == {"mode": "off", "custom_patterns": [], "masked_keys": [], "default_mode": "off", "is_default": True}
    bad = {"retention_days": 3, "pii": {"mode": "redact", "custom_patterns": [{"name": "x", "pattern": "(?=a)"}]}}
    r = httpx.patch(url, json=bad, headers=server.headers())
    assert r.status_code == 400 and "lookaround" in r.json()["error"]["message"]
    after = httpx.get(url, headers=server.headers()).json()
    assert after["retention_days"] is None and after["pii"]["mode"] == "off"  # nothing of the request applied
    r = httpx.patch(url, json={"pii": {"mode": "detect"}}, headers=server.headers())
    assert r.status_code == 200 and r.json()["pii"]["mode"] == "detect" and r.json()["pii"]["is_default"] is False
    events = [{**native_events()[0], "event_id": "d1", "trace_id": "detect-t"}]
    ingest = f"{server.url}/v1/projects/{server.project}/events"
    assert httpx.post(ingest, json={"events": events}, headers=server.headers()).status_code == 202
    span = wait_for(lambda: next(iter(spans(server)), None))
    assert span["user_id"] == EMAIL and SSN in orjson.dumps(span["output"]).decode()
    pii = orjson.loads(span["pii"]) if isinstance(span["pii"], str) else span["pii"]
    assert pii["mode"] == "detect" and pii["found"]["email"] >= 3 and pii["found"]["card"] == 4
    audit = httpx.get(f"{server.url}/api/projects/{server.project}/audit", headers=server.headers()).json()["items"]
    assert any("pii" in (entry.get("details") or {}).get("changed", {}) for entry in audit)
