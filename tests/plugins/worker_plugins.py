"""Plugins the out-of-process tests load in worker processes (a spawned worker imports this module by name)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from lynex_box.plugins.hookspecs import hookimpl


class Writer:
    def __init__(self, path: str) -> None:
        self.path = Path(path)

    @hookimpl
    def lynex_key_created(self, event: dict[str, Any]) -> None:
        with self.path.open("a") as fh:
            fh.write(f"{os.getpid()} {event['n']}\n")


def writer(config: dict[str, Any]) -> Writer:
    return Writer(config["path"])


def refusing(config: dict[str, Any]) -> Writer:
    raise ValueError("path is required; hint: set [plugins.refusing] path")


class Crash:
    @hookimpl
    def lynex_key_created(self, event: dict[str, Any]) -> None:
        os._exit(3)


class Hang:
    @hookimpl
    def lynex_key_created(self, event: dict[str, Any]) -> None:
        time.sleep(60)


crash, hang = Crash(), Hang()


class SpansWriter:
    """Writes one line per `spans_stored` event: its project, its LSNs and the span ids, names and models."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    @hookimpl
    def lynex_spans_stored(self, event: dict[str, Any]) -> None:
        spans = event["spans"]
        line = {
            "pid": os.getpid(),
            "project_id": event["project_id"],
            "type": type(spans).__name__,
            "span_ids": spans.column("span_id").to_pylist(),
            "names": spans.column("name").to_pylist(),
            "models": spans.column("model").to_pylist(),
            "input_tokens": spans.column("input_tokens").to_pylist(),
        }
        with self.path.open("a") as fh:
            fh.write(json.dumps(line) + "\n")


def spans_writer(config: dict[str, Any]) -> SpansWriter:
    return SpansWriter(config["path"])
