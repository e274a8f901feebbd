"""alerts/outbound.post, the plugins' one POST: under the outbound address policy (loopback refused unless opened,
refusals not retryable), no redirect followed, an answer judged retryable (5xx, 429) or not (other 4xx)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lynex_box.alerts.outbound import PostFailed, post
from lynex_box.alerts.targets import TargetPolicy
from tests.alerts.receiver import Receiver

OPEN = TargetPolicy(allow_private=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def test_a_post_reaches_an_opened_address_with_its_body_and_headers(receiver: Receiver) -> None:
    status, _ = post(f"{receiver.url}/ok", b"hello", {"X-Test": "1"}, OPEN, 5.0)
    assert status == 200
    [got] = receiver.on("/ok")
    assert got.body == b"hello" and got.headers["x-test"] == "1"


@pytest.mark.parametrize(
    ("path", "policy", "retryable", "message"),
    [
        ("/never", TargetPolicy(), False, "loopback address"),
        ("/status/503/x", OPEN, True, "answered 503"),
        ("/status/429/x", OPEN, True, "answered 429"),
        ("/status/404/x", OPEN, False, "answered 404"),
        ("/redirect/x", OPEN, False, "answered 302"),
    ],
)
def test_failures_say_why_and_whether_to_try_again(
    receiver: Receiver, path: str, policy: TargetPolicy, retryable: bool, message: str
) -> None:
    with pytest.raises(PostFailed) as info:
        post(f"{receiver.url}{path}", b"{}", {}, policy, 5.0)
    assert info.value.retryable is retryable and message in str(info.value)
    assert "redirect-body" not in str(info.value)  # a loopback answer's body is not kept
    if path == "/never":
        assert receiver.received == []
