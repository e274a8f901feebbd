"""What every crash test does around its own writes and checks: run a real process (a `*_proc.py` here) until it
is SIGKILLed, then reopen its data dir.

The process dies at the crash point armed in its environment (`LYNEX_CRASH_AT`, lynex_box/crashpoints.py) or, for
kills at arbitrary moments, by this process after it printed a number of `ACK <name>` lines (each printed once an
append returned: what must survive). A crash point is armed only when a test asks for one, never inherited from
the caller's environment, and the repository is on the child's PYTHONPATH (a `*_proc.py` may import `tests.*`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from lynex_box.config import load_settings
from lynex_box.engine import Engine
from lynex_box.pipeline.runner import Enricher

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def proc_env(crash_at: str | None) -> dict[str, str]:
    """The caller's environment with the repository on PYTHONPATH and exactly `crash_at` armed (or none)."""
    env = {k: v for k, v in os.environ.items() if k != "LYNEX_CRASH_AT"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    if crash_at:
        env["LYNEX_CRASH_AT"] = crash_at
    return env


def run_acked(script: str, args: list[str], crash_at: str | None, kill_after_acks: int | None) -> list[str]:
    """Run `script` (a file here) with `args`; SIGKILL it after `kill_after_acks` ACK lines unless a crash point
    kills it first. The names it acknowledged, in order; fails unless it died by SIGKILL."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / script), *args], stdout=subprocess.PIPE, env=proc_env(crash_at), text=True
    )
    acked: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ACK "):
            acked.append(line.split()[1])
            if kill_after_acks is not None and len(acked) >= kill_after_acks:
                proc.send_signal(signal.SIGKILL)
                break
    proc.stdout.close()
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"{script} was not killed (rc={proc.returncode}): crash point never hit"
    return acked


def run_once(script: str, args: list[str], crash_at: str | None) -> None:
    """Run `script` (a file here) to its end: killed at `crash_at` when one is armed, else exiting 0."""
    proc = subprocess.run(
        [sys.executable, str(HERE / script), *args], env=proc_env(crash_at), capture_output=True, timeout=60
    )
    expected = -signal.SIGKILL if crash_at else 0
    assert proc.returncode == expected, (
        f"{script} rc={proc.returncode}, expected {expected} (crash point {crash_at}): {proc.stderr.decode()[-2000:]}"
    )


def reopen(data_dir: Path, enrichers: list[Enricher] | None = None, **sections: dict[str, Any]) -> Engine:
    """An engine on the data dir a killed process left: what recovery gives the next start."""
    overrides: dict[str, dict[str, Any]] = {"server": {"data_dir": str(data_dir)}, **sections}
    return Engine.open(load_settings(env={}, overrides=overrides), enrichers)
