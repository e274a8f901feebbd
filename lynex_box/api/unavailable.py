"""Data the server cannot reach now, and how every route answers it.

An offloaded range while the bucket cannot be reached is 503 (retry later), an offloaded range larger than the
local bucket cache 422, an encrypted project whose key is not available on this node 503 (`key_locked`, also for
ingest into it): the app registers `EXCEPTION_HANDLERS`, so a query raises the storage error and every read route
answers it the same way.
"""

from __future__ import annotations

import logging
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from lynex_box.api.errors import ApiError, error_response
from lynex_box.cluster.replicator import MetaWriteUnavailable
from lynex_box.lifecycle.cache import CacheTooSmall, CorruptDownload
from lynex_box.objstore import ObjectStoreError
from lynex_box.segments.encryption import KeyUnavailable

log = logging.getLogger("lynex.api.lifecycle")
RETRY_AFTER_S = "60"  # a locked project: its key-encryption key has to be brought back by an operator


def key_locked(exc: KeyUnavailable) -> ApiError:
    """An encrypted project whose key cannot be had on this node: 503 with what to do (retried by clients)."""
    return ApiError(503, "encryption_key_unavailable", str(exc), {"Retry-After": RETRY_AFTER_S})


async def key_unavailable(request: Request, exc: Exception) -> Response:
    """A query of an encrypted project whose key cannot be had on this node: 503, nothing else is affected."""
    return error_response(503, "encryption_key_unavailable", str(exc), {"Retry-After": RETRY_AFTER_S})


async def bucket_unavailable(request: Request, exc: Exception) -> Response:
    """A query that needs offloaded segments while the bucket cannot be reached: 503, retry later."""
    log.warning("bucket read failed path=%s error=%s", request.url.path, exc)
    message = "this range is in the bucket, which cannot be reached now; recent data is still available"
    return error_response(503, "bucket_unavailable", message, {"Retry-After": "30"})


async def metadata_unavailable(request: Request, exc: Exception) -> Response:
    """A metadata write this cluster node cannot make now (not the metadata lease holder, the log unwritable, the
    lease changing hands): nothing was changed; 503, retry (docs/cluster.md)."""
    assert isinstance(exc, MetaWriteUnavailable)
    return error_response(503, exc.code, str(exc), {"Retry-After": str(exc.retry_after_s)})


async def range_too_large(request: Request, exc: Exception) -> Response:
    """A query whose offloaded segments do not fit the bucket cache at once."""
    return error_response(422, "range_too_large", str(exc))


EXCEPTION_HANDLERS: Final = {
    ObjectStoreError: bucket_unavailable,
    CorruptDownload: bucket_unavailable,
    CacheTooSmall: range_too_large,
    KeyUnavailable: key_unavailable,
    MetaWriteUnavailable: metadata_unavailable,
}

# Errors of an export that the app answers as it answers them for a query (export.py raises them again).
ANSWERED: Final = (ObjectStoreError, CorruptDownload, CacheTooSmall, KeyUnavailable)
