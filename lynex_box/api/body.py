"""Reading request bodies within limits: the compressed size while streaming, the decompressed size after.

A body over the limit is refused with 413 before it is held whole in memory; a decompression bomb is
stopped at the limit, not after. Decompression is CPU work, so callers run `decompress` in a thread.
"""

from __future__ import annotations

import zlib

import zstandard
from starlette.requests import Request

from lynex_box.api.errors import ApiError

ENCODINGS = ("identity", "gzip", "deflate", "zstd")


def too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"request body is larger than the limit of {limit} bytes")


async def read_body(request: Request, limit: int) -> tuple[bytes, str]:
    """The raw body (at most `limit` bytes) and its content encoding; 413/415 otherwise."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower() or "identity"
    if encoding not in ENCODINGS:
        raise ApiError(415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not one of {list(ENCODINGS)}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks), encoding


def decompress(raw: bytes, encoding: str, limit: int) -> bytes:
    """Decode `Content-Encoding`, refusing output larger than `limit` (413) and garbage (400)."""
    if encoding == "identity":
        return raw
    try:
        if encoding == "zstd":
            out = zstandard.ZstdDecompressor().stream_reader(raw).read(limit + 1)
        else:
            wbits = 31 if encoding == "gzip" else (15 if raw[:1] == b"\x78" else -15)
            inflater = zlib.decompressobj(wbits)
            out = inflater.decompress(raw, limit + 1)
    except (zlib.error, zstandard.ZstdError) as exc:
        raise ApiError(400, "bad_encoding", f"body is not valid {encoding}: {exc}") from None
    if len(out) > limit:
        raise too_large(limit)
    return out
