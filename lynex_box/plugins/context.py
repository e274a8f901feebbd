"""What a running plugin may use of the server: handed once to each loaded in-process plugin through the
`lynex_started(context)` hook, after every component started.

The plugins layer sits below every component (pyproject.toml's import-linter contract), so the context holds
plain values and functions that app.py builds from the components: a plugin never imports or reaches the
server's internals, and a test can hand a plugin a context of its own. Out-of-process plugins get no context
(their worker has no server to call); they see only the topics' events.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class PluginContext:
    node_id: str  # this node's id in cluster mode, "" on a single node
    data_dir: Path  # the plugin's own directory, <data dir>/plugins/<name>/ (created on first use by the plugin)
    # the outbound address policy of alert deliveries (`lynex_box.alerts.targets.TargetPolicy`, from [alerts]
    # allow_private_targets and allowed_target_networks) for a plugin that sends elsewhere; None: global addresses only
    target_policy: Any = None

    def for_plugin(self, name: str) -> PluginContext:
        """The same context with `data_dir` narrowed to the plugin's own directory."""
        return replace(self, data_dir=self.data_dir / "plugins" / name)
