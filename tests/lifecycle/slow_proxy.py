"""A TCP proxy on 127.0.0.1 that forwards to a local port at a chosen rate and counts the bytes it forwarded.

Put in front of the moto server, it keeps an upload (client to server) or a download (server to client) in flight
long enough for a test to kill the server in the middle of it. When either side closes or fails, both connections
are closed, so the client sees what it would see from a server that died: a reset or a cut-off response.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

CHUNK = 16 * 1024


class SlowProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.up_rate: float | None = None  # bytes per second client -> server; None: as fast as possible
        self.down_rate: float | None = None  # server -> client
        self.sent_up = 0
        self.sent_down = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, name="slow-proxy", daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for(self, direction: str, at_least: int, timeout: float = 60.0) -> None:
        """Until `at_least` bytes went `up` or `down` in total."""
        deadline = time.monotonic() + timeout
        while (self.sent_up if direction == "up" else self.sent_down) < at_least:
            if time.monotonic() > deadline:
                raise AssertionError(f"the proxy forwarded fewer than {at_least} bytes {direction} in {timeout} s")
            time.sleep(0.01)

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:  # the server is down: the client's connection is cut at once
            client.close()
            return
        upstream.settimeout(None)
        pair = (client, upstream)
        threading.Thread(target=self._pump, args=(client, upstream, "up", pair), daemon=True).start()
        self._pump(upstream, client, "down", pair)

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str, pair: tuple[socket.socket, ...]) -> None:
        try:
            while data := src.recv(CHUNK):
                rate = self.up_rate if direction == "up" else self.down_rate
                if rate:
                    time.sleep(len(data) / rate)
                dst.sendall(data)
                with self._lock:
                    if direction == "up":
                        self.sent_up += len(data)
                    else:
                        self.sent_down += len(data)
        except OSError:
            pass
        finally:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
