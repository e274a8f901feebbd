"""tests/objstore/moto_server.py on a given port, so an outage test can stop the server and start it again at the
same endpoint. Usage: `python moto_on_port.py PORT`; prints the port once listening."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "objstore"))

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto_server import serialised  # type: ignore[import-not-found]
from werkzeug.serving import make_server


def main() -> None:
    app = serialised(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True)
    print(server.server_port, flush=True)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    server.serve_forever()


if __name__ == "__main__":
    main()
