"""Forwarded metadata writes (cluster mode): a node that does not hold the `metadata` lease sends each metadata
write (`metawrites.py`) to the holder over HTTP and answers its client with the holder's answer; the holder checks
that a forwarded request was signed by a node of the cluster (`cluster/signing.py`) before it runs it.

Plain ASGI around the app, inside `BodyGuard` (so body timeouts and the per-address cap apply first). On a node
that is not the holder, a metadata write's body is read within the route's own cap (413 before anything is sent),
then the request goes to the holder's `address` unchanged (method, path, query, body, the client's headers but the
hop-by-hop ones), with the signature headers, the client's address (`X-Forwarded-For`) and the original `Host` and
scheme. The holder's status, headers (`Set-Cookie` included, hop-by-hop ones removed) and body go back to the
client. No live holder, or one that cannot be reached: `503 metadata_unavailable` with `Retry-After: 1`; a holder
that takes longer than `[cluster] forward_timeout_s`: `504 metadata_timeout` (the write may have been applied).

A request carrying `X-Lynex-Forwarded-By` is a forward: it is run only when its signature, time and nonce check
out (else `401 forward_unauthenticated`) and this node holds the `metadata` lease (else `503
metadata_holder_moved`: a forward is never forwarded again, so there is no loop). Only then are the client address
and the original `Host` and scheme it carries trusted: the routes see them as the request's own (rate limits, audit
log, cookies, redirect URLs). With cluster mode off the middleware passes every request through untouched.

When the holder's answer names the metadata sequence number it wrote (`X-Lynex-Meta-Seq`) and this node can wait
for its own copy to apply it (`cluster.meta.wait_applied`), the answer waits up to `[cluster]
forward_apply_wait_s`, so the client reads its own write from this node next.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Final

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lynex_box.api.errors import ApiError, error_response
from lynex_box.api.metawrites import MetaWrite, metadata_write
from lynex_box.api.services import Services
from lynex_box.cluster.node import ClusterNode
from lynex_box.cluster.secret import SecretUnavailable, cluster_secret
from lynex_box.cluster.signing import (
    CLIENT_IP,
    FORWARDED_AT,
    FORWARDED_BY,
    NONCE,
    ORIGINAL_HOST,
    ORIGINAL_SCHEME,
    SIGNATURE,
    BadSignature,
    Forward,
    NonceLog,
    verify,
)
from lynex_box.config import Settings

log = logging.getLogger("lynex.cluster.forward")

META_SEQ: Final = "x-lynex-meta-seq"
RETRY_AFTER: Final = {"Retry-After": "1"}
# never passed on, either way: they describe one connection, or are set again by whoever sends next
_HOP_BY_HOP: Final = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection", b"te",
        b"trailer", b"trailers", b"transfer-encoding", b"upgrade", b"host", b"content-length", b"expect",
        b"accept-encoding", b"forwarded",
    }
)  # fmt: skip
# set by this server on its own answer, not copied from the holder's
_ANSWER_DROPPED: Final = frozenset({b"date", b"server", b"content-encoding"})


class _ClientGone(Exception):
    """The client hung up before its body arrived: nothing to answer."""


class MetaForward:
    """ASGI middleware: forwards metadata writes to the `metadata` lease holder, and checks forwards it receives."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.cluster = settings.cluster
        self._nonces = NonceLog(settings.cluster.forward_window_s)
        self._secret: bytes | None = None  # read from meta.db once it is there; it never changes
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing(send))
            return
        svc: Services | None = getattr(scope["app"].state, "services", None) if scope["type"] == "http" else None
        # an observer (a read-only node) forwards nothing: api/readonly.py refuses its writes before this runs
        node = svc.cluster if svc is not None and isinstance(svc.cluster, ClusterNode) else None
        if svc is None or node is None:  # not started yet (the routes answer 503), or cluster mode off
            await self.app(scope, receive, send)
            return
        if _header(scope, FORWARDED_BY.encode()) is not None:
            await self._accept(scope, receive, send, svc, node)
            return
        rule = metadata_write(scope["method"], scope["path"])
        if rule is None or node.holds("metadata") is not None:
            await self.app(scope, receive, send)
            return
        await self._forward(scope, receive, send, svc, node, rule)

    # -- on the holder: a forward from another node --------------------------------------------------------------

    async def _accept(self, scope: Scope, receive: Receive, send: Send, svc: Services, node: ClusterNode) -> None:
        rule = metadata_write(scope["method"], scope["path"])
        cap = rule.cap(self.settings) if rule is not None else self.settings.api.max_json_body_bytes
        try:
            body = await _read_body(scope, receive, cap)
            forward = await self._verified(scope, body, svc)
        except _ClientGone:
            return
        except ApiError as exc:
            await error_response(exc.status, exc.code, exc.message, exc.headers)(scope, receive, send)
            return
        if rule is None:
            message = f"{scope['method']} {scope['path']} is not a metadata write; a node forwards only those"
            await error_response(400, "not_forwardable", message)(scope, receive, send)
            return
        if node.holds("metadata") is None:  # the lease moved since the sender looked: it asks again, never us
            message = (
                f"node {node.identity.node_id} no longer holds the metadata lease; retry: the next try reaches "
                "the new holder"
            )
            await error_response(503, "metadata_holder_moved", message, RETRY_AFTER)(scope, receive, send)
            return
        log.debug("forward accepted path=%s from=%s", scope["path"], forward.forwarded_by)
        await self.app(_as_original(scope, forward), _replay(body, receive), send)

    async def _verified(self, scope: Scope, body: bytes, svc: Services) -> Forward:
        fields = {name: _header(scope, name.encode()) for name in (FORWARDED_AT, NONCE, SIGNATURE, CLIENT_IP)}
        by = _header(scope, FORWARDED_BY.encode()) or ""
        missing = sorted(name for name, value in fields.items() if not value)
        if missing or not by:
            raise _unauthenticated(f"the forward lacks the header(s) {', '.join(missing or [FORWARDED_BY])}")
        at = fields[FORWARDED_AT] or ""
        if not (at.isascii() and at.isdigit() and len(at) < 20):
            raise _unauthenticated(f"{FORWARDED_AT} = {at!r} is not a time in epoch milliseconds")
        secret = await self._cluster_secret(svc)
        if secret is None:
            raise _unauthenticated("this node has no cluster secret to check the signature with")
        forward = Forward.of(
            scope["method"], scope["path"], scope["query_string"].decode("latin-1"), int(at), forwarded_by=by,
            client_ip=fields[CLIENT_IP] or "", host=_header(scope, ORIGINAL_HOST.encode()) or "",
            scheme=_header(scope, ORIGINAL_SCHEME.encode()) or "", body=body, nonce=fields[NONCE],
        )  # fmt: skip
        now_ms = time.time_ns() // 1_000_000
        try:
            verify(secret, forward, fields[SIGNATURE] or "", now_ms=now_ms, window_s=self.cluster.forward_window_s)
        except BadSignature as exc:
            log.warning("forward refused path=%s from=%s reason=%s", scope["path"], by, exc)
            raise _unauthenticated(str(exc)) from None
        if not self._nonces.first_use(forward.nonce, now_ms):
            log.warning("forward refused path=%s from=%s reason=replayed", scope["path"], by)
            raise _unauthenticated("this forward was already received (a replay)")
        return forward

    # -- on another node: send the write to the holder ----------------------------------------------------------

    async def _forward(
        self, scope: Scope, receive: Receive, send: Send, svc: Services, node: ClusterNode, rule: MetaWrite
    ) -> None:
        try:
            body = await _read_body(scope, receive, rule.cap(self.settings))
            answer = await self._send_to_holder(scope, body, svc, node)
        except _ClientGone:
            return
        except ApiError as exc:
            await error_response(exc.status, exc.code, exc.message, exc.headers)(scope, receive, send)
            return
        if answer is None:  # this node took the lease meanwhile: it answers itself
            await self.app(scope, _replay(body, receive), send)
            return
        await self._wait_applied(answer, node)
        headers = [(k, v) for k, v in answer.headers.raw if k.lower() not in _HOP_BY_HOP | _ANSWER_DROPPED]
        content = answer.content
        headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": answer.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _send_to_holder(
        self, scope: Scope, body: bytes, svc: Services, node: ClusterNode
    ) -> httpx.Response | None:
        """The holder's answer, or None when this node is the holder now. Tries a second holder once when the
        first could not be reached or had just lost the lease; never resends a request the holder may have run."""
        secret = await self._cluster_secret(svc)
        if secret is None:
            raise _unavailable(
                "this node has no cluster secret yet (its copy of the cluster's metadata has not arrived), so it "
                "cannot forward the write to the metadata lease holder"
            )
        tried: str | None = None
        for attempt in (1, 2):
            holder = await asyncio.to_thread(node.metadata_holder)
            if holder is None:
                raise _unavailable("no node holds the metadata lease now (a holder stopped or died)")
            holder_id, address = holder
            if holder_id == node.identity.node_id:
                return None
            if holder_id == tried:
                break
            tried = holder_id
            try:
                answer = await self._client_for().send(self._request(scope, body, secret, node, address))
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # never sent: safe to try another holder
                log.warning("forward failed holder=%s address=%s error=%s", holder_id, address, exc)
                node.forget_metadata_holder()
                continue
            except httpx.TimeoutException:
                raise ApiError(
                    504, "metadata_timeout",
                    f"the metadata lease holder {holder_id} did not answer within [cluster] forward_timeout_s = "
                    f"{self.cluster.forward_timeout_s:g} s; the write may have been applied: read before retrying",
                ) from None  # fmt: skip
            except httpx.HTTPError as exc:
                raise ApiError(
                    502, "metadata_forward_failed",
                    f"the metadata lease holder {holder_id} broke off its answer ({type(exc).__name__}); the write "
                    "may have been applied: read before retrying",
                ) from None  # fmt: skip
            if attempt == 1 and answer.status_code == 503 and _error_code(answer) == "metadata_holder_moved":
                node.forget_metadata_holder()
                continue
            return answer
        raise _unavailable(f"the metadata lease holder {tried} cannot be reached")

    def _request(self, scope: Scope, body: bytes, secret: bytes, node: ClusterNode, address: str) -> httpx.Request:
        query = scope["query_string"]
        client = scope.get("client")
        forward = Forward.of(
            scope["method"], scope["path"], query.decode("latin-1"), time.time_ns() // 1_000_000,
            forwarded_by=node.identity.node_id, client_ip=client[0] if client else "",
            host=_header(scope, b"host") or "", scheme=scope.get("scheme", "http"), body=body,
        )  # fmt: skip
        raw_path = scope.get("raw_path") or scope["path"].encode()
        url = httpx.URL(address).copy_with(raw_path=raw_path + (b"?" + query if query else b""))
        headers: list[tuple[bytes, bytes]] = [
            (k, v)
            for k, v in scope["headers"]
            if k not in _HOP_BY_HOP and not k.startswith((b"x-lynex-", b"x-forwarded-"))
        ]
        headers += [(k.encode(), v.encode("latin-1")) for k, v in forward.headers(secret).items()]
        headers.append((b"accept-encoding", b"identity"))
        return httpx.Request(scope["method"], url, headers=headers, content=body)

    async def _wait_applied(self, answer: httpx.Response, node: ClusterNode) -> None:
        """Read-your-writes: wait until this node has applied the holder's change, when both sides support it."""
        seq = answer.headers.get(META_SEQ, "")
        wait = getattr(getattr(node, "meta", None), "wait_applied", None)
        if not (seq.isascii() and seq.isdigit()) or not callable(wait):
            return
        applied = await asyncio.to_thread(wait, int(seq), self.cluster.forward_apply_wait_s)
        if not applied:
            log.warning(
                "forwarded write not applied here in time seq=%s wait_s=%g", seq, self.cluster.forward_apply_wait_s
            )

    # -- shared ---------------------------------------------------------------------------------------------------

    async def _cluster_secret(self, svc: Services) -> bytes | None:
        """The cluster secret (opened with the KEK when it is sealed), or None while this node has none usable."""
        if self._secret is None:
            try:
                self._secret = await asyncio.to_thread(cluster_secret, svc.engine.meta, svc.engine.data_keys.kek)
            except SecretUnavailable:
                log.exception("metadata write not forwarded: no usable cluster secret (docs/cluster.md)")
                return None
        return self._secret

    def _client_for(self) -> httpx.AsyncClient:
        if self._client is None:
            s = self.cluster
            timeout = httpx.Timeout(s.forward_timeout_s, connect=min(s.forward_timeout_s, 2.0))
            # trust_env=False: a proxy from the environment must never see a signed write
            self._client = httpx.AsyncClient(timeout=timeout, trust_env=False, follow_redirects=False)
        return self._client

    def _closing(self, send: Send) -> Send:
        async def closing(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                client, self._client = self._client, None
                if client is not None:
                    await client.aclose()
            await send(message)

        return closing


def _header(scope: Scope, name: bytes) -> str | None:
    """The one value of header `name`; None when it is missing, and "" when it is given twice (never trusted)."""
    values = [v for k, v in scope["headers"] if k == name]
    if not values:
        return None
    return values[0].decode("latin-1") if len(values) == 1 else ""


def _error_code(answer: httpx.Response) -> str | None:
    try:
        doc: Any = answer.json()
        return str(doc["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def _unauthenticated(message: str) -> ApiError:
    return ApiError(401, "forward_unauthenticated", f"forwarded request refused: {message}")


def _unavailable(message: str) -> ApiError:
    return ApiError(
        503, "metadata_unavailable",
        f"{message}; retry in a moment: another node takes the lease over within [cluster] lease_ttl_s",
        RETRY_AFTER,
    )  # fmt: skip


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole body, at most `limit` bytes (413 as the routes' own reads answer, before it is held whole)."""
    declared = _header(scope, b"content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"request body is larger than the limit of {limit} bytes")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read, then waits on the client's connection as usual."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _as_original(scope: Scope, forward: Forward) -> Scope:
    """The scope the routes see for a verified forward: the client's address, `Host` and scheme as the forwarding
    node received them, and none of the forwarding headers."""
    headers = [(k, v) for k, v in scope["headers"] if k != b"host" and not k.startswith((b"x-lynex-", b"x-forwarded-"))]
    if forward.host:
        headers.append((b"host", forward.host.encode("latin-1")))
    scheme = forward.scheme if forward.scheme in ("http", "https") else scope.get("scheme", "http")
    return {**scope, "headers": headers, "client": (forward.client_ip, 0), "scheme": scheme}
