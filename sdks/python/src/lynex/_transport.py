"""One HTTP request per batch, compressed; used only by the sender thread.

A batch body is `{"events": [...]}` (or `{"scores": [...]}`) assembled from the items' JSON bytes, compressed once
and sent as is on every retry. zstd is used when `zstandard` is installed, else gzip from the standard library; a
server that answers 415 to zstd gets gzip from then on. The API version is asked once (`GET /v1/version`): a
different major version is logged once, an older server without the route (404) is fine.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import time
import zlib
from dataclasses import dataclass
from typing import Any

import httpx

from lynex._source import EVENT, KIND_NAMES, SCORE

logger = logging.getLogger("lynex")

API_VERSION = "1"
_version_warned = False  # the mismatch is logged once per process, however many clients

try:  # optional: smaller and cheaper than gzip
    import zstandard
except ImportError:  # pragma: no cover - depends on the environment
    zstandard = None  # type: ignore[assignment]


@dataclass
class Answer:
    status: int  # 0: no answer (network error)
    body: Any = None
    retry_after: float | None = None
    error: str = ""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Transport:
    def __init__(
        self, base_url: str, api_key: str, project_id: str, timeout: float, compression: str | None, version: str
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._paths = {
            EVENT: f"/v1/projects/{project_id}/events",
            SCORE: f"/v1/projects/{project_id}/scores",
        }
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": f"lynex-python/{version}"},
        )
        if compression == "auto":
            compression = "zstd" if zstandard is not None else "gzip"
        if compression == "zstd" and zstandard is None:
            logger.warning("lynex: zstandard is not installed, using gzip; hint: pip install 'lynex[zstd]'")
            compression = "gzip"
        self.encoding = compression  # "zstd", "gzip" or None
        self._zstd = zstandard.ZstdCompressor(level=3) if zstandard is not None else None
        self._version_checked = False

    def body(self, kind: int, items: list[bytes]) -> bytes:
        return b'{"' + KIND_NAMES[kind].encode() + b'":[' + b",".join(items) + b"]}"

    def compress(self, body: bytes, encoding: str | None) -> bytes:
        if encoding == "zstd":
            assert self._zstd is not None
            return self._zstd.compress(body)
        if encoding == "gzip":
            compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: a gzip wrapper
            return compressor.compress(body) + compressor.flush()
        return body

    def post(self, kind: int, payload: bytes, encoding: str | None) -> Answer:
        headers = {"Content-Type": "application/json"}
        if encoding is not None:
            headers["Content-Encoding"] = encoding
        try:
            response = self._client.post(self._paths[kind], content=payload, headers=headers)
        except httpx.HTTPError as exc:
            return Answer(0, error=f"{type(exc).__name__}: {exc}")
        body: Any = None
        with contextlib.suppress(ValueError):
            body = response.json()
        return Answer(response.status_code, body, parse_retry_after(response.headers.get("retry-after")))

    def check_version(self) -> None:
        """Log once when the server's API major version differs from ours; say nothing when it cannot tell."""
        if self._version_checked:
            return
        try:
            response = self._client.get("/v1/version")
        except httpx.HTTPError:
            return  # asked again before the next batch
        self._version_checked = True
        if response.status_code != 200:
            return  # 404: a server older than the route
        try:
            api = str(json.loads(response.content).get("api", ""))
        except (ValueError, AttributeError):
            return
        global _version_warned
        if api and api.split(".")[0] != API_VERSION and not _version_warned:
            _version_warned = True
            logger.warning(
                "lynex: server API version %s differs from this SDK's (%s); hint: upgrade the SDK or the server",
                api,
                API_VERSION,
            )

    def close(self) -> None:
        self._client.close()
