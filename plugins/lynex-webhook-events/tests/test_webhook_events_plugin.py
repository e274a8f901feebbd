"""The webhook-events plugin on its own: registered with the real plugin host from its entry point, an emitted
topic reaches a real HTTP receiver started here, signed; topics not configured are not subscribed; a bad table
is refused with a message naming the key, and a receiver answering 500 is counted as an error."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from lynex_webhook_events import ConfigError, create

from lynex_box.config import PluginsSettings
from lynex_box.plugins.host import PluginHost


class _Receiver:
    def __init__(self, status: int = 200) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, n: int, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.got) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.got) >= n, f"{len(self.got)} of {n} requests received"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    r = _Receiver()
    yield r
    r.close()


def _host(config: dict[str, Any]) -> PluginHost:
    return PluginHost.start(PluginsSettings(enabled=("webhook-events",), configs={"webhook-events": config}))


def test_an_emitted_topic_is_posted_signed(receiver: _Receiver) -> None:
    host = _host({"url": receiver.url, "topics": ["key_created"], "secret": "s3cret"})
    try:
        [status] = [p for p in host.status() if p["name"] == "webhook-events"]
        assert status["state"] == "loaded" and status["hooks"] == ["lynex_key_created"]
        assert host.wants("key_created") and not host.wants("project_created")
        host.emit("project_created", {"project_id": "p0"})  # not configured: nobody receives it
        host.emit("key_created", {"project_id": "p1", "key_id": "k1"})
        receiver.wait(1)
        headers, body = receiver.got[0]
        doc = orjson.loads(body)
        assert doc["topic"] == "key_created" and doc["event"] == {"project_id": "p1", "key_id": "k1"}
        assert headers["x-lynex-event"] == "key_created"
        mac = hmac.new(b"s3cret", headers["x-lynex-timestamp"].encode() + b"." + body, hashlib.sha256)
        assert headers["x-lynex-signature"] == f"sha256={mac.hexdigest()}"
        time.sleep(0.2)
        assert len(receiver.got) == 1
    finally:
        host.close()


def test_a_failing_receiver_is_counted_as_errors() -> None:
    failing = _Receiver(status=500)
    host = _host({"url": failing.url, "topics": ["key_revoked"]})
    try:
        host.emit("key_revoked", {"project_id": "p1", "key_id": "k1"})
        failing.wait(1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            [status] = [p for p in host.status() if p["name"] == "webhook-events"]
            if status["errors"]:
                break
            time.sleep(0.02)
        assert status["errors"] == 1 and "answered 500" in status["subscriptions"][0]["last_error"]
    finally:
        host.close()
        failing.close()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "url = None must be an http(s) URL"),
        ({"url": "ftp://x/"}, "must be an http(s) URL"),
        ({"url": "http://x/", "topics": ["nope"]}, "unknown ['nope']"),
        ({"url": "http://x/", "timeout_s": 0}, "timeout_s = 0"),
        ({"url": "http://x/", "retries": 3}, "unknown key(s) ['retries']"),
    ],
)
def test_a_bad_table_is_refused_naming_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        create(config)
    assert message in str(info.value)


def test_a_bad_table_fails_the_plugin_not_the_host() -> None:
    host = _host({"url": "nope"})
    try:
        [status] = [p for p in host.status() if p["name"] == "webhook-events"]
        assert status["state"] == "failed" and "must be an http(s) URL" in status["error"]
    finally:
        host.close()
