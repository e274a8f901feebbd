"""Which meta.db tables travel in the cluster's metadata log, and the capture triggers that record their changes.

One place decides, per table, whether its rows are the cluster's (replicated: every node holds the same rows,
written only by the `metadata` lease holder) or the node's own (never published). The capture is a set of TEMP
triggers created on the writer connection of a server in cluster mode only (`install_capture`): they are
generated from `PRAGMA table_info` at every start, so a column a migration adds is covered without a new trigger
migration, a node with cluster mode off has no trigger at all (nothing changes on its write path), and the other
processes that open meta.db (the CLI) never see them. A trigger records only which row changed (table + primary
key) in the connection's TEMP table `meta_changes`; the publisher reads the row as committed at the end of the
transaction (`cluster/metalog.py`). An UPDATE that changes only a node-local column (a key's last use, a
session's last request, an alert rule's evaluation state) records nothing.

Replicated, with why:
- orgs, projects, users, org_members, project_members, api_keys, invitations, password_resets, scim_groups,
  scim_group_members, scim_tokens, scim_users: who may do what, and the credentials (stored hashed) that prove it;
- sessions: a browser login made through the holder works on every node (its `last_seen_at` stays per node);
- instance_settings: the instance's settings (default project, the cluster secret, the alerts secrets key), except
  `LOCAL_SETTINGS`;
- prompt_versions, custom_prices, project_limits, project_pii (PII mode, patterns, masked keys), jwt_trust,
  alert_rules (their definitions; the evaluation state columns are the alerts lease holder's), monitors (likewise:
  the last run's columns are the runner's), project_plugins (which plugins a project turned on, their
  configuration, secret values sealed with the cluster's alerts secrets key), project_dashboards (a project's
  custom dashboard: the same charts on every node), project_data_keys (wrapped by the
  KEK, so a node without the KEK still cannot open them), saved_views (a user's views work on every node);
- tombstones (mode `tombstone`): a deletion hides the rows on every node; each node then stamps, purges and drops
  its own copy as its own lifecycle does for a local deletion, so only the creation (and a repeated deletion that
  re-opens it) travels, keyed by (project, kind, value), never the node-local id or WAL position;
- audit_log (mode `append`): the holder's audit entries are appended on every node (under the node's own ids).
  A node's own audit entries of requests it answered itself (a failed login, an export) stay on that node.

Node-local (never published): segments, wal_progress, backup_objects, pinned_ranges (this node's disk),
tombstone_scope (each node's purge looks the scope up again), scores (they reach meta.db through each node's WAL
and travel to the other nodes in per-node score logs of their own: scorelog.py), scores_outbox and scores_peers
(that log's local state), alert_firings and alert_deliveries (the
alerts lease holder's state), monitor_runs (the runs the node that ran them recorded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import apsw

Mode = Literal["row", "tombstone", "append"]


@dataclass(frozen=True, slots=True)
class TableSpec:
    """How one replicated table travels: its key columns; `local_columns`, sent with a new row but then each node's
    own (an update of only these publishes nothing, and applying an update leaves them alone); `private_columns`,
    never sent (node-local ids and WAL positions); and its mode (`row`: upserted and deleted by key; `tombstone`:
    created by key, never deleted by the log; `append`: inserted, never changed)."""

    key: tuple[str, ...]
    local_columns: tuple[str, ...] = ()
    private_columns: tuple[str, ...] = ()
    mode: Mode = "row"


# instance_settings keys that belong to this node (or to this node's view of the log), never published
LOCAL_SETTINGS: Final = frozenset({"node_id", "cluster_id", "cluster_meta_seq", "cluster_meta_fence"})

# In the order a snapshot loads them (parents before children; foreign keys are deferred anyway).
REPLICATED: Final[dict[str, TableSpec]] = {
    "instance_settings": TableSpec(("key",)),
    "orgs": TableSpec(("id",)),
    "users": TableSpec(("id",)),
    "projects": TableSpec(("id",)),
    "org_members": TableSpec(("org_id", "user_id")),
    "project_members": TableSpec(("project_id", "user_id")),
    "api_keys": TableSpec(("id",), local_columns=("last_used_at",)),
    "sessions": TableSpec(("id_hash",), local_columns=("last_seen_at",)),
    "invitations": TableSpec(("id",)),
    "password_resets": TableSpec(("token_hash",)),
    "project_limits": TableSpec(("project_id",)),
    "project_pii": TableSpec(("project_id",)),
    "prompt_versions": TableSpec(("project_id", "name", "version")),
    "custom_prices": TableSpec(("project_id", "provider_key", "model_key")),
    "scim_groups": TableSpec(("id",)),
    "scim_group_members": TableSpec(("group_id", "user_id")),
    "scim_tokens": TableSpec(("org_id",)),
    "scim_users": TableSpec(("org_id", "user_id")),
    "project_data_keys": TableSpec(("project_id",)),
    "jwt_trust": TableSpec(("project_id",)),
    "alert_rules": TableSpec(("id",), local_columns=("state", "last_value", "last_evaluated_at", "last_error")),
    "project_plugins": TableSpec(("project_id", "plugin")),
    "project_dashboards": TableSpec(("project_id",)),
    "monitors": TableSpec(
        ("id",), local_columns=("last_run_at", "last_ok", "last_latency_ms", "last_error", "last_trace_id")
    ),
    "saved_views": TableSpec(("id",)),
    "tombstones": TableSpec(("project_id", "kind", "value"), private_columns=("id", "wal_lsn"), mode="tombstone"),
    "audit_log": TableSpec(("id",), private_columns=("id",), mode="append"),
}

LOCAL_TABLES: Final = frozenset(
    {
        "segments", "wal_progress", "backup_objects", "pinned_ranges", "tombstone_scope", "scores",
        "scores_outbox", "scores_peers", "alert_firings", "alert_deliveries", "monitor_runs",
    }
)  # fmt: skip
"""Every other table of meta.db: tests/cluster/test_metatables.py fails when a migration adds a table that is in
neither list, so each new table gets a decision."""

CHANGES_TABLE: Final = "meta_changes"
_TRIGGER_PREFIX: Final = "lx_meta_capture_"


def columns(conn: apsw.Connection, table: str) -> list[str]:
    """The table's columns as they are now (after every migration)."""
    return [row[1] for row in conn.execute(f"PRAGMA main.table_info({table})")]


def published_columns(conn: apsw.Connection, table: str) -> list[str]:
    """The columns of `table` a log entry or a snapshot carries: all but the private ones."""
    private = set(REPLICATED[table].private_columns)
    return [c for c in columns(conn, table) if c not in private]


def shared_columns(conn: apsw.Connection, table: str) -> list[str]:
    """The columns whose change is published and applied to existing rows: neither private nor local."""
    local = set(REPLICATED[table].local_columns)
    return [c for c in published_columns(conn, table) if c not in local]


def capture_sql(conn: apsw.Connection) -> list[str]:
    """The statements that create the capture: the TEMP table and one TEMP trigger per table and operation."""
    statements = [
        f"CREATE TEMP TABLE IF NOT EXISTS {CHANGES_TABLE} ("
        "seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, key TEXT NOT NULL)"
    ]
    for table, spec in REPLICATED.items():
        cols = shared_columns(conn, table)

        def record(row: str, table: str = table, spec: TableSpec = spec) -> str:
            key = ", ".join(f"{row}.{k}" for k in spec.key)
            return f"INSERT INTO temp.{CHANGES_TABLE} (tbl, key) VALUES ('{table}', json_array({key}));"

        only = " AND NEW.key NOT IN ({})".format(", ".join(f"'{k}'" for k in sorted(LOCAL_SETTINGS)))
        new_filter = only if table == "instance_settings" else ""
        old_filter = new_filter.replace("NEW.", "OLD.")
        name = f"{_TRIGGER_PREFIX}{table}"
        statements.append(
            f"CREATE TEMP TRIGGER {name}_i AFTER INSERT ON main.{table} WHEN 1{new_filter} BEGIN {record('NEW')} END"
        )
        if spec.mode == "row":
            changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in cols)
            statements.append(
                f"CREATE TEMP TRIGGER {name}_u AFTER UPDATE ON main.{table} WHEN ({changed}){new_filter} "
                f"BEGIN {record('OLD')} {record('NEW')} END"
            )
            statements.append(
                f"CREATE TEMP TRIGGER {name}_d AFTER DELETE ON main.{table} WHEN 1{old_filter} "
                f"BEGIN {record('OLD')} END"
            )
        elif spec.mode == "tombstone":  # deleted again while pending: the purge starts over on every node
            statements.append(
                f"CREATE TEMP TRIGGER {name}_u AFTER UPDATE ON main.{table} "
                f"WHEN NEW.wal_lsn IS NULL AND OLD.wal_lsn IS NOT NULL BEGIN {record('NEW')} END"
            )
    return statements


def install_capture(conn: apsw.Connection) -> None:
    """Create (again) the capture on `conn`, the writer connection: dropped first, so the triggers always match the
    columns the tables have now."""
    drop_capture(conn)
    for statement in capture_sql(conn):
        conn.execute(statement)


def drop_capture(conn: apsw.Connection) -> None:
    names = [
        row[0]
        for row in conn.execute("SELECT name FROM temp.sqlite_master WHERE type = 'trigger' AND name LIKE ?", (
            _TRIGGER_PREFIX + "%",
        ))
    ]  # fmt: skip
    for name in names:
        conn.execute(f"DROP TRIGGER temp.{name}")
    conn.execute(f"DROP TABLE IF EXISTS temp.{CHANGES_TABLE}")


def meta_tables(conn: apsw.Connection) -> set[str]:
    """Every table of meta.db (main schema), SQLite's own excepted."""
    return {
        row[0]
        for row in conn.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")
        if not row[0].startswith("sqlite_")
    }
