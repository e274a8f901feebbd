"""What a running plugin may use of the server: handed once to each loaded in-process plugin through the
`lynex_started(context)` hook, after every component started.

The plugins layer sits below every component (pyproject.toml's import-linter contract), so the context holds
plain values and functions that app.py builds from the components: a plugin never imports or reaches the
server's internals, and a test can hand a plugin a context of its own. Out-of-process plugins get no context
(their worker has no server to call); they see only the topics' events.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

# (project_id, trace_id) -> a pyarrow Table of the trace's spans (the span schema), blocking
TraceReader = Callable[[str, str], Any]
# (project_id, scores, plugin=<name>) -> the ids stored; blocking until the SCORES record is durable
ScoreWriter = Callable[..., list[str]]


@dataclass(frozen=True, slots=True)
class PluginContext:
    node_id: str  # this node's id in cluster mode, "" on a single node
    data_dir: Path  # the plugin's own directory, <data dir>/plugins/<name>/ (created on first use by the plugin)
    read_trace: TraceReader | None = None  # a trace's spans through the query engine, scoped to its project
    write_scores: ScoreWriter | None = None  # scores through the WAL, as the score API stores them

    def for_plugin(self, name: str) -> PluginContext:
        """The same context with `data_dir` narrowed to the plugin's own directory (and its scores marked with its
        name)."""
        writer = self.write_scores
        return replace(
            self,
            data_dir=self.data_dir / "plugins" / name,
            write_scores=functools.partial(writer, plugin=name) if writer is not None else None,
        )
