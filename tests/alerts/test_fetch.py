"""`alerts/fetch.py`: a GET of a small document, and a POST (plugins' `http_post`), under the outbound address
policy, against real HTTP servers."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from lynex_box.alerts.fetch import FetchFailed, blocking_post, fetch_small
from lynex_box.alerts.targets import TargetPolicy
from lynex_box.plugins.context import OutboundRefused
from tests.alerts.receiver import Receiver
from tests.e2e.jwt_issuer import JwksServer, SigningKey

OPEN = TargetPolicy(allow_private=True)


def fetch(url: str, policy: TargetPolicy = OPEN, max_bytes: int = 65536) -> bytes:
    return asyncio.run(fetch_small(url, policy=policy, timeout_s=5, max_bytes=max_bytes))


def test_a_document_is_read_from_an_allowed_address_and_refused_from_others() -> None:
    with JwksServer([SigningKey.generate("ec", "k1")]) as server:
        assert orjson.loads(fetch(server.url))["keys"][0]["kid"] == "k1"
        with pytest.raises(FetchFailed, match=r"loopback address.*allow_private_targets"):
            fetch(server.url, TargetPolicy())  # the default policy: global addresses only
        assert server.fetches == 1  # the refused one was never sent
        with pytest.raises(FetchFailed, match="link-local"):
            fetch("http://169.254.169.254/latest/meta-data/")


def test_a_failed_answer_or_one_over_the_limit_is_refused() -> None:
    with JwksServer([SigningKey.generate("ec", "k1")]) as server:
        with pytest.raises(FetchFailed, match="HTTP 404"):
            fetch(server.url.replace("jwks.json", "other"))
        with pytest.raises(FetchFailed, match="longer than 20 bytes"):
            fetch(server.url, max_bytes=20)
        server_port = server.server.server_address[1]
    with pytest.raises(FetchFailed, match="ConnectError"):
        fetch(f"http://127.0.0.1:{server_port}/jwks.json")  # nothing listens any more


def test_a_post_goes_to_an_allowed_address_and_a_refused_one_is_never_sent() -> None:
    receiver = Receiver().start()
    try:
        post = blocking_post(OPEN)
        status, answer = post(f"{receiver.url}/status/503", b'{"a": 1}', {"X-Test": "yes"}, 5.0)
        assert (status, answer) == (503, b"")  # an answer body is kept only from a global address
        [got] = receiver.on("/status/503")
        assert got.body == b'{"a": 1}' and got.headers["x-test"] == "yes"
        with pytest.raises(OutboundRefused, match=r"loopback address.*allow_private_targets"):
            blocking_post(TargetPolicy())(f"{receiver.url}/refused", b"{}", {}, 5.0)
        with pytest.raises(OutboundRefused, match="link-local"):
            blocking_post(OPEN)("http://169.254.169.254/latest", b"{}", {}, 5.0)
        assert receiver.on("/refused") == []
    finally:
        receiver.stop()
    with pytest.raises(FetchFailed, match="ConnectError"):
        blocking_post(OPEN)(f"{receiver.url}/gone", b"{}", {}, 5.0)  # nothing listens any more
