"""Key rules and the error messages every store shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from lynex_box.objstore import (
    InvalidKey,
    LocalStore,
    MemoryStore,
    ObjectStore,
    PreconditionFailed,
    S3Settings,
    S3Store,
    StoreUnavailable,
    validate_key,
)
from lynex_box.objstore.base import is_under, validate_prefix


@pytest.mark.parametrize(
    "key", ["a", "a/b", "segments/node-1/01J9Z.parquet", "x/.hidden", "...", "a..b", "ü", "x" * 1024]
)
def test_valid_keys_are_returned_unchanged(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        ("/a", "starts with '/'"),
        ("a//b", "empty segment"),
        ("a/", "empty segment"),
        ("..", "'..' segment"),
        ("a/../b", "'..' segment"),
        ("./a", "'.' segment"),
        ("a\x00b", "control character"),
        ("a\tb", "control character"),
        ("a\x7fb", "control character"),
        ("é" * 513, "longer than 1024 bytes"),
        ("a\ud800", "surrogate"),
    ],
)
def test_invalid_keys_raise_with_the_reason_and_a_hint(key: str, reason: str) -> None:
    with pytest.raises(InvalidKey) as raised:
        validate_key(key)

    assert reason in str(raised.value)
    assert "hint:" in str(raised.value)


def test_non_string_keys_are_invalid() -> None:
    with pytest.raises(InvalidKey):
        validate_key(b"bytes")  # type: ignore[arg-type]


def test_list_prefixes_accept_empty_and_one_trailing_slash() -> None:
    assert validate_prefix("") == ""
    assert validate_prefix("a/b/") == "a/b"
    with pytest.raises(InvalidKey):
        validate_prefix("a//")


def test_is_under_treats_the_prefix_as_a_path() -> None:
    assert is_under("a/b", "a")
    assert not is_under("ab", "a")
    assert not is_under("a", "a")
    assert is_under("anything", "")


def test_errors_name_the_key_and_carry_a_hint() -> None:
    error = PreconditionFailed("etag is x, expected y", key="cluster/lease")

    assert str(error).startswith("etag is x, expected y (key='cluster/lease'); hint: ")
    assert error.key == "cluster/lease"
    assert not error.transient
    assert StoreUnavailable("timeout").transient


def test_every_store_satisfies_the_protocol(tmp_path: Path) -> None:
    stores: list[object] = [
        MemoryStore(),
        LocalStore(tmp_path / "s"),
        S3Store(S3Settings(bucket="b", endpoint="http://127.0.0.1:1", allow_http=True)),
    ]
    assert all(isinstance(store, ObjectStore) for store in stores)
