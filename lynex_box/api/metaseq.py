"""`X-Lynex-Meta-Seq`: on the cluster's `metadata` lease holder, the answer to a request whose metadata writes were
published names the seq of the last log entry they wrote, so a node that forwarded the request can wait until it
has applied that entry (`ClusterNode.meta.wait_applied`) before answering its own client: read-your-writes.

A pure ASGI middleware: it gives each HTTP request a list in `WRITTEN_SEQS` (the holder's before-commit hook appends
to it, through the context meta.db's writer runs the hook in) and adds the header when the list is not empty. A
node with cluster mode off never has anything appended: no header.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lynex_box.cluster.replicator import WRITTEN_SEQS

HEADER = b"x-lynex-meta-seq"


class MetaSeqHeader:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        written: list[int] = []
        token = WRITTEN_SEQS.set(written)

        async def send_with_seq(message: Message) -> None:
            if message["type"] == "http.response.start" and written:
                message = {**message, "headers": [*message.get("headers", []), (HEADER, str(max(written)).encode())]}
            await send(message)

        try:
            return await self.app(scope, receive, send_with_seq)
        finally:
            WRITTEN_SEQS.reset(token)
