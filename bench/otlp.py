"""End-to-end OTLP benchmark: 4 clients send 500-span OTLP/HTTP protobuf requests to a real `lynex-box run`.

The request bodies are built once with OpenTelemetry's own protobuf classes (`opentelemetry-proto`), as an SDK
exporter would send them: realistic GenAI traces (an agent root, then LLM, tool and retriever children), half
in the OTel GenAI conventions (`gen_ai.input.messages` / `gen_ai.output.messages` JSON) and half in OpenInference
(flattened `llm.input_messages.{i}.message.*` plus `input.value` / `output.value`), with chat messages of 1-3 KB.
Each sent copy gets unique trace ids by a fixed-width byte substitution, so the client side costs nothing.

Prints one JSON object: accepted spans/s, spans/s stored AND queryable (the count is polled until every span is
visible), p50/p95/p99 time from a `200` to the trace being visible in `/traces/{id}`, the server's peak RSS (with its child processes), the CPU it used (idem), and
the issue's target (>= 25,000 spans/s) with pass/fail, and `box_probe_decode_us_per_span`: the CPU one process needs
to decode a span here just before the run (the shared box's speed varies by the hour).

    python bench/otlp.py                     # 200k spans
    python bench/otlp.py --spans 500000 --keep-server   # leave the server up (prints its pid) for py-spy
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import psutil
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.server import free_port

TARGET_SPANS_PER_S = 25_000
MAGIC = b"\xfeLXBENCH!\xfe"  # 10 bytes at the start of every trace id of a template, replaced per sent copy
BASE_NS = 1_795_000_000_000_000_000  # 2026-11-18: one metrics bucket holds every span
WORDS = (  # noqa: SIM905 - a word list reads better as text
    "the a model answer question context document retrieve token cost latency user assistant system tool "
    "call result search weather database query summary explain detail customer order account invoice "
    "policy refund shipping address payment card delivery status tracking warehouse product price "
    "discount"
).split()
SYSTEM_PROMPTS = [
    "You are a helpful support assistant for an online shop. Answer briefly and cite the order id. " * 3,
    "You are a senior analyst. Summarise the retrieved documents and list the sources you used. " * 3,
    "You are a coding assistant. Explain the change, then give the patch in a fenced block. " * 3,
]
MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-sonnet-20241022")]


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def kv(key: str, value: str | int | float | bool) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def genai_llm(rng: random.Random) -> list[KeyValue]:
    provider, model = rng.choice(MODELS)
    system, user, answer = rng.choice(SYSTEM_PROMPTS), text(rng, rng.randint(40, 120)), text(rng, rng.randint(40, 140))
    inputs = [{"role": "system", "parts": [{"type": "text", "content": system}]},
              {"role": "user", "parts": [{"type": "text", "content": user}]}]  # fmt: skip
    outputs = [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]
    return [
        kv("gen_ai.operation.name", "chat"),
        kv("gen_ai.provider.name", provider),
        kv("gen_ai.request.model", model),
        kv("gen_ai.response.model", model),
        kv("gen_ai.request.temperature", 0.2),
        kv("gen_ai.usage.input_tokens", rng.randrange(200, 3000)),
        kv("gen_ai.usage.output_tokens", rng.randrange(20, 600)),
        kv("gen_ai.response.finish_reasons", "stop"),
        kv("gen_ai.input.messages", orjson.dumps(inputs).decode()),
        kv("gen_ai.output.messages", orjson.dumps(outputs).decode()),
    ]


def openinference_llm(rng: random.Random) -> list[KeyValue]:
    provider, model = rng.choice(MODELS)
    system, user, answer = rng.choice(SYSTEM_PROMPTS), text(rng, rng.randint(40, 120)), text(rng, rng.randint(40, 140))
    request = {"model": model, "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]}
    prompt, completion = rng.randrange(200, 3000), rng.randrange(20, 600)
    return [
        kv("openinference.span.kind", "LLM"),
        kv("llm.system", provider),
        kv("llm.provider", provider),
        kv("llm.model_name", model),
        kv("llm.invocation_parameters", '{"temperature": 0.2}'),
        kv("llm.token_count.prompt", prompt),
        kv("llm.token_count.completion", completion),
        kv("llm.token_count.total", prompt + completion),
        kv("llm.input_messages.0.message.role", "system"),
        kv("llm.input_messages.0.message.content", system),
        kv("llm.input_messages.1.message.role", "user"),
        kv("llm.input_messages.1.message.content", user),
        kv("llm.output_messages.0.message.role", "assistant"),
        kv("llm.output_messages.0.message.content", answer),
        kv("input.value", orjson.dumps(request).decode()),
        kv("input.mime_type", "application/json"),
        kv("output.value", answer),
        kv("session.id", f"sess-{rng.randrange(2000)}"),
        kv("user.id", f"user-{rng.randrange(500)}"),
    ]


def tool_span(rng: random.Random) -> tuple[str, list[KeyValue]]:
    name = rng.choice(["lookup_order", "search_docs", "get_weather"])
    return f"execute_tool {name}", [
        kv("gen_ai.operation.name", "execute_tool"),
        kv("gen_ai.tool.name", name),
        kv("gen_ai.tool.call.id", f"call_{rng.getrandbits(48):012x}"),
        kv("gen_ai.tool.call.arguments", orjson.dumps({"query": text(rng, 6)}).decode()),
        kv("gen_ai.tool.call.result", text(rng, 30)),
    ]


def retriever_span(rng: random.Random) -> tuple[str, list[KeyValue]]:
    attrs = [kv("openinference.span.kind", "RETRIEVER"), kv("input.value", text(rng, 8))]
    for i in range(3):
        attrs.append(kv(f"retrieval.documents.{i}.document.id", f"doc-{rng.randrange(10_000)}"))
        attrs.append(kv(f"retrieval.documents.{i}.document.content", text(rng, 40)))
        attrs.append(kv(f"retrieval.documents.{i}.document.score", rng.random()))
    return "retrieve", attrs


def template_batch(size: int, seed: int) -> bytes:
    """One request body of `size` spans; every trace id starts with MAGIC (replaced per sent copy)."""
    rng = random.Random(seed)
    spans: list[Span] = []
    t = 0
    while len(spans) < size:
        trace_id = MAGIC + t.to_bytes(6, "big")
        assert len(trace_id) == 16
        root_id = rng.getrandbits(64).to_bytes(8, "big")
        start = BASE_NS + rng.randrange(0, 3_600_000_000_000)
        spans.append(Span(trace_id=trace_id, span_id=root_id, name="invoke_agent shopper", kind=Span.SPAN_KIND_INTERNAL,
                          start_time_unix_nano=start, end_time_unix_nano=start + 2_000_000_000,
                          attributes=[kv("gen_ai.operation.name", "invoke_agent"), kv("gen_ai.agent.name", "shopper"),
                                      kv("session.id", f"sess-{rng.randrange(2000)}"),
                                      kv("user.id", f"user-{rng.randrange(500)}")]))  # fmt: skip
        for k in range(rng.randint(2, 6)):
            kind = rng.choice(["genai", "openinference", "tool", "retriever"])
            if kind == "genai":
                name, attrs = "chat", genai_llm(rng)
            elif kind == "openinference":
                name, attrs = "ChatCompletion", openinference_llm(rng)
            elif kind == "tool":
                name, attrs = tool_span(rng)
            else:
                name, attrs = retriever_span(rng)
            begin = start + (k + 1) * 100_000_000
            spans.append(Span(trace_id=trace_id, span_id=rng.getrandbits(64).to_bytes(8, "big"),
                              parent_span_id=root_id, name=name, kind=Span.SPAN_KIND_CLIENT,
                              start_time_unix_nano=begin, end_time_unix_nano=begin + rng.randrange(10**8, 10**9),
                              attributes=attrs, status=Status(code=Status.STATUS_CODE_OK)))  # fmt: skip
        t += 1
    resource = Resource(attributes=[kv("service.name", "shop-agent"), kv("deployment.environment", "production"),
                                    kv("telemetry.sdk.language", "python")])  # fmt: skip
    scope = InstrumentationScope(name="openinference.instrumentation.openai", version="0.1.66")
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(scope=scope, spans=spans[:size])])]
    )
    body = request.SerializeToString()
    assert body.count(MAGIC) == size, "MAGIC must occur only in trace ids"
    return body


def box_speed(templates: list[bytes], seconds: float = 3.0) -> float:
    """µs of CPU one process needs to decode and map a span of these requests here, now: the box's speed at the
    time of the run (it varies on a shared box), so runs made at different times can be compared."""
    from lynex_box.sources.otlp import map_columns
    from lynex_box.sources.otlp.decode import decode_traces_protobuf

    spans = 0
    start = time.process_time()
    while time.process_time() - start < seconds:
        for body in templates[:2]:
            spans += map_columns(decode_traces_protobuf(body)).count
    return round((time.process_time() - start) / spans * 1e6, 1)


def trace_hex(batch_no: int, trace_no: int) -> str:
    return (b"LX" + batch_no.to_bytes(8, "big") + trace_no.to_bytes(6, "big")).hex()


def rss_sampler(pid: int, stop: threading.Event, peak: list[int], child_cpu: dict[int, float]) -> None:
    """Peak RSS of the server plus its child processes (the OTLP decode workers); the children's last CPU seconds.

    The list of children is refreshed once a second, not at every sample: finding them reads the stat file of every
    process on the box, which cost the benchmark's own process (on the same 2 cores) more than the sampling."""
    proc = psutil.Process(pid)
    children: list[psutil.Process] = []
    listed = 0.0
    while not stop.is_set():
        try:
            if time.monotonic() - listed > 1.0:
                children, listed = proc.children(recursive=True), time.monotonic()
            total = proc.memory_info().rss
            for child in children:
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
                    child_cpu[child.pid] = sum(child.cpu_times()[:2])
            peak[0] = max(peak[0], total)
        except psutil.Error:
            return
        time.sleep(0.05)


def wait_ready(port: int) -> None:
    for _ in range(400):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not become ready")


def visible_count(conn: http.client.HTTPConnection, project: str, headers: dict[str, str]) -> int:
    conn.request("GET", f"/v1/projects/{project}/metrics", headers=headers)
    resp = conn.getresponse()
    series = json.loads(resp.read())["series"]
    return int(series[0]["points"][0]["count"]) if series else 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--durability", default="fsync")
    ap.add_argument(
        "--pii", default="off", choices=["off", "detect", "redact"], help="[pii] default_mode of the server"
    )
    ap.add_argument("--pii-in-request", action="store_true", help="[pii] redact_in_request = true")
    ap.add_argument(
        "--detectors",
        default="on",
        choices=["on", "off"],
        help="the built-in detectors ([plugins] builtin_detectors; on by default, as in the server)",
    )
    ap.add_argument("--keep-server", action="store_true", help="leave the server running at the end (prints its pid)")
    args = ap.parse_args()
    templates = [template_batch(args.batch, seed) for seed in range(8)]
    probe_us = box_speed(templates)
    data = Path(tempfile.mkdtemp(prefix="lynex-bench-otlp-"))
    port = free_port()
    # fixed span start times may be older than the default retention (30 days): keep everything
    # no OTLP/gRPC receiver: a bench beside a running appliance (or another bench) would find 4317 taken
    env = {**os.environ, "LYNEX_WAL_DURABILITY": args.durability, "LYNEX_RETENTION_DAYS": "0",
           "LYNEX_SERVER_OTLP_GRPC_PORT": "0", "LYNEX_PII_DEFAULT_MODE": args.pii,
           "LYNEX_PII_REDACT_IN_REQUEST": str(args.pii_in_request).lower(),
           "LYNEX_PLUGINS_BUILTIN_DETECTORS": "detectors" if args.detectors == "on" else ""}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "lynex_box", "run", "--data-dir", str(data), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    creds = json.loads(server.stdout.readline())
    project, key = creds["project_id"], creds["api_key"]
    auth = {"Authorization": f"Bearer {key}"}
    headers = {**auth, "Content-Type": "application/x-protobuf"}
    wait_ready(port)
    print(f"server pid {server.pid} port {port}", file=sys.stderr)
    batches = args.spans // args.batch
    next_batch = iter(range(batches))
    lock = threading.Lock()
    acked: list[tuple[int, float]] = []
    latencies: list[float] = []
    failures: list[str] = []
    stop = threading.Event()
    peak = [0]
    child_cpu: dict[int, float] = {}
    sampler_stop = threading.Event()
    sampler = threading.Thread(target=rss_sampler, args=(server.pid, sampler_stop, peak, child_cpu), daemon=True)
    sampler.start()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                n = next(next_batch, None)
            if n is None:
                return
            body = templates[n % len(templates)].replace(MAGIC, b"LX" + n.to_bytes(8, "big"))
            for _attempt in range(30):
                conn.request("POST", "/v1/traces", body=body, headers=headers)
                resp = conn.getresponse()
                answer = resp.read()
                if resp.status == 200:
                    if answer:  # a partial_success: the benchmark's spans are all valid
                        failures.append(answer[:200].hex())
                    break
                if resp.status != 503:
                    failures.append(f"batch {n}: status {resp.status} {answer[:200]!r}")
                    break
                time.sleep(float(resp.getheader("Retry-After") or 1))
            else:
                failures.append(f"batch {n}: status {resp.status}")
            with lock:
                acked.append((n, time.monotonic()))

    def prober() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while not stop.is_set():
            with lock:
                last = acked[-1] if acked else None
            if last is None:
                time.sleep(0.05)
                continue
            n, t_ack = last
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                conn.request("GET", f"/v1/projects/{project}/traces/{trace_hex(n, 0)}", headers=auth)
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    latencies.append(time.monotonic() - t_ack)
                    break
                time.sleep(0.05)  # a lookup is a query: 20/s measures to 50 ms without taking the pipeline's CPU
            time.sleep(0.2)

    probe = threading.Thread(target=prober, daemon=True)
    server_proc = psutil.Process(server.pid)
    time.sleep(0.2)  # the sampler has seen the children that exist before the run (their CPU so far is not counted)
    cpu_before = sum(server_proc.cpu_times()[:2]) + sum(child_cpu.values())
    start = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for t in threads:
        t.start()
    probe.start()
    for t in threads:
        t.join()
    sent_done = time.monotonic()
    stop.set()
    probe.join()
    total = batches * args.batch
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    visible = 0
    while visible < total and time.monotonic() - sent_done < 300:
        visible = visible_count(conn, project, auth)
        if visible < total:
            time.sleep(0.25)  # each count is a query over every segment: poll gently, it competes with ingest
    all_visible = time.monotonic()
    for child in server_proc.children(recursive=True):  # a decode worker started during the run counts from 0
        with contextlib.suppress(psutil.Error):
            child_cpu[child.pid] = sum(child.cpu_times()[:2])
    sampler_stop.set()
    # user + system seconds of the server and its children while sending and catching up
    server_cpu = sum(server_proc.cpu_times()[:2]) + sum(child_cpu.values()) - cpu_before
    children_cpu = sum(child_cpu.values())
    if args.keep_server:
        print(f"server left running: pid {server.pid} port {port} data {data}", file=sys.stderr)
    else:
        server.terminate()
        server.wait(60)
    on_disk = sum(p.stat().st_size for p in (data / "segments").rglob("*.parquet"))
    if not args.keep_server:
        shutil.rmtree(data, ignore_errors=True)
    lat = sorted(latencies) or [float("nan")]

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1)

    queryable_rate = visible / (all_visible - start)
    result: dict[str, Any] = {
        "spans": total,
        "batch": args.batch,
        "clients": args.clients,
        "durability": args.durability,
        "pii": args.pii + (" in request" if args.pii_in_request else ""),
        "detectors": args.detectors,
        "request_bytes": round(sum(map(len, templates)) / len(templates)),
        "accepted_spans_per_s": round(total / (sent_done - start)),
        "queryable_spans_per_s": round(queryable_rate),
        "visible_spans": visible,
        "ingest_to_visible_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "samples": len(latencies)},
        "server_peak_rss_mb": round(peak[0] / 2**20, 1),
        # The cores the server used on average; the rest of the machine ran the clients (and whatever else runs).
        "server_cpu_cores_avg": round(server_cpu / (all_visible - start), 2),
        "server_cpu_us_per_span": round(server_cpu / max(1, visible) * 1e6, 1),
        "server_children_cpu_s": round(children_cpu, 2),  # included in the two above
        "segment_bytes_per_span": round(on_disk / max(1, visible), 1),
        "failures": failures[:5],
        "target": {"queryable_spans_per_s": TARGET_SPANS_PER_S, "pass": queryable_rate >= TARGET_SPANS_PER_S},
        "cpus": os.cpu_count(),
        "box_probe_decode_us_per_span": probe_us,  # one process alone, before the run; lower is a faster box
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
