"""Every hook a Lynex Box plugin may implement, in one module: docs/plugins.md documents each one, and
tests/plugins/test_hookspecs_documented.py fails when a hook here is not documented there.

Topic hooks (`lynex_<topic>(event)`) are called on the plugin's own delivery thread, through a bounded queue, with
a per-call timeout and a rate limit (host.py): they never run on the caller's thread. The pipeline hooks run on the
pipeline's thread for in-process plugins only (spanhooks.py); the channel hook is a declaration the host collects
(channel types: `PluginHost.channel_types`).
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "lynex_box"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ---- lifecycle -----------------------------------------------------------------------------------------------


@hookspec
def lynex_started(context: Any) -> None:
    """Called once per in-process plugin after the server's components started, with its `PluginContext`
    (context.py): what it may read and write of the server. An exception is reported as the plugin's error."""


# ---- topics: `event` is a JSON-able dict; its keys are listed in docs/plugins.md -------------------------------


@hookspec
def lynex_span_batch_stored(event: dict[str, Any]) -> None:
    """A pipeline step put spans into the head: one event per project of the step (project_id, count, start/end)."""


@hookspec
def lynex_spans_stored(event: dict[str, Any]) -> None:
    """As span_batch_stored, with the spans: `{project_id, spans, lsn_from, lsn_to}`, `spans` an immutable pyarrow
    Table in the span schema (the one event that is not JSON-able; it pickles, so out-of-process plugins get it)."""


@hookspec
def lynex_trace_completed(event: dict[str, Any]) -> None:
    """A trace got no new span on this node for `[plugins] trace_idle_s` (project_id, trace_id, counts, times)."""


@hookspec
def lynex_score_written(event: dict[str, Any]) -> None:
    """A score record was applied to meta.db (project_id, count of scores in the record)."""


@hookspec
def lynex_alert_fired(event: dict[str, Any]) -> None:
    """An alert rule started firing (or renotified) and its notification was handed to delivery."""


@hookspec
def lynex_alert_resolved(event: dict[str, Any]) -> None:
    """A firing alert rule resolved and its notification was handed to delivery."""


@hookspec
def lynex_key_created(event: dict[str, Any]) -> None:
    """An API key was created (never its secret)."""


@hookspec
def lynex_key_revoked(event: dict[str, Any]) -> None:
    """An active API key was revoked."""


@hookspec
def lynex_member_added(event: dict[str, Any]) -> None:
    """A user was added to a project."""


@hookspec
def lynex_project_created(event: dict[str, Any]) -> None:
    """A project was created."""


@hookspec
def lynex_usage_day_closed(event: dict[str, Any]) -> None:
    """A UTC day ended (plus `[plugins] usage_close_delay_s`): one event per project with that day's usage."""


# ---- pipeline hooks (first-party, in-process) -----------------------------------------------------------------


@hookspec
def lynex_enrich_spans(table: Any) -> Any:
    """Called on the pipeline's thread with each batch of decoded spans (a pyarrow Table of the span schema,
    lynex_box/schema/span.py) before it reaches the head, WAL replays included. Return a Table of the same spans
    (same rows, ids and projects; other values may change), or None to leave it. A hook that raises or returns
    other spans is counted as an error and the batch goes on without its change (plugins/spanhooks.py)."""


@hookspec
def lynex_detectors() -> list[Any]:
    """Called once when the plugin loads: the detectors it adds, objects with `name` (str) and `detect(table)`.
    `detect` gets each batch of spans (after the enrichers) and returns None (no opinion), or per row a score from
    0 to 1 (None/NaN: no opinion), or `(scores, reasons)` with reasons per row (a list of strings, or None). The
    maximum over every detector lands in `hallucination_risk`; each flagged row's reasons are listed in its
    `detections` column (docs/detectors.md)."""


# ---- notification channels -------------------------------------------------------------------------------------


@hookspec
def lynex_notification_channels() -> list[Any]:
    """Notification channel types this plugin adds for alert rules: `ChannelType` objects (channels.py: `name`,
    `fields`, `secret_fields`, `url_fields`, `validate(config) -> list[str]`, `public(config)`, async `send`)."""
