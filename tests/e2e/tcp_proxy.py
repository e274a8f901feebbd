"""A plain TCP relay on 127.0.0.1 in front of another port, run as its own process so that a test can SIGKILL it
(every connection through it is cut, new ones are refused: the store behind it is gone for its clients) and start
it again on the same port (the store is back, with everything it held: the server behind never stopped).

Why a relay rather than killing moto itself: moto's server mode keeps every object in memory, so a killed and
restarted moto is an empty store, which tests a lost bucket rather than an outage.

Usage: `python tcp_proxy.py UPSTREAM_PORT [LISTEN_PORT]`; the first line on stdout is the port it listens on.
`RelayProcess` starts, kills and restarts it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _serve(client: socket.socket, upstream_port: int) -> None:
    try:
        upstream = socket.create_connection(("127.0.0.1", upstream_port), timeout=10)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
    _pipe(client, upstream)


def main() -> None:
    upstream_port = int(sys.argv[1])
    listen_port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the same port again right after a SIGKILL
    server.bind(("127.0.0.1", listen_port))
    server.listen(256)
    print(server.getsockname()[1], flush=True)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    while True:
        client, _ = server.accept()
        threading.Thread(target=_serve, args=(client, upstream_port), daemon=True).start()


class RelayProcess:
    """The relay as a child process: `start()`, `kill()` (SIGKILL), `start()` again on the same port."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30) -> RelayProcess:
        deadline = time.monotonic() + timeout_s
        while True:  # the port may still be held a moment after a kill
            cmd = [sys.executable, str(Path(__file__)), str(self.upstream_port), str(self.port)]
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline().strip()
            if line:
                self.port = int(line)
                return self
            self.proc.wait(10)
            if time.monotonic() > deadline:
                raise RuntimeError(f"the relay could not listen on port {self.port}")
            time.sleep(0.2)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


if __name__ == "__main__":
    main()
