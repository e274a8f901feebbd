"""A real `lynex-box run` process on 127.0.0.1 with its own data dir, for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

PORT_TAKEN = "is in use by another process"  # the server's refusal of a port another process listens on


class PortTaken(RuntimeError):
    """The server refused to start: another process listens on its port."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningServer:
    """Start with `start()`; `creds` holds the first-start JSON (project_id, api_key, ...). `credentials=False`: the
    server prints none (a node joining a cluster), so none is waited for.

    The first admin's printed password must be replaced at its first sign-in (docs/security.md): the first start
    does that once through the API, so `creds["admin_password"]` is the password in force and `printed` what the
    server printed. `keep_printed_password=True` leaves it to the test (the forced change's own tests)."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        dev: bool = False,
        credentials: bool = True,
        otlp_grpc: bool = False,
        args: tuple[str, ...] = (),
        keep_printed_password: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.keep_printed_password = keep_printed_password
        self.printed: dict[str, Any] = {}
        self.args = args  # more `lynex-box run` options (`--read-only`); may be changed between starts
        self.port = free_port()
        # the OTLP/gRPC receiver listens only when a test asks (`otlp_grpc`), on a port of its own: servers started
        # side by side (and by other test runs on the machine) never compete for 4317
        self.otlp_grpc_port = free_port() if otlp_grpc else 0
        self.env = env or {}
        self.dev = dev
        self.credentials = credentials
        self.proc: subprocess.Popen[str] | None = None
        self.creds: dict[str, Any] = {}
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_target(self) -> str:
        """`host:port` of the OTLP/gRPC receiver (started with `otlp_grpc=True`)."""
        assert self.otlp_grpc_port, "start the server with otlp_grpc=True"
        return f"127.0.0.1:{self.otlp_grpc_port}"

    def start(self, timeout: float = 30.0) -> RunningServer:
        for attempt in range(3):
            try:
                return self._start(timeout)
            except PortTaken:
                # another process (a test run beside this one) took the port between free_port() and the bind; the
                # server refuses a taken port (lynex_box/server.py claim_port), so it gets another one
                self._close()
                if attempt == 2 or self.proc is None:
                    raise
                self.port = free_port()
            except BaseException:
                if self.proc is not None and self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait(10)
                self._close()
                raise
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> RunningServer:
        cmd = [sys.executable, "-m", "lynex_box", "run", "--data-dir", str(self.data_dir), "--port", str(self.port)]
        if self.dev:
            cmd.append("--dev")
        cmd.extend(self.args)
        # Many e2e tests send spans with fixed start times, some older than the default retention (30 days); they
        # test other things (retention has its own tests, which set it): keep everything unless a test says so.
        # A crash point is armed only by this server's own `env` (tests/crash), never inherited from the caller.
        inherited = {k: v for k, v in os.environ.items() if k != "LYNEX_CRASH_AT"}
        grpc_port = {"LYNEX_SERVER_OTLP_GRPC_PORT": str(self.otlp_grpc_port)}
        # a native crash (a segfault or abort in an extension) writes every thread's Python stack to the log
        env = {**inherited, "LYNEX_RETENTION_DAYS": "0", "PYTHONFAULTHANDLER": "1", **grpc_port, **self.env}
        self._log = open(self.log_path, "a")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log, env=env, text=True)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        first = self.proc.stdout.readline() if self.credentials and not self.creds else ""
        if first.strip().startswith("{"):
            self.creds = json.loads(first)
            self.printed = dict(self.creds)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.log_path.read_text()[-2000:]
                error = PortTaken if PORT_TAKEN in log else RuntimeError
                raise error(f"server exited rc={self.proc.returncode}: {log}")
            try:
                # ready, and this very process listens: another server on the port would answer /readyz too
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200 and self._listening():
                    if self.printed and self.creds["admin_password"] == self.printed["admin_password"]:
                        self._replace_printed_password()
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become ready")

    def _replace_printed_password(self) -> None:
        """Sign in with the printed password and choose a new one, as the first admin does in the UI."""
        if self.keep_printed_password or "admin_password" not in self.creds:
            return
        old = self.creds["admin_password"]
        new = old + "-chosen"
        with httpx.Client(base_url=self.url, timeout=30) as client:
            r = client.post("/api/auth/login", json={"email": self.creds["admin_email"], "password": old})
            assert r.status_code == 200, r.text
            # the cookies are sent by hand: a server configured with Secure cookies gets them over plain http too
            cookie = f"lynex_session={r.cookies['lynex_session']}"
            headers = {"X-CSRF-Token": r.json()["csrf_token"], "Cookie": cookie}
            r = client.post("/api/auth/password", json={"current_password": old, "new_password": new}, headers=headers)
            assert r.status_code == 204, r.text
            client.post("/api/auth/logout", headers=headers)
        self.creds["admin_password"] = new

    def _listening(self) -> bool:
        assert self.proc is not None
        try:
            found = psutil.Process(self.proc.pid).net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            return False
        return any(c.status == psutil.CONN_LISTEN and c.laddr.port == self.port for c in found)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait: the clean stop (subprocess.TimeoutExpired after `timeout` seconds)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        self._close()
        return rc

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)
        self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()

    def describe(self, tail: int = 3000) -> str:
        """What became of the process (running, or how it ended: exit code or signal) and the end of its log, for a
        test's failure message when a request to it failed without an answer."""
        if self.proc is None:
            state = "not started"
        elif (rc := self.proc.poll()) is None:
            state = f"running (pid {self.proc.pid})"
        elif rc < 0:
            state = f"killed by {signal.Signals(-rc).name} (pid {self.proc.pid})"
        else:
            state = f"exited rc={rc} (pid {self.proc.pid})"
        try:
            log = self.log_path.read_text(errors="replace")[-tail:]
        except OSError as exc:
            log = f"(log unreadable: {exc})"
        return f"server {state}; log {self.log_path} ends:\n{log}"

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.creds['api_key']}"}

    @property
    def project(self) -> str:
        return str(self.creds["project_id"])

    def cli(self, *args: str) -> Any:
        out = subprocess.run(
            [sys.executable, "-m", "lynex_box", *args, "--data-dir", str(self.data_dir), "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout)
