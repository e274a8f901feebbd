"""Real local HTTP servers a monitor test points at: the user's app (switchable between healthy and failing) and an
OpenAI-compatible chat-completions endpoint. Both run on 127.0.0.1 in a thread and record what they were sent."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class LocalServer:
    """`failing` makes the app answer 500; `answer` is what the model endpoint says."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.failing = False
        self.answer = "The capital of France is Paris."
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer._lock:
                    outer.seen.append(
                        Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                code, doc = outer._reply(self.path, body)
                data = orjson.dumps(doc)
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _reply(self, path: str, body: bytes) -> tuple[int, Any]:
        if path.startswith("/v1/chat/completions"):
            request = orjson.loads(body)
            return 200, {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": request["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": self.answer}}],
                "usage": {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30},
            }
        if self.failing:
            return 500, {"status": "down"}
        return 200, {"status": "ok", "items": [{"id": 7}]}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> LocalServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def requests_to(self, prefix: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path.startswith(prefix)]
