"""Optional Sentry reporting on a real server: with `[sentry] dsn` pointing at a real HTTP server standing in for
Sentry's ingest endpoint, a request that fails inside the server sends an event, and the event carries neither the
request's body nor its Authorization header nor its cookie. `scrub` is also checked on a hand-made event."""

from __future__ import annotations

import gzip
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from lynex_box.api.sentry_report import scrub
from tests.e2e.server import RunningServer
from tests.e2e.test_ingest_query import make_trace


class SentryIngest:
    """Records the envelopes POSTed to /api/<project>/envelope/ (decompressed), answers 200 like Sentry."""

    def __init__(self) -> None:
        self.envelopes: list[bytes] = []
        received = self.envelopes

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                encoding = self.headers.get("content-encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                elif encoding == "br":
                    import brotli  # type: ignore[import-not-found]

                    body = brotli.decompress(body)
                received.append(body)
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.server.server_address[1]}/1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_failing_request_reaches_sentry_without_secrets(tmp_path: Path) -> None:
    ingest = SentryIngest()
    env = {"LYNEX_SENTRY_DSN": ingest.dsn, "LYNEX_HEAD_MAX_AGE_S": "0.2"}
    srv = RunningServer(tmp_path / "data", env=env).start()
    try:
        trace_id = f"s-{uuid.uuid4().hex[:8]}"
        r = httpx.post(f"{srv.url}/v1/projects/{srv.project}/events", json={"events": make_trace(trace_id)},
                       headers=srv.headers())  # fmt: skip
        assert r.status_code in (200, 202), r.text
        deadline = time.monotonic() + 15
        segments: list[Path] = []
        while not segments:
            assert time.monotonic() < deadline, "the head was never flushed to a segment"
            time.sleep(0.1)
            segments = list((tmp_path / "data" / "segments").rglob("*.parquet"))
        for path in segments:  # the forced error: the query engine meets a segment that is not Parquet
            path.write_bytes(b"PAR1 this is not a parquet file PAR1")
        secret_cookie, secret_body = f"lynex_session=cookie-{uuid.uuid4().hex}", f"body-{uuid.uuid4().hex}"
        r = httpx.request("GET", f"{srv.url}/v1/projects/{srv.project}/traces?secret=q-{trace_id}",
                          headers={**srv.headers(), "Cookie": secret_cookie}, content=secret_body)  # fmt: skip
        assert r.status_code == 500, r.text
        deadline = time.monotonic() + 15
        while not any(b'"exception"' in envelope for envelope in ingest.envelopes):
            assert time.monotonic() < deadline, f"no error event reached the Sentry endpoint: {ingest.envelopes}"
            time.sleep(0.1)
    finally:
        srv.stop()
        ingest.close()
    sent = b"\n".join(ingest.envelopes)
    key = srv.creds["api_key"].encode()
    assert key not in sent, "the API key (Authorization header) was sent to Sentry"
    assert secret_cookie.split("=", 1)[1].encode() not in sent, "the cookie was sent to Sentry"
    assert secret_body.encode() not in sent, "the request body was sent to Sentry"
    assert f"q-{trace_id}".encode() not in sent, "the query string was sent to Sentry"


def test_scrub_removes_request_data() -> None:
    event = {
        "request": {
            "url": "http://x/v1/projects/p/traces",
            "method": "POST",
            "data": {"events": ["secret"]},
            "cookies": {"lynex_session": "s"},
            "query_string": "token=abc",
            "headers": {"Authorization": "Bearer k", "COOKIE": "c", "X-CSRF-Token": "t", "User-Agent": "ua"},
        },
        "user": {"ip_address": "10.0.0.1"},
    }
    out = scrub(event)
    assert out["request"] == {"url": "http://x/v1/projects/p/traces", "method": "POST",
                              "headers": {"User-Agent": "ua"}}  # fmt: skip
    assert "user" not in out
