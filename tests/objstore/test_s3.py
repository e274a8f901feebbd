"""S3Store specifics against a real moto server: conditional headers, prefixes, errors, timeouts, settings."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.exceptions import ClientError
from obstore import exceptions as obx

from lynex_box.objstore import (
    AccessDenied,
    BucketNotFound,
    NotSupported,
    ObjectNotFound,
    PreconditionFailed,
    S3Settings,
    S3Store,
    StoreRequestError,
    StoreUnavailable,
)
from lynex_box.objstore.s3 import _translate

if TYPE_CHECKING:
    from .conftest import MotoServer


def _boto_put(moto_server: MotoServer, bucket: str, body: bytes, **conditions: str) -> tuple[int, str]:
    """PUT with boto3 (a moto dependency), independent of obstore; return the HTTP status and the ETag."""
    client = boto3.client(
        "s3",
        endpoint_url=moto_server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    try:
        response = client.put_object(Bucket=bucket, Key="lease", Body=body, **conditions)
    except ClientError as error:
        return int(error.response["ResponseMetadata"]["HTTPStatusCode"]), ""
    return int(response["ResponseMetadata"]["HTTPStatusCode"]), str(response["ETag"])


def test_moto_honours_if_none_match_and_if_match_on_put(moto_server: MotoServer, bucket: str) -> None:
    """Documents the server: the contract tests rely on moto answering 412 to failed conditional PUTs."""
    created, etag = _boto_put(moto_server, bucket, b"gen-1", IfNoneMatch="*")
    again, _ = _boto_put(moto_server, bucket, b"gen-x", IfNoneMatch="*")
    stale, _ = _boto_put(moto_server, bucket, b"gen-x", IfMatch='"00000000000000000000000000000000"')
    renewed, _ = _boto_put(moto_server, bucket, b"gen-2", IfMatch=etag)

    assert (created, again, stale, renewed) == (200, 412, 412, 200)


def test_store_prefix_keeps_deployments_apart(moto_server: MotoServer, bucket: str) -> None:
    one = S3Store(moto_server.settings(bucket, prefix="deploy/one"))
    two = S3Store(moto_server.settings(bucket, prefix="deploy/one-b"))
    whole_bucket = S3Store(moto_server.settings(bucket))

    one.put("segments/a", b"1")
    two.put("segments/a", b"2")

    assert [meta.key for meta in one.list()] == ["segments/a"]
    assert one.get("segments/a").data == b"1"
    assert [meta.key for meta in whole_bucket.list()] == ["deploy/one-b/segments/a", "deploy/one/segments/a"]


def test_missing_bucket_raises_bucket_not_found_with_a_hint(moto_server: MotoServer) -> None:
    store = S3Store(moto_server.settings("no-such-bucket"))

    for operation in (lambda: store.get("k"), lambda: store.put("k", b"x"), store.list):
        with pytest.raises(BucketNotFound) as raised:
            operation()
        assert "no-such-bucket" in str(raised.value)
        assert "create the bucket" in str(raised.value)


def _settings(endpoint: str, *, timeout_s: float = 10.0) -> S3Settings:
    return S3Settings(
        bucket="b",
        endpoint=endpoint,
        access_key_id="testing",
        secret_access_key="testing",
        allow_http=True,
        timeout_s=timeout_s,
        retries=0,
    )


def test_unreachable_endpoint_raises_a_transient_error(closed_port: int) -> None:
    store = S3Store(_settings(f"http://127.0.0.1:{closed_port}"))

    with pytest.raises(StoreUnavailable) as raised:
        store.get("k")

    assert raised.value.transient
    assert raised.value.key == "k"


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A listening socket that never accepts: connections succeed in the kernel, answers never come."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_silent_server_times_out_after_timeout_s(silent_endpoint: str) -> None:
    store = S3Store(_settings(silent_endpoint, timeout_s=0.3))

    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.put_if_absent("lease", b"x")
    elapsed = time.monotonic() - started

    assert 0.2 < elapsed < 5.0


def test_credentials_can_come_from_the_standard_environment(
    moto_server: MotoServer, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-env-secret")
    settings = S3Settings(bucket=bucket, endpoint=moto_server.endpoint, allow_http=True, retries=0)

    store = S3Store(settings)
    store.put("k", b"v")

    assert store.get("k").data == b"v"


def test_settings_never_show_the_secret() -> None:
    settings = S3Settings(bucket="b", access_key_id="AKIA-ID", secret_access_key="very-secret", session_token="tok")

    assert "very-secret" not in repr(settings)
    assert "tok" not in repr(settings)
    assert "very-secret" not in repr(S3Store(settings))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bucket": ""},
        {"bucket": "b", "access_key_id": "only-the-id"},
        {"bucket": "b", "prefix": "/abs"},
        {"bucket": "b", "prefix": "trailing/"},
        {"bucket": "b", "timeout_s": 0},
        {"bucket": "b", "retries": -1},
    ],
)
def test_settings_reject_inconsistent_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        S3Settings(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (obx.GenericError("Server returned non-2xx status code: 503 Service Unavailable"), StoreUnavailable),
        (obx.GenericError("Server returned non-2xx status code: 500 Internal Server Error"), StoreUnavailable),
        (obx.GenericError("Server returned non-2xx status code: 429 Too Many Requests"), StoreUnavailable),
        (obx.GenericError("Server returned non-2xx status code: 409 ConditionalRequestConflict"), StoreUnavailable),
        (obx.GenericError("HTTP error: error sending request"), StoreUnavailable),
        (obx.GenericError("Server returned non-2xx status code: 400 Bad Request"), StoreRequestError),
        (obx.GenericError("Server returned non-2xx status code: 403 Forbidden"), AccessDenied),
        (obx.GenericError("Server returned non-2xx status code: 501 Not Implemented"), NotSupported),
        (obx.PermissionDeniedError("denied"), AccessDenied),
        (obx.PreconditionError("412"), PreconditionFailed),
        (obx.AlreadyExistsError("exists"), PreconditionFailed),
        (FileNotFoundError("Object at location k not found"), ObjectNotFound),
        (FileNotFoundError("404 <Code>NoSuchBucket</Code>"), BucketNotFound),
    ],
)
def test_store_failures_map_to_specific_errors(error: Exception, expected: type[Exception]) -> None:
    translated = _translate(error, "some/key", "bucket")

    assert type(translated) is expected
    assert translated.key == "some/key"
