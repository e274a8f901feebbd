"""Whole processes: what a script records reaches the server when it exits without flush(), when it is SIGKILLed
right after log_event (the disk buffer: the next process sends it), and when two processes share a buffer dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

from conftest import SDK_SRC, Api
from sdk_support import FlakyProxy

from tests.e2e.server import RunningServer, free_port


def run_script(code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(SDK_SRC), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def sdk_env(server: RunningServer, base_url: str | None = None) -> dict[str, str]:
    return {
        "LYNEX_API_KEY": server.creds["api_key"],
        "LYNEX_BASE_URL": base_url or server.url,
        "LYNEX_PROJECT": server.project,
    }


def test_a_script_that_exits_without_flush_delivers(server: RunningServer, api: Api) -> None:
    trace = uuid.uuid4().hex
    code = f"""
        import lynex
        lx = lynex.Lynex(flush_interval=60)  # the age bound never comes: only the exit sends
        lx.log_event({{"trace_id": "{trace}", "span_id": "raw"}})

        @lynex.observe
        def work():
            return 42

        with lx.trace("script", trace_id="{trace}"):
            work()
        print("done")
    """
    result = run_script(code, sdk_env(server))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    names = sorted(s["name"] or "" for s in api.wait_spans(trace, 3))
    assert names == ["", "script", "work"]


def test_exit_with_the_server_away_ends_within_exit_timeout(server: RunningServer) -> None:
    away = f"http://127.0.0.1:{free_port()}"
    code = """
        import lynex
        lx = lynex.Lynex(exit_timeout=1)
        lx.log_event({"name": "lost"})
    """
    started = time.monotonic()
    result = run_script(code, sdk_env(server, away))
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 15
    assert "1 events dropped" in result.stderr  # reported, not silently lost


def test_sigkill_right_after_log_event_delivers_from_the_next_process(
    server: RunningServer, api: Api, tmp_path: Path
) -> None:
    """First process: one event the server never saw (503) and one it stored but never acknowledged (answer lost),
    then SIGKILL. The next process with the same buffer dir sends both; the second is stored once."""
    buffer = tmp_path / "buffer"
    trace = uuid.uuid4().hex
    with FlakyProxy(server.url) as proxy:
        proxy.lose(1)
        proxy.fail(10_000)
        first = f"""
            import os, signal, time, lynex
            lx = lynex.Lynex(buffer_dir={str(buffer)!r}, flush_interval=0.05, max_retry_delay=0.1)
            lx.log_event({{"trace_id": "{trace}", "span_id": "stored-not-acked"}})
            deadline = time.monotonic() + 20
            while lx.stats()["retries"] < 2 and time.monotonic() < deadline:  # stored, then refused: not acked
                time.sleep(0.02)
            lx.log_event({{"trace_id": "{trace}", "span_id": "never-sent"}})
            os.kill(os.getpid(), signal.SIGKILL)
        """
        result = run_script(first, sdk_env(server, proxy.url))
        assert result.returncode == -signal.SIGKILL, result.stderr
        assert [p["forwarded"] for p in proxy.posts][:1] == [True]
    assert [s["span_id"] for s in api.spans(trace)] == ["stored-not-acked"]
    assert len(list(buffer.glob("*.lxb"))) == 1

    second = f"""
        import lynex
        lx = lynex.Lynex(buffer_dir={str(buffer)!r}, flush_interval=0.05)
        import time
        deadline = time.monotonic() + 20
        while lx.stats()["sent"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        print(lx.stats()["sent"])
    """
    result = run_script(second, sdk_env(server))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
    time.sleep(1)  # a duplicate would be visible by now
    spans = api.wait_spans(trace, 2)
    assert sorted(s["span_id"] for s in spans) == ["never-sent", "stored-not-acked"]
    assert list(buffer.glob("*.lxb")) == []  # delivered files are deleted


def test_a_live_process_keeps_its_buffer_files_to_itself(server: RunningServer, api: Api, tmp_path: Path) -> None:
    """A second process with the same dir does not send the files of a live one (each holds a lock on its own)."""
    buffer = tmp_path / "buffer"
    trace = uuid.uuid4().hex
    away = f"http://127.0.0.1:{free_port()}"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import sys, lynex
                lx = lynex.Lynex(buffer_dir={str(buffer)!r}, base_url={away!r}, exit_timeout=0.1)
                lx.log_event({{"trace_id": "{trace}", "span_id": "held"}})
                print("ready", flush=True)
                sys.stdin.readline()
            """),
        ],
        env={**os.environ, **sdk_env(server), "PYTHONPATH": str(SDK_SRC)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        other = f"""
            import time, lynex
            lx = lynex.Lynex(buffer_dir={str(buffer)!r}, flush_interval=0.05)
            lx.log_event({{"trace_id": "{trace}", "span_id": "other"}})
            assert lx.flush(timeout=20)
            time.sleep(0.5)
            print(lx.stats()["sent"])
        """
        result = run_script(other, sdk_env(server))
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "1"
        assert [s["span_id"] for s in api.wait_spans(trace, 1)] == ["other"]
    finally:
        assert holder.stdin is not None
        holder.stdin.close()  # the holder exits with its event still in the buffer (server away)
        holder.wait(30)
        holder.stdout.close()  # type: ignore[union-attr]
    # now it has ended: a new process adopts its file
    result = run_script(
        f"""
        import lynex
        lx = lynex.Lynex(buffer_dir={str(buffer)!r}, flush_interval=0.05)
        import time
        deadline = time.monotonic() + 20
        while lx.stats()["sent"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        """,
        sdk_env(server),
    )
    assert result.returncode == 0, result.stderr
    assert sorted(s["span_id"] for s in api.wait_spans(trace, 2)) == ["held", "other"]
