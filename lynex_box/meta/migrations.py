"""Numbered schema migrations, tracked by `PRAGMA user_version`.

A migration is appended, never edited: databases in the field have run the old ones. Each runs in
its own transaction together with the version bump, so a crash leaves the schema at a whole step.
Its name is what `lynex-box upgrade --check` lists as pending. A meta.db of a higher version than
there are migrations was written by a newer release and is refused (`FormatTooNew`), never opened.
"""

from __future__ import annotations

from typing import NamedTuple

import apsw

from lynex_box.versions import FormatTooNew


class Migration(NamedTuple):
    """One schema step: a short name for people, and its SQL (run in one transaction with the version bump)."""

    name: str
    sql: str


MIGRATIONS: list[Migration] = [
    # 1: the segment catalog and the WAL checkpoint (docs/format/segments.md)
    Migration(
        "segment catalog and WAL checkpoint",
        """
    CREATE TABLE wal_progress (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        consumed_lsn INTEGER NOT NULL
    );
    INSERT INTO wal_progress (id, consumed_lsn) VALUES (1, 0);
    CREATE TABLE segments (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        path TEXT NOT NULL,
        location TEXT NOT NULL DEFAULT 'local' CHECK (location IN ('local', 'remote')),
        state TEXT NOT NULL DEFAULT 'published' CHECK (state IN ('published', 'deleting')),
        level INTEGER NOT NULL DEFAULT 0,
        min_time INTEGER NOT NULL,
        max_time INTEGER NOT NULL,
        row_count INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        wal_from INTEGER,
        wal_to INTEGER,
        schema_version INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        trace_bloom BLOB
    );
    CREATE INDEX segments_by_project_time ON segments (project_id, min_time, max_time);
    """,
    ),
    # 2: tenancy: orgs, projects, users, memberships, API keys
    Migration(
        "tenancy: orgs, projects, users, memberships, API keys",
        """
    CREATE TABLE orgs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE projects (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL REFERENCES orgs (id),
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        retention_days INTEGER
    );
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE org_members (
        org_id TEXT NOT NULL REFERENCES orgs (id),
        user_id TEXT NOT NULL REFERENCES users (id),
        role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
        PRIMARY KEY (org_id, user_id)
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL REFERENCES projects (id),
        prefix TEXT NOT NULL UNIQUE,
        key_hash TEXT NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('ingest', 'read', 'admin')),
        name TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER,
        last_used_at INTEGER
    );
    CREATE INDEX api_keys_by_project ON api_keys (project_id);
    """,
    ),
    # 3: instance-wide settings (default project, secrets generated on first start)
    Migration(
        "instance-wide settings",
        """
    CREATE TABLE instance_settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    ),
    # 4: registered prompt versions (lynex_box/prompts): immutable template text per (project, name, version)
    Migration(
        "prompt versions",
        """
    CREATE TABLE prompt_versions (
        project_id TEXT NOT NULL REFERENCES projects (id),
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        template TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (project_id, name, version)
    );
    """,
    ),
    # data lifecycle (docs/format/segments.md, docs/format/bucket.md): where a segment's bucket copy is and its
    # checksum, when it was marked for deletion; tombstones of deleted traces/sessions/users; ranges pinned to
    # local disk; and the bucket objects that kept backups still reference
    Migration(
        "data lifecycle: bucket copies, tombstones, pinned ranges, backup objects",
        """
    ALTER TABLE segments ADD COLUMN remote_key TEXT;
    ALTER TABLE segments ADD COLUMN checksum TEXT;
    ALTER TABLE segments ADD COLUMN deleting_at INTEGER;
    CREATE INDEX segments_by_state ON segments (state);
    CREATE INDEX segments_by_remote_key ON segments (remote_key);
    CREATE TABLE tombstones (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('trace', 'session', 'user')),
        value TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        due_at INTEGER NOT NULL,
        wal_lsn INTEGER,
        UNIQUE (project_id, kind, value)
    );
    CREATE TABLE pinned_ranges (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id TEXT NOT NULL,
        from_us INTEGER NOT NULL,
        to_us INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX pinned_ranges_by_project ON pinned_ranges (project_id);
    CREATE TABLE backup_objects (
        backup TEXT NOT NULL,
        key TEXT NOT NULL,
        PRIMARY KEY (backup, key)
    );
    CREATE INDEX backup_objects_by_key ON backup_objects (key);
    """,
    ),
    # scores (lynex_box/scores: upserted by (project, id), read by trace and by name) and
    # per-project custom prices (lynex_box/meta/prices.py: one row per normalised (provider, model))
    Migration(
        "scores and custom prices",
        """
    CREATE TABLE scores (
        project_id TEXT NOT NULL REFERENCES projects (id),
        id TEXT NOT NULL,
        trace_id TEXT,
        span_id TEXT,
        session_id TEXT,
        dataset_run_id TEXT,
        name TEXT NOT NULL,
        data_type TEXT NOT NULL CHECK (data_type IN ('NUMERIC', 'BOOLEAN', 'CATEGORICAL', 'TEXT', 'CORRECTION')),
        value REAL,
        string_value TEXT,
        comment TEXT,
        source TEXT NOT NULL,
        metadata TEXT,
        environment TEXT,
        config_id TEXT,
        timestamp INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (project_id, id)
    );
    CREATE INDEX scores_by_trace ON scores (project_id, trace_id, timestamp);
    CREATE INDEX scores_by_name ON scores (project_id, name, timestamp);
    CREATE INDEX scores_by_time ON scores (project_id, timestamp, id);
    CREATE TABLE custom_prices (
        project_id TEXT NOT NULL REFERENCES projects (id),
        provider_key TEXT NOT NULL,
        model_key TEXT NOT NULL,
        provider TEXT,
        model TEXT NOT NULL,
        input_per_mtok REAL NOT NULL,
        output_per_mtok REAL NOT NULL,
        cache_read_per_mtok REAL,
        cache_write_per_mtok REAL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (project_id, provider_key, model_key)
    );
    """,
    ),
    # 7: accounts and security: sessions, per-project roles, invitations, password resets,
    # per-project rate limits, and the append-only audit log (docs/security.md)
    Migration(
        "accounts and security: sessions, project roles, invitations, resets, rate limits, audit log",
        """
    CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users (id),
        csrf_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        ip TEXT NOT NULL DEFAULT '',
        user_agent TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX sessions_by_user ON sessions (user_id);
    CREATE TABLE project_members (
        project_id TEXT NOT NULL REFERENCES projects (id),
        user_id TEXT NOT NULL REFERENCES users (id),
        role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
        PRIMARY KEY (project_id, user_id)
    );
    CREATE INDEX project_members_by_user ON project_members (user_id);
    CREATE INDEX org_members_by_user ON org_members (user_id);
    CREATE TABLE invitations (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        org_id TEXT NOT NULL REFERENCES orgs (id),
        email TEXT NOT NULL DEFAULT '',
        role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
        project_id TEXT REFERENCES projects (id),
        project_role TEXT CHECK (project_role IS NULL OR project_role IN ('owner', 'admin', 'member', 'viewer')),
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        accepted_at INTEGER,
        accepted_by TEXT,
        revoked_at INTEGER
    );
    CREATE INDEX invitations_by_org ON invitations (org_id);
    CREATE TABLE password_resets (
        token_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users (id),
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
    );
    CREATE TABLE project_limits (
        project_id TEXT PRIMARY KEY REFERENCES projects (id),
        events_per_s REAL,
        events_burst INTEGER,
        bytes_per_s REAL,
        bytes_burst INTEGER
    );
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        actor_type TEXT NOT NULL CHECK (actor_type IN ('user', 'key', 'system', 'anonymous')),
        actor_id TEXT NOT NULL DEFAULT '',
        actor_label TEXT NOT NULL DEFAULT '',
        action TEXT NOT NULL,
        org_id TEXT,
        project_id TEXT,
        target_type TEXT NOT NULL DEFAULT '',
        target_id TEXT NOT NULL DEFAULT '',
        ip TEXT NOT NULL DEFAULT '',
        details TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX audit_by_project ON audit_log (project_id, id);
    CREATE INDEX audit_by_org ON audit_log (org_id, id);
    CREATE INDEX audit_by_target ON audit_log (target_id, id);
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN
        SELECT RAISE(ABORT, 'audit_log is append-only');
    END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN
        SELECT RAISE(ABORT, 'audit_log is append-only');
    END;
    """,
    ),
    # 8: single sign-on and provisioning: the OpenID Connect subject and SCIM external id of a user, and
    # SCIM groups with their members (docs/security.md)
    Migration(
        "single sign-on: OIDC subjects and SCIM groups",
        """
    ALTER TABLE users ADD COLUMN oidc_subject TEXT;
    ALTER TABLE users ADD COLUMN scim_external_id TEXT;
    CREATE UNIQUE INDEX users_by_oidc_subject ON users (oidc_subject) WHERE oidc_subject IS NOT NULL;
    CREATE TABLE scim_groups (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL REFERENCES orgs (id),
        display_name TEXT NOT NULL,
        external_id TEXT,
        created_at INTEGER NOT NULL,
        UNIQUE (org_id, display_name)
    );
    CREATE TABLE scim_group_members (
        group_id TEXT NOT NULL REFERENCES scim_groups (id),
        user_id TEXT NOT NULL REFERENCES users (id),
        PRIMARY KEY (group_id, user_id)
    );
    CREATE INDEX scim_group_members_by_user ON scim_group_members (user_id);
    """,
    ),
    # 9: SCIM provisioning: one bearer token per org (stored hashed) and which users an org's SCIM client
    # manages, with their external id and active flag (users.scim_external_id of migration 8 is unused: the
    # link is per org and lives here)
    Migration(
        "SCIM tokens and provisioned users",
        """
    CREATE TABLE scim_tokens (
        org_id TEXT PRIMARY KEY REFERENCES orgs (id),
        token_hash TEXT NOT NULL UNIQUE,
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE scim_users (
        org_id TEXT NOT NULL REFERENCES orgs (id),
        user_id TEXT NOT NULL REFERENCES users (id),
        external_id TEXT,
        active INTEGER NOT NULL DEFAULT 1,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (org_id, user_id)
    );
    """,
    ),
    # per-project encryption at rest (lynex_box/segments/datakeys.py, docs/security.md): each encrypted project's
    # data key, wrapped (AES-256-GCM) by the key-encryption key kept outside the data directory, and the KEK's
    # fingerprint
    Migration(
        "per-project encryption keys",
        """
    CREATE TABLE IF NOT EXISTS project_data_keys (
        project_id TEXT PRIMARY KEY REFERENCES projects (id),
        wrapped BLOB NOT NULL,
        kek_fingerprint TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    """,
    ),
    # alerts (lynex_box/alerts, docs/alerts.md): rules per project with their current state, channels whose URLs and
    # signing secrets are sealed with a key kept outside meta.db, firings (firing -> resolved) and every delivery
    # attempt's outcome
    Migration(
        "alerts: rules, channels, firings, deliveries",
        """
    CREATE TABLE alert_rules (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL REFERENCES projects (id),
        name TEXT NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        metric TEXT NOT NULL,
        window_s INTEGER NOT NULL,
        filters TEXT NOT NULL DEFAULT '{}',
        comparison TEXT NOT NULL CHECK (comparison IN ('gt', 'gte', 'lt', 'lte')),
        threshold REAL NOT NULL,
        interval_s INTEGER NOT NULL,
        renotify_s INTEGER NOT NULL DEFAULT 0,
        channels TEXT NOT NULL DEFAULT '[]',
        sealed_channels BLOB,
        state TEXT NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'firing')),
        last_value REAL,
        last_evaluated_at INTEGER,
        last_error TEXT,
        created_by TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX alert_rules_by_project ON alert_rules (project_id);
    CREATE TABLE alert_firings (
        id TEXT PRIMARY KEY,
        rule_id TEXT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
        project_id TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),
        value REAL,
        threshold REAL NOT NULL,
        started_at INTEGER NOT NULL,
        resolved_at INTEGER,
        resolved_value REAL,
        last_notified_at INTEGER
    );
    CREATE INDEX alert_firings_by_project ON alert_firings (project_id, started_at);
    CREATE INDEX alert_firings_by_rule ON alert_firings (rule_id, started_at);
    CREATE TABLE alert_deliveries (
        id TEXT PRIMARY KEY,
        rule_id TEXT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
        project_id TEXT NOT NULL,
        firing_id TEXT,
        channel_id TEXT NOT NULL,
        channel_type TEXT NOT NULL,
        event TEXT NOT NULL CHECK (event IN ('firing', 'renotify', 'resolved', 'test')),
        status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        response_status INTEGER,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX alert_deliveries_by_project ON alert_deliveries (project_id, created_at);
    CREATE INDEX alert_deliveries_by_rule ON alert_deliveries (rule_id, created_at);
    """,
    ),
    # data lifecycle: a project's own hot window (seconds before its segments are offloaded; NULL = the
    # [offload] default), and what a user or session deletion covers beyond its own column: the traces and
    # sessions found to belong to it (docs/api.md, deletion)
    Migration(
        "project hot windows and deletion scopes",
        """
    ALTER TABLE projects ADD COLUMN hot_window_s INTEGER;
    CREATE TABLE tombstone_scope (
        tombstone_id INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('trace', 'session')),
        value TEXT NOT NULL,
        PRIMARY KEY (tombstone_id, kind, value)
    );
    """,
    ),
    # scores reach meta.db through the WAL (docs/format/wal.md, record type 4): the LSN of the last SCORES record
    # applied, set in the transaction that applies it, so a replay applies none twice (lynex_box/scores/store.py)
    Migration(
        "WAL position of the applied scores",
        """
    ALTER TABLE wal_progress ADD COLUMN scores_applied_lsn INTEGER NOT NULL DEFAULT 0;
    """,
    ),
    # JWTs for server-to-server ingest: the issuer a project trusts, by JWKS URL or by one public key (PEM), with
    # the audience its tokens must carry and the claim that names the project (lynex_box/auth/jwt_trust.py)
    Migration(
        "trusted JWT issuers",
        """
    CREATE TABLE jwt_trust (
        project_id TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
        jwks_url TEXT,
        public_key_pem TEXT,
        issuer TEXT NOT NULL,
        audience TEXT NOT NULL,
        project_claim TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        CHECK ((jwks_url IS NULL) <> (public_key_pem IS NULL))
    );
    """,
    ),
    # scores across the nodes of a cluster (lynex_box/cluster/scorelog.py, docs/format/cluster.md "Scores across
    # nodes"): the keys of the scores this node applied from its own WAL and has not published yet (filled only in
    # cluster mode, in the transaction that applies them), and the last score batch applied (or, for this node's
    # own id, published) per node
    Migration(
        "scores shared across cluster nodes",
        """
    CREATE TABLE scores_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id TEXT NOT NULL,
        id TEXT NOT NULL
    );
    CREATE TABLE scores_peers (
        node_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL
    );
    """,
    ),
    # plugins turned on and configured per project (lynex_box/meta/project_plugins.py, docs/plugins.md): `config` is
    # the JSON object the API shows (secret values masked), `sealed_config` the secret values sealed with the alerts
    # secrets key, bound to the project and the plugin
    Migration(
        "plugins enabled and configured per project",
        """
    CREATE TABLE project_plugins (
        project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        plugin TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        config TEXT NOT NULL,
        sealed_config BLOB,
        updated_at INTEGER NOT NULL,
        updated_by TEXT NOT NULL,
        PRIMARY KEY (project_id, plugin)
    );
    """,
    ),
    # synthetic monitors (lynex_box/monitors/, docs/monitors.md): their definitions (replicated in cluster mode; the
    # last_* columns are the state of the node that runs them, under the alerts lease) and their recent runs
    # (node-local, like alert firings); target secrets (header values, the model API key) only sealed
    Migration(
        "synthetic monitors",
        """
    CREATE TABLE monitors (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        interval_s INTEGER NOT NULL,
        cron TEXT,
        timeout_s REAL NOT NULL,
        target TEXT NOT NULL,
        sealed_target BLOB,
        assertions TEXT NOT NULL DEFAULT '[]',
        rule_ids TEXT NOT NULL DEFAULT '[]',
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        last_run_at INTEGER,
        last_ok INTEGER,
        last_latency_ms REAL,
        last_error TEXT,
        last_trace_id TEXT,
        UNIQUE (project_id, name)
    );
    CREATE TABLE monitor_runs (
        id TEXT PRIMARY KEY,
        monitor_id TEXT NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
        project_id TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        latency_ms REAL NOT NULL,
        status_code INTEGER,
        assertions TEXT NOT NULL DEFAULT '[]',
        error TEXT,
        trace_id TEXT NOT NULL,
        manual INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX monitor_runs_by_monitor ON monitor_runs (monitor_id, started_at);
    """,
    ),
    # raw-text sampling per project (lynex_box/pipeline/sampling.py, docs/api.md): the fraction of traces whose
    # prompts and completions are kept, 0..1; NULL keeps all
    Migration(
        "raw-text sampling per project",
        """
    ALTER TABLE projects ADD COLUMN sample_text REAL;
    """,
    ),
    # per-project PII detection and redaction (lynex_box/pii/, docs/pii.md): the mode, the custom patterns
    # ([{name, pattern}] as JSON) and the attribute keys always masked (a JSON list); no row: [pii] default_mode
    Migration(
        "per-project PII settings",
        """
    CREATE TABLE project_pii (
        project_id TEXT PRIMARY KEY REFERENCES projects (id),
        mode TEXT NOT NULL CHECK (mode IN ('off', 'detect', 'redact')),
        custom_patterns TEXT NOT NULL DEFAULT '[]',
        masked_keys TEXT NOT NULL DEFAULT '[]',
        updated_at INTEGER NOT NULL
    );
    """,
    ),
    # saved views (lynex_box/meta/saved_views.py, docs/api.md): a user's named filter states (a UI page's query
    # string) in one project, seen by that user only (replicated in cluster mode)
    Migration(
        "saved views",
        """
    CREATE TABLE saved_views (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        page TEXT NOT NULL,
        query TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (project_id, user_id, name)
    );
    """,
    ),
    # a project's custom dashboard: its charts as one JSON document (meta/dashboards.py)
    Migration(
        "project dashboards",
        """
    CREATE TABLE project_dashboards (
        project_id TEXT PRIMARY KEY REFERENCES projects (id),
        doc TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        updated_by TEXT NOT NULL
    );
    """,
    ),
    # a printed password (the first admin's, one the operator set) must be replaced at the next sign-in: until it is,
    # the session may only change it (api/principal.py); accounts of earlier releases are not asked to
    Migration(
        "forced password change after a printed password",
        """
    ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
    """,
    ),
]


META_SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this release migrates meta.db to, and the newest it opens."""


def schema_version(conn: apsw.Connection) -> int:
    return int(conn.pragma("user_version"))


def check_version(version: int, where: str = "meta.db") -> None:
    """Refuse a meta.db (`where` names it) whose schema is newer than this release's migrations."""
    if version > META_SCHEMA_VERSION:
        raise FormatTooNew("meta.db", where, version, META_SCHEMA_VERSION)


def pending(version: int) -> list[tuple[int, str]]:
    """The migrations (number, name) a meta.db at schema `version` gets on its next open."""
    return [(number, MIGRATIONS[number - 1].name) for number in range(version + 1, META_SCHEMA_VERSION + 1)]


def migrate(conn: apsw.Connection, where: str = "meta.db") -> int:
    """Apply every migration newer than the database; returns the resulting version."""
    version = schema_version(conn)
    check_version(version, where)
    for number, _ in pending(version):
        with conn:
            conn.execute(MIGRATIONS[number - 1].sql)
            conn.pragma("user_version", number)
    return META_SCHEMA_VERSION
