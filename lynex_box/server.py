"""Serving the app: granian's embedded ASGI server on uvloop, in this process.

One process owns the WAL, so the server runs embedded (no worker processes to orphan on `kill -9`).
SIGTERM and SIGINT stop it cleanly: granian drains, then the app's lifespan flushes the head.
"""

from __future__ import annotations

import asyncio
import signal

import uvloop
from granian.constants import Interfaces
from granian.log import LogLevels
from granian.server.embed import Server

from lynex_box.app import create_app
from lynex_box.config import Settings


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
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.stop)
    await server.serve()


def serve(settings: Settings) -> None:
    uvloop.run(_serve(settings))
