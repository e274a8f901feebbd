"""Serving the app: granian's embedded ASGI server on uvloop, in this process.

One process owns the WAL, so the server runs embedded (no worker processes to orphan on `kill -9`).
SIGTERM and SIGINT stop it cleanly: running exports are cut (granian waits for open responses, and an export's
client may have stopped reading), granian drains (at most `server.stop_timeout_s`), then the app's lifespan
flushes the head. A start the app refused, or a stop it asked for because it must not go on (a fenced cluster node),
ends `serve` with `ServerFailed` and the app's reason, so the command exits with an error that says why.
"""

from __future__ import annotations

import asyncio
import logging
import signal

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


async def _serve(settings: Settings) -> None:
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
