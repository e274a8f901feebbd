"""Signed forwards (`cluster/signing.py`): a signature verifies only for the same secret and every covered field
unchanged, within the time window; a nonce is accepted once; and the cluster secret is made once and kept."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lynex_box.cluster.secret import SecretUnavailable, cluster_secret, ensure_secret
from lynex_box.cluster.signing import BadSignature, Forward, NonceLog, sign, verify
from lynex_box.meta.db import MetaDB

SECRET = b"k" * 32
NOW = 1_795_750_512_000


def forward(**changes: object) -> Forward:
    base = Forward.of(
        "POST", "/api/projects/p/keys", "a=1", NOW, forwarded_by="node-b", client_ip="203.0.113.7",
        host="lynex.example", scheme="https", body=b'{"scope":"read"}', nonce="n1",
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_signature_verifies_with_the_same_secret_and_fields() -> None:
    verify(SECRET, forward(), sign(SECRET, forward()), now_ms=NOW + 29_000, window_s=30)


@pytest.mark.parametrize(
    "changed",
    [
        {"method": "DELETE"}, {"path": "/api/projects/q/keys"}, {"query": "a=2"}, {"at_ms": NOW + 1},
        {"nonce": "n2"}, {"forwarded_by": "node-c"}, {"client_ip": "10.0.0.1"}, {"host": "evil.example"},
        {"scheme": "http"}, {"body_sha256": "0" * 64},
    ],
)  # fmt: skip
def test_changing_any_covered_field_breaks_the_signature(changed: dict[str, object]) -> None:
    signature = sign(SECRET, forward())
    with pytest.raises(BadSignature, match="does not match"):
        verify(SECRET, forward(**changed), signature, now_ms=NOW, window_s=30)


def test_another_secret_or_a_stale_time_is_refused() -> None:
    with pytest.raises(BadSignature, match="does not match"):
        verify(b"x" * 32, forward(), sign(SECRET, forward()), now_ms=NOW, window_s=30)
    for now in (NOW + 31_000, NOW - 31_000):  # old, or from a clock far ahead
        with pytest.raises(BadSignature, match="away from this node's clock"):
            verify(SECRET, forward(), sign(SECRET, forward()), now_ms=now, window_s=30)


def test_a_line_break_in_a_field_cannot_shift_the_fields() -> None:
    with pytest.raises(BadSignature, match="line break"):
        sign(SECRET, forward(path="/a\nPOST"))


@given(st.text(max_size=40), st.text(max_size=40))
def test_signatures_of_different_queries_differ(a: str, b: str) -> None:
    if a == b or "\n" in a + b:
        return
    assert sign(SECRET, forward(query=a)) != sign(SECRET, forward(query=b))


def test_a_nonce_is_accepted_once_within_the_window_and_forgotten_after() -> None:
    log = NonceLog(window_s=30, max_entries=3)
    assert log.first_use("n1", NOW)
    assert not log.first_use("n1", NOW + 59_000)
    assert log.first_use("n1", NOW + 61_000)  # remembered twice the window, then forgotten
    for nonce in ("n2", "n3", "n4"):
        assert log.first_use(nonce, NOW + 62_000)
    assert len(log._seen) <= 3  # bounded: the oldest went first


def test_the_cluster_secret_is_made_once_and_kept(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "meta.db")
    try:
        with pytest.raises(SecretUnavailable):
            cluster_secret(db)
        assert db.write(lambda conn: ensure_secret(conn, None)) is True
        made = cluster_secret(db)
        assert len(made) == 32
        assert db.write(lambda conn: ensure_secret(conn, None)) is False
        assert cluster_secret(db) == made
    finally:
        db.close()
