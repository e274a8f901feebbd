"""tests/objstore/moto_server.py on a given port, so an outage test can stop the server and start it again at the
same endpoint. Usage: `python moto_on_port.py PORT [STATE_FILE]`; prints the port once listening.

moto keeps its buckets in memory, so a killed moto comes back empty: unlike a real S3 outage, objects stored
before it would be gone. With STATE_FILE the buckets survive a SIGKILL the way they do on a real store: they are
loaded from the file on start, and written to it (a temporary file, then a rename) after every request that may
change them has been applied, before its response is sent. A request cut off by the kill is never applied, as on
S3, where an upload that did not complete leaves no object (the parts of a multipart upload stay, invisible).
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "objstore"))

from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.s3.models import s3_backends
from moto_server import WsgiApp, serialised  # type: ignore[import-not-found]
from werkzeug.serving import make_server

PARTITION = "aws"
CHANGING = frozenset({"PUT", "POST", "DELETE"})


def _buckets() -> dict[str, Any]:
    buckets: dict[str, Any] = s3_backends[DEFAULT_ACCOUNT_ID][PARTITION].buckets
    return buckets


def load(state: Path) -> None:
    if not state.exists():
        return
    saved: dict[str, Any] = pickle.loads(state.read_bytes())
    _buckets().update(saved)
    for name in saved:  # what FakeBucket.__init__ does, which unpickling skips
        s3_backends.bucket_accounts[name] = (PARTITION, DEFAULT_ACCOUNT_ID)


def save(state: Path) -> None:
    tmp = state.with_name(state.name + ".tmp")
    tmp.write_bytes(pickle.dumps(_buckets()))
    os.replace(tmp, state)


def persisted(app: WsgiApp, state: Path) -> WsgiApp:
    """Save the buckets after each changing request is applied, before its response is sent (wrapped in
    `serialised`, so no other request runs meanwhile)."""

    def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        result = app(environ, start_response)
        try:
            body = [b"".join(result)]
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if environ.get("REQUEST_METHOD") in CHANGING:
            save(state)
        return body

    return handle


def main() -> None:
    app: WsgiApp = DomainDispatcherApplication(create_backend_app)
    if len(sys.argv) > 2:
        state = Path(sys.argv[2])
        load(state)
        app = persisted(app, state)
    app = serialised(app)
    server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True)
    print(server.server_port, flush=True)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    server.serve_forever()


if __name__ == "__main__":
    main()
