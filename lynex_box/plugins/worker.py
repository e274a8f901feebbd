"""Out-of-process plugins: one worker process per plugin named in `[plugins] out_of_process`.

The worker is a fresh interpreter (`python -m lynex_box.plugins.worker FD`: none of the server's threads, sockets or
memory) that imports only this module before the plugin: multiprocessing's `spawn` would re-run the server's entry
module in it (about a second of CPU per start, which a crash-looping plugin took from ingest). It gets the server's
`sys.path` and the plugin's name, entry point and table over its end of a socket pair, loads the plugin, checks its
hooks against hookspecs.py and reports them; then it answers calls `(hook, event)` one at a time. The server side
(`WorkerPlugin.call`, on a subscription's call thread) waits at most the call timeout for the answer: a call still
running then kills the process (the timeout is counted); a process that died (a crash, `os._exit`, a kill) is
counted as an error. Either way the next call starts a new process, after a backoff that doubles with each death in
a row (`restart_backoff_s` up to `restart_backoff_max_s`) and resets after a call that succeeds; calls made during
the backoff fail at once. Only topic hooks are called in the worker; pipeline and channel hooks need the plugin
in-process.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import multiprocessing.connection
import socket
import subprocess
import sys
import threading
import time
import types
from typing import Any

import pluggy

from lynex_box.plugins import hookspecs

GROUP = "lynex_box.plugins"
START_TIMEOUT_S = 60.0


class CallTimeout(TimeoutError):
    """The call outlived its timeout; the worker was killed."""


class WorkerDown(RuntimeError):
    """The worker is dead or waiting out its restart backoff."""


def _serve(name: str, value: str, config: dict[str, Any], conn: multiprocessing.connection.Connection) -> None:
    """The worker process: load the plugin, report its hooks, answer calls until told to stop or the pipe closes."""
    try:
        obj = importlib.metadata.EntryPoint(name, value, GROUP).load()
        if callable(obj) and not isinstance(obj, types.ModuleType):
            obj = obj(config)
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        pm.register(obj, name=name)
        callers = pm.get_hookcallers(obj) or []
        unknown = sorted(c.name for c in callers if c.spec is None)
        if unknown:
            raise ValueError(f"implements hooks hookspecs.py does not declare: {unknown}")
        hooks = {c.name: i.function for c in callers for i in c.get_hookimpls() if i.plugin is obj}
    except Exception as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", sorted(hooks)))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        hook, event = message
        try:
            hooks[hook](event=event)
            conn.send(("ok", ""))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def main(fd: int) -> None:
    """The worker's entry (`python -m lynex_box.plugins.worker FD`): FD is its end of the socket pair."""
    conn = multiprocessing.connection.Connection(fd)
    path, name, value, config = conn.recv()
    sys.path[:] = path  # where the server found the plugin's package
    _serve(name, value, config, conn)


class _Process:
    """The worker's process, with the few `multiprocessing.Process` methods the server side uses."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.pid = popen.pid

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.popen.kill()

    def join(self, timeout_s: float) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout_s)

    def close(self) -> None:
        return None


class WorkerPlugin:
    """The server's side of one plugin's worker process; `call` is thread-safe (one call at a time)."""

    def __init__(self, name: str, value: str, config: dict[str, Any], backoff_s: float, backoff_max_s: float) -> None:
        self.name, self.value, self.config = name, value, config
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        self.restarts = 0
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._deaths = 0
        self._next_start = 0.0
        self._closed = False

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.is_alive() else None

    def start(self) -> list[str]:
        """Start the worker and wait for its hooks; RuntimeError with the plugin's own error when it fails."""
        with self._lock:
            return self._spawn()

    def _spawn(self) -> list[str]:
        ours, theirs = socket.socketpair()
        try:
            popen = subprocess.Popen(  # our own interpreter and module, no shell
                [sys.executable, "-m", __name__, str(theirs.fileno())], pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        finally:
            theirs.close()
        parent = multiprocessing.connection.Connection(ours.detach())
        proc = _Process(popen)
        self._proc, self._conn = proc, parent
        parent.send((list(sys.path), self.name, self.value, self.config))
        if not parent.poll(START_TIMEOUT_S):
            self._kill()
            raise RuntimeError(f"worker did not start within {START_TIMEOUT_S}s")
        try:
            state, detail = parent.recv()
        except EOFError:
            self._kill()
            raise RuntimeError(f"worker exited while loading (exit code {proc.exitcode})") from None
        if state != "ready":
            self._kill()
            raise RuntimeError(str(detail))
        return list(detail)

    def call(self, hook: str, event: dict[str, Any], timeout_s: float) -> None:
        with self._lock:
            if self._closed:
                raise WorkerDown("plugin host closed")
            if self._conn is None:
                wait = self._next_start - time.monotonic()
                if wait > 0:
                    raise WorkerDown(f"worker died; restarting in {wait:.1f}s")
                self.restarts += 1
                try:
                    self._spawn()
                except RuntimeError as exc:
                    self._died()
                    raise WorkerDown(f"restart failed: {exc}") from None
            conn = self._conn
            assert conn is not None
            try:
                conn.send((hook, event))
                answered = conn.poll(timeout_s)
                reply = conn.recv() if answered else None
            except (EOFError, OSError):
                proc = self._proc
                if proc is not None:
                    proc.join(1)
                code = proc.exitcode if proc is not None else None
                self._died()
                raise WorkerDown(f"worker died during the call (exit code {code})") from None
            if reply is None:
                self._died()
                raise CallTimeout(f"timed out after {timeout_s}s; worker killed")
            state, detail = reply
            self._deaths = 0
            if state == "error":
                raise RuntimeError(detail)

    def _died(self) -> None:
        self._kill()
        self._deaths += 1
        delay = min(self.backoff_max_s, self.backoff_s * 2 ** (self._deaths - 1))
        self._next_start = time.monotonic() + delay

    def _kill(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            conn.close()
        if proc is not None:
            if proc.is_alive():
                proc.kill()
            proc.join(5)
            proc.close()

    def close(self) -> None:
        """Ask the worker to stop; kill it if it does not within a second, or if a call holds it (hung)."""
        self._closed = True
        got = self._lock.acquire(timeout=1.0)
        try:
            proc = self._proc
            if got and self._conn is not None:
                with contextlib.suppress(OSError):
                    self._conn.send(None)
                if proc is not None:
                    proc.join(1)
            if proc is not None and proc.is_alive():
                proc.kill()  # without the lock too: a call waiting on the pipe then gets EOF
            if got:
                self._kill()
        finally:
            if got:
                self._lock.release()


if __name__ == "__main__":
    main(int(sys.argv[1]))
