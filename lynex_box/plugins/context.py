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

# put_object(key, data) -> where it went; http_post(url, body, headers, timeout_s) -> (status, answer body)
PutObject = Callable[[str, bytes], str]
HttpPost = Callable[[str, bytes, dict[str, str], float], tuple[int, bytes]]


class OutboundRefused(Exception):
    """`http_post` refused the URL: its host is, or resolves to, an address the outbound policy closes (the alert
    deliveries' policy, `[alerts] allow_private_targets` / `allowed_target_networks`). Retrying will not help."""


@dataclass(frozen=True, slots=True)
class PluginContext:
    node_id: str  # this node's id in cluster mode, "" on a single node
    data_dir: Path  # the plugin's own directory, <data dir>/plugins/<name>/ (created on first use by the plugin)
    read_trace: TraceReader | None = None  # a trace's spans through the query engine, scoped to its project
    write_scores: ScoreWriter | None = None  # scores through the WAL, as the score API stores them
    put_object: PutObject | None = None  # write an object under plugins/<name>/ (bucket, or the data dir); blocking
    http_post: HttpPost | None = None  # one POST under the outbound address policy; blocking
    # the outbound address policy of alert deliveries (`lynex_box.alerts.targets.TargetPolicy`, from [alerts]
    # allow_private_targets and allowed_target_networks) for a plugin that sends elsewhere; None: global addresses only
    target_policy: Any = None

    def for_plugin(self, name: str) -> PluginContext:
        """The same context narrowed to the plugin `name`: its own directory, its own object namespace, and its
        scores marked with its name."""
        writer, put = self.write_scores, self.put_object
        return replace(
            self,
            data_dir=self.data_dir / "plugins" / name,
            write_scores=functools.partial(writer, plugin=name) if writer is not None else None,
            put_object=None if put is None else _namespaced(put, f"plugins/{name}"),
        )


def _namespaced(put: PutObject, prefix: str) -> PutObject:
    def put_under(key: str, data: bytes) -> str:
        return put(f"{prefix}/{key}", data)

    return put_under
