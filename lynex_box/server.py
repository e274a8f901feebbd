"""Serving the app: granian's embedded ASGI server on uvloop, in this process.

One process owns the WAL, so the server runs embedded (no worker processes to orphan on `kill -9`).
A port another process listens on is refused (`claim_port`: granian's SO_REUSEPORT would share it silently).
SIGTERM and SIGINT stop it cleanly: running exports are cut (granian waits for open responses, and an export's
client may have stopped reading), granian drains (at most `server.stop_timeout_s`), then the app's lifespan
flushes the head. A start the app refused, or a stop it asked for because it must not go on (a fenced cluster node),
ends `serve` with `ServerFailed` and the app's reason, so the command exits with an error that says why.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket

import uvloop
from granian.constants import Interfaces
from granian.errors import FatalError
from granian.log import LogLevels
from granian.server.embed import Server

from lynex_box.app import begin_stop, create_app
from lynex_box.config import Settings

log = logging.getLogger("lynex.server")


class ServerFailed(RuntimeError):
    """The server did not start, or stopped because it must not go on; the message says why, with a hint."""


def claim_port(host: str, port: int) -> None:
    """Raise ServerFailed when another process listens on `host:port`.

    granian binds its listener with SO_REUSEPORT, so a second server on a taken port would start without a word and
    the kernel would split new connections between the two: clients of this one would get the other's answers, and
    lose their connections without an answer when the other stops. (The OTLP/gRPC receiver turns gRPC's own
    SO_REUSEPORT off for the same reason.) A plain bind fails on a port someone listens on; SO_REUSEADDR keeps the
    connections a recent stop left in TIME_WAIT from counting as "in use"."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ServerFailed(
                f"server.port = {port} on {host} is in use by another process ({exc.strerror}); hint: stop that "
                "process, or set another [server] port (LYNEX_SERVER_PORT, --port)"
            ) from exc


async def _serve(settings: Settings) -> None:
    claim_port(settings.server.host, settings.server.port)  # before the data dir is opened: fail fast and alone
    app = create_app(settings)
    server = Server(
        app,
        address=settings.server.host,
        port=settings.server.port,
        interface=Interfaces.ASGI,
        log_level=LogLevels.error,
        backlog=1024,
    )
    # granian waits for open responses before it stops, without a bound: a client that stopped reading a download
    # would hold the stop for good. After this long it cancels them; the lifespan's stop (the final flush) then
    # runs as the loop cancels its remaining tasks.
    server.workers_kill_timeout = settings.server.stop_timeout_s
    loop = asyncio.get_running_loop()

    def stop() -> None:
        begin_stop(app)  # an export to a client that stopped reading would keep granian from stopping
        server.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        await server.serve()
    except TimeoutError:  # granian's wait for open responses ran out (`workers_kill_timeout`)
        log.warning("open responses cut after stop_timeout_s=%s", settings.server.stop_timeout_s)
    except FatalError:  # the lifespan's start failed; its reason is the app's `failure`
        if getattr(app.state, "failure", None) is None:
            raise
    failure: str | None = getattr(app.state, "failure", None)
    if failure is not None:
        raise ServerFailed(failure)


def serve(settings: Settings) -> None:
    uvloop.run(_serve(settings))
