"""A real HTTP server on 127.0.0.1 in a thread that records what notification channels send it.

Paths choose its answer: `/flaky/<n>/...` fails with 500 the first n times, `/status/<code>/...` always
answers `code`, `/redirect/...` answers 302 to the cloud metadata address with a body of `REDIRECT_BODY`,
anything else answers 200.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

REDIRECT_TO = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
REDIRECT_BODY = b"redirect-body-that-must-never-be-stored"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._hits: dict[str, int] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    hits = receiver._hits[self.path] = receiver._hits.get(self.path, 0) + 1
                parts = self.path.strip("/").split("/")
                code, answer = 200, b"ok"
                if parts[0] == "flaky" and hits <= int(parts[1]):
                    code = 500
                elif parts[0] == "status":
                    code = int(parts[1])
                elif parts[0] == "redirect":
                    code, answer = 302, REDIRECT_BODY
                self.send_response(code)
                if code == 302:
                    self.send_header("Location", REDIRECT_TO)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def on(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def wait_for(self, path: str, pred: Callable[[Received], bool], timeout: float = 15.0) -> Received:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.on(path):
                if pred(r):
                    return r
            time.sleep(0.05)
        raise AssertionError(f"nothing matching arrived at {path} within {timeout}s; got {self.on(path)}")
