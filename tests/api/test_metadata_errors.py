"""How the API answers a metadata write a cluster node cannot make (cluster/replicator.py): 503 with Retry-After and
a JSON error naming why, whichever route raised it; and the `X-Lynex-Meta-Seq` header names the log entry a request's
writes made (api/metaseq.py)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from lynex_box.api.metaseq import MetaSeqHeader
from lynex_box.api.unavailable import EXCEPTION_HANDLERS
from lynex_box.cluster.replicator import WRITTEN_SEQS, MetaWriteRefused, MetaWriteUnavailable


async def refused(request: Request) -> Response:
    raise MetaWriteRefused("metadata writes go through the metadata lease holder")


async def unavailable(request: Request) -> Response:
    raise MetaWriteUnavailable("the metadata log cannot be written now", 5)


async def wrote(request: Request) -> Response:
    seqs = WRITTEN_SEQS.get()
    assert seqs is not None
    seqs.extend([7, 8])  # what the holder's before-commit hook does for each entry the request's writes made
    return PlainTextResponse("ok")


async def read(request: Request) -> Response:
    return PlainTextResponse("ok")


def app() -> Starlette:
    routes = [Route("/refused", refused, methods=["POST"]), Route("/unavailable", unavailable, methods=["POST"]),
              Route("/wrote", wrote, methods=["POST"]), Route("/read", read)]  # fmt: skip
    return Starlette(routes=routes, middleware=[Middleware(MetaSeqHeader)], exception_handlers=EXCEPTION_HANDLERS)


def test_metadata_write_errors_are_503_with_retry_after() -> None:
    with TestClient(app()) as client:
        answer = client.post("/refused")
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "2"
        assert answer.json()["error"]["code"] == "not_metadata_holder"
        assert "metadata lease holder" in answer.json()["error"]["message"]
        answer = client.post("/unavailable")
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
        assert answer.json()["error"]["code"] == "metadata_unavailable"


def test_the_seq_header_names_the_last_entry_written() -> None:
    with TestClient(app()) as client:
        assert client.post("/wrote").headers["X-Lynex-Meta-Seq"] == "8"
        assert "X-Lynex-Meta-Seq" not in client.get("/read").headers
