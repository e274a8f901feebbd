"""`alerts/fetch.py`: a GET of a small document under the outbound address policy, against a real HTTP server."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from lynex_box.alerts.fetch import FetchFailed, fetch_small
from lynex_box.alerts.targets import TargetPolicy
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
