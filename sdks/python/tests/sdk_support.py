"""Real HTTP parts the SDK's tests put around the real server: a failing proxy, and fake OpenAI/Anthropic APIs.

`FlakyProxy` forwards every request to the server, except that it answers according to a plan: `fail` the next
N requests with 503 (or any status) before forwarding, or `lose` the answer of the next N (it forwards, the server
stores, and the client is told 503: the retry must not make a duplicate). It records what it saw.

`FakeLLM` answers `POST /v1/chat/completions` (OpenAI) and `POST /v1/messages` (Anthropic) with fixed answers,
streamed as server-sent events when the request says `"stream": true`, a tool call when the request offers tools,
and a 400 error when the model is `"bad-model"`.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import zstandard


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Base:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> Any:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def decode_body(raw: bytes, encoding: str | None) -> Any:
    if encoding == "gzip":
        raw = gzip.decompress(raw)
    elif encoding == "zstd":
        raw = zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    return json.loads(raw) if raw else None


class FlakyProxy(_Base):
    def __init__(self, upstream: str) -> None:
        super().__init__(_ProxyHandler)
        self.upstream = upstream
        self.lock = threading.Lock()
        self.plan: list[tuple[str, int, str]] = []  # ("fail" | "lose", status, Retry-After) per coming POST
        self.refuse_encodings: set[str] = set()  # answered 415
        self.version: dict[str, str] | None = None  # the answer to GET /v1/version (None: the server's)
        self.version_gets = 0
        self.posts: list[dict[str, Any]] = []  # {"path", "encoding", "body", "answer"}
        self.client = httpx.Client(base_url=upstream, timeout=30)

    def fail(self, count: int, status: int = 503, retry_after: str = "0") -> None:
        with self.lock:
            self.plan.extend([("fail", status, retry_after)] * count)

    def lose(self, count: int) -> None:
        with self.lock:
            self.plan.extend([("lose", 503, "0")] * count)

    def event_ids_sent(self) -> list[str]:
        """Event ids of every events POST the server got (forwarded), duplicates included."""
        ids = []
        for post in self.posts:
            if post["forwarded"] and post["path"].endswith("/events"):
                ids.extend(e["event_id"] for e in post["body"]["events"])
        return ids

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.client.close()


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _forward(self, method: str) -> None:
        proxy: FlakyProxy = self.server.owner  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding")
        step = None
        if method == "POST":
            with proxy.lock:
                step = proxy.plan.pop(0) if proxy.plan else None
        record: dict[str, Any] = {"path": self.path, "encoding": encoding, "forwarded": False, "answer": None}
        record["t"] = time.monotonic()
        if method == "POST":
            record["body"] = decode_body(raw, encoding) if encoding not in proxy.refuse_encodings else None
            with proxy.lock:
                proxy.posts.append(record)
        if encoding in proxy.refuse_encodings:
            record["answer"] = 415
            return self._answer(415, {"error": {"code": "unsupported_encoding", "message": encoding}})
        if step is not None and step[0] == "fail":
            record["answer"] = step[1]
            return self._answer(step[1], {"error": {"code": "overloaded", "message": "test"}}, {"Retry-After": step[2]})
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        response = proxy.client.request(method, self.path, content=raw, headers=headers)
        record["forwarded"] = True
        if step is not None:  # "lose": the server stored it, the client is told otherwise
            record["answer"] = step[1]
            return self._answer(step[1], {"error": {"code": "overloaded", "message": "test"}}, {"Retry-After": "0"})
        record["answer"] = response.status_code
        self._answer(response.status_code, response.content, {"Content-Type": "application/json"})

    def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self._forward("POST")

    def do_GET(self) -> None:
        proxy: FlakyProxy = self.server.owner  # type: ignore[attr-defined]
        if self.path == "/v1/version":
            proxy.version_gets += 1
            if proxy.version is not None:
                return self._answer(200, proxy.version)
        self._forward("GET")


# --- fake LLM providers

ANSWER = "Paris is the capital of France."
TOOL_ARGS = {"city": "Paris"}


def openai_response(model: str, tools: bool) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None if tools else ANSWER}
    if tools:
        message["tool_calls"] = [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": json.dumps(TOOL_ARGS)},
            }
        ]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": f"{model}-2024-08-06",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tools else "stop"}],
        "usage": {
            "prompt_tokens": 21,
            "completion_tokens": 7,
            "total_tokens": 28,
            "prompt_tokens_details": {"cached_tokens": 5},
        },
    }


def openai_chunks(model: str, tools: bool, usage: bool) -> list[dict[str, Any]]:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": int(time.time())}
    base["model"] = f"{model}-2024-08-06"
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    if tools:
        args = json.dumps(TOOL_ARGS)
        first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
        chunks.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [first]}}]})
        for part in (args[:5], args[5:]):
            delta = {"tool_calls": [{"index": 0, "function": {"arguments": part}}]}
            chunks.append({**base, "choices": [{"index": 0, "delta": delta}]})
    else:
        for word in ANSWER.split(" "):
            chunks.append({**base, "choices": [{"index": 0, "delta": {"content": word + " "}}]})
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls" if tools else "stop"}]})
    if usage:
        chunks.append(
            {**base, "choices": [], "usage": {"prompt_tokens": 21, "completion_tokens": 7, "total_tokens": 28}}
        )
    return chunks


def anthropic_response(model: str, tools: bool) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": "Let me check." if tools else ANSWER}]
    if tools:
        content.append({"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": TOOL_ARGS})
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": f"{model}-20250101",
        "content": content,
        "stop_reason": "tool_use" if tools else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 15,
            "output_tokens": 9,
            "cache_read_input_tokens": 4,
            "cache_creation_input_tokens": 0,
        },
    }


def anthropic_events(model: str, tools: bool) -> list[dict[str, Any]]:
    message = anthropic_response(model, tools)
    start = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"], "output_tokens": 1}}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    text = message["content"][0]["text"]
    events.append({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    for i in range(0, len(text), 8):
        events.append(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text[i : i + 8]}}
        )
    events.append({"type": "content_block_stop", "index": 0})
    if tools:
        block = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
        events.append({"type": "content_block_start", "index": 1, "content_block": block})
        args = json.dumps(TOOL_ARGS)
        for part in (args[:4], args[4:]):
            delta = {"type": "input_json_delta", "partial_json": part}
            events.append({"type": "content_block_delta", "index": 1, "delta": delta})
        events.append({"type": "content_block_stop", "index": 1})
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    events.append({"type": "message_delta", "delta": delta, "usage": {"output_tokens": 9}})
    events.append({"type": "message_stop"})
    return events


class FakeLLM(_Base):
    def __init__(self) -> None:
        super().__init__(_LLMHandler)
        self.requests: list[dict[str, Any]] = []


class _LLMHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        fake: FakeLLM = self.server.owner  # type: ignore[attr-defined]
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        fake.requests.append({"path": self.path, "body": request})
        model, tools, stream = request.get("model", ""), bool(request.get("tools")), bool(request.get("stream"))
        anthropic = self.path.endswith("/messages")
        if model == "bad-model":
            error = {"type": "invalid_request_error", "message": "model bad-model does not exist"}
            return self._json(400, {"type": "error", "error": error} if anthropic else {"error": error})
        if not stream:
            return self._json(200, anthropic_response(model, tools) if anthropic else openai_response(model, tools))
        if anthropic:
            lines = [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in anthropic_events(model, tools)]
        else:
            usage = bool((request.get("stream_options") or {}).get("include_usage"))
            lines = [f"data: {json.dumps(c)}\n\n" for c in openai_chunks(model, tools, usage)] + ["data: [DONE]\n\n"]
        data = "".join(lines).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
