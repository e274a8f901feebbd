"""Run moto's S3 server on 127.0.0.1, on a port the kernel picks, with requests applied one at a time.

Usage: `python moto_server.py`; the first line on stdout is the port, printed once the socket listens.

Why not plain `python -m moto.server`: moto checks `If-None-Match`/`If-Match` and then stores the object in two
steps without a lock (moto/s3/responses.py, `put_object`), so two concurrent conditional PUTs can both pass the
check. Real S3 applies them atomically. Serialising requests gives moto the same guarantee, and binding port 0
here removes the race of picking a free port in the parent first.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serialised(app: WsgiApp) -> WsgiApp:
    lock = threading.Lock()

    def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with lock:
            result = app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

    return handle


def main() -> None:
    app = serialised(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.server_port, flush=True)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nobody reads stdout any more: never block on it
    server.serve_forever()


if __name__ == "__main__":
    main()
