"""Settings: `lynex.toml` loaded into frozen dataclasses, one per section, with `LYNEX_*` overrides.

Every limit, interval and threshold of the appliance is a field here with a safe default, and the
repository's `lynex.toml` documents each one. Loading rejects unknown sections and keys and bad values
with a message that names them; keys that moved to another section (`RENAMED`) are still read under their old
names, with a warning that names the new one. This module only loads and validates; it never acts on a setting.
It is longer than our usual module on purpose: every section's dataclass sits here, in lynex.toml's order, so
that one file answers "which settings exist"; the loading code below them is about 150 lines.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import os
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, get_args, get_origin

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
log = logging.getLogger("lynex.config")


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the key, the value and what is allowed."""


def _rng(lo: float | None = None, hi: float | None = None) -> dict[str, Any]:
    return {"min": lo, "max": hi}


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """[server]: where the appliance listens and keeps its data."""

    host: str = "127.0.0.1"
    port: int = field(default=4318, metadata=_rng(0, 65535))
    otlp_grpc_port: int = field(default=4317, metadata=_rng(0, 65535))
    data_dir: str = "./lynex-data"
    dev: bool = False
    public_url: str = ""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    body_timeout_s: float = field(default=60.0, metadata=_rng(0.1, 86_400))
    body_min_bytes_per_s: int = field(default=1024, metadata=_rng(1))
    body_idle_timeout_s: float = field(default=30.0, metadata=_rng(0.1, 86_400))
    max_bodies_per_client: int = field(default=64, metadata=_rng(0))
    stop_timeout_s: float = field(default=10.0, metadata=_rng(1, 3600))
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class WalSettings:
    """[wal]: how the write-ahead log trades latency, throughput and safety."""

    segment_bytes: int = field(default=64 * 1024 * 1024, metadata=_rng(64 * 1024))
    durability: Literal["fsync", "os"] = "fsync"
    group_commit_interval_ms: float = field(default=2.0, metadata=_rng(0, 1000))
    group_commit_max_bytes: int = field(default=8 * 1024 * 1024, metadata=_rng(1))
    compression: Literal["auto", "lz4", "zstd", "none"] = "auto"
    compression_level: int = field(default=1, metadata=_rng(-7, 22))
    handoff_bytes: int = field(default=32 * 1024 * 1024, metadata=_rng(0))


@dataclass(frozen=True, slots=True)
class HeadSettings:
    """[head]: when the in-memory head becomes a Parquet segment."""

    max_rows: int = field(default=200_000, metadata=_rng(1))
    max_bytes: int = field(default=32 * 1024 * 1024, metadata=_rng(1024))
    max_age_s: float = field(default=60.0, metadata=_rng(0.05))


@dataclass(frozen=True, slots=True)
class SegmentSettings:
    """[segments]: how Parquet segments are written."""

    row_group_rows: int = field(default=65_536, metadata=_rng(1024))
    zstd_level: int = field(default=3, metadata=_rng(1, 22))
    flush_compression: Literal["zstd", "lz4"] = "zstd"
    flush_zstd_level: int = field(default=1, metadata=_rng(1, 22))
    trace_bloom_bits_per_key: int = field(default=10, metadata=_rng(4, 32))


MEMORY_SHARES: Final = ("memory_share_queries", "memory_share_rewrites", "memory_share_scans")
MIN_MEMORY_PART_MB: Final = 16


@dataclass(frozen=True, slots=True)
class QuerySettings:
    """[query]: DuckDB resources: one memory budget divided between the process's DuckDB databases; query limits."""

    threads: int = field(default=2, metadata=_rng(1, 256))
    memory_limit_mb: int = field(default=2048, metadata=_rng(64))
    memory_share_queries: float = field(default=0.5, metadata=_rng(0.01, 1))
    memory_share_rewrites: float = field(default=0.25, metadata=_rng(0.01, 1))
    memory_share_scans: float = field(default=0.25, metadata=_rng(0.01, 1))
    max_rows: int = field(default=10_000, metadata=_rng(1))
    workers: int = field(default=4, metadata=_rng(1, 256))
    saturated_after_s: float = field(default=10.0, metadata=_rng(0.05, 3600))

    def __post_init__(self) -> None:
        # checked here so a budget divided into more than itself stops `lynex-box run` before it listens
        shares = {name: getattr(self, name) for name in MEMORY_SHARES}
        if sum(shares.values()) > 1 + 1e-9:
            listed = " + ".join(f"query.{name} ({value:g})" for name, value in shares.items())
            raise ConfigError(
                f"{listed} = {sum(shares.values()):g} is more than 1: the shares divide query.memory_limit_mb "
                f"({self.memory_limit_mb} MB) and may not add up to more than all of it; hint: lower one of them"
            )
        for name, value in shares.items():
            if self._part(value) < MIN_MEMORY_PART_MB:
                raise ConfigError(
                    f"query.{name} = {value:g} of query.memory_limit_mb = {self.memory_limit_mb} is "
                    f"{self._part(value)} MB, under the {MIN_MEMORY_PART_MB} MB a DuckDB database needs; "
                    "hint: raise memory_limit_mb or the share"
                )

    def _part(self, share: float) -> int:
        return int(self.memory_limit_mb * share)

    @property
    def queries_memory_mb(self) -> int:
        """Memory limit of the query engine's DuckDB (API queries, exports, alert evaluations, `lynex-box query`)."""
        return self._part(self.memory_share_queries)

    @property
    def rewrites_memory_mb(self) -> int:
        """Memory limit of the lifecycle's DuckDB that rewrites segments (compaction, retention, deletion, reprice)."""
        return self._part(self.memory_share_rewrites)

    @property
    def scans_memory_mb(self) -> int:
        """Memory limit of the lifecycle's DuckDB that finds what a deletion covers."""
        return self._part(self.memory_share_scans)


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """[ingest]: limits of one ingest request and of the backlog behind it."""

    max_body_bytes: int = field(default=20 * 1024 * 1024, metadata=_rng(1024))
    max_events_per_request: int = field(default=10_000, metadata=_rng(1))
    max_scores_per_request: int = field(default=10_000, metadata=_rng(1))
    max_field_bytes: int = field(default=1024 * 1024, metadata=_rng(64))
    max_json_depth: int = field(default=100, metadata=_rng(8, 200))
    max_backlog_bytes: int = field(default=1024 * 1024 * 1024, metadata=_rng(1024 * 1024))
    min_free_disk_bytes: int = field(default=512 * 1024 * 1024, metadata=_rng(0))
    retry_after_s: int = field(default=2, metadata=_rng(1, 3600))
    dedupe_window_events: int = field(default=500_000, metadata=_rng(0))
    min_time: str = "2000-01-01T00:00:00Z"
    max_future_s: float = field(default=86_400.0, metadata=_rng(0))

    def __post_init__(self) -> None:
        self.min_time_us  # noqa: B018 - parsed now, so a bad value stops `lynex-box run` before it listens

    @property
    def min_time_us(self) -> int:
        """`min_time` as epoch microseconds."""
        try:
            parsed = dt.datetime.fromisoformat(self.min_time)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise ConfigError(
                f"ingest.min_time = {self.min_time!r} is not an RFC 3339 time with an offset, "
                "e.g. '2000-01-01T00:00:00Z'"
            )
        return (parsed - _EPOCH) // dt.timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """[pipeline]: how records move from the WAL into the head."""

    batch_records: int = field(default=64, metadata=_rng(1))
    idle_poll_ms: float = field(default=50.0, metadata=_rng(1))
    decode_threads: int = field(default=1, metadata=_rng(1, 8))
    max_lag_records: int = field(default=16, metadata=_rng(1))
    max_lag_wait_ms: float = field(default=5000.0, metadata=_rng(0))
    otlp_decode_process: bool = True
    otlp_decode_workers: int = field(default=2, metadata=_rng(1, 16))
    scores_visible_wait_ms: float = field(default=10_000.0, metadata=_rng(0))
    decode_memory_mb: int = field(default=256, metadata=_rng(16))


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """[api]: limits of API requests that are not ingest: small JSON bodies, prompt and price bodies, exports."""

    max_json_body_bytes: int = field(default=64 * 1024, metadata=_rng(1024))
    max_prompt_body_bytes: int = field(default=256 * 1024, metadata=_rng(1024))
    max_price_body_bytes: int = field(default=1024 * 1024, metadata=_rng(1024))
    export_chunk_s: int = field(default=3600, metadata=_rng(60))
    export_workers: int = field(default=2, metadata=_rng(1, 64))
    export_per_project: int = field(default=1, metadata=_rng(1, 64))
    export_timeout_s: float = field(default=3600.0, metadata=_rng(1))
    list_export_max_rows: int = field(default=100_000, metadata=_rng(1, 10_000_000))


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """[auth]: user sessions, passwords, login throttling, invitation and reset links, JWTs of trusted issuers."""

    session_ttl_s: int = field(default=7 * 86_400, metadata=_rng(60))
    session_idle_s: int = field(default=86_400, metadata=_rng(60))
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    password_min_length: int = field(default=10, metadata=_rng(8, 128))
    login_max_failures: int = field(default=5, metadata=_rng(1))
    login_lockout_s: float = field(default=30.0, metadata=_rng(0.1))
    login_lockout_max_s: float = field(default=900.0, metadata=_rng(0.1))
    login_max_failures_per_ip: int = field(default=50, metadata=_rng(1))
    invitation_ttl_s: int = field(default=7 * 86_400, metadata=_rng(60))
    password_reset_ttl_s: int = field(default=86_400, metadata=_rng(60))
    email_reset_ttl_s: int = field(default=3600, metadata=_rng(60, 7 * 86_400))
    email_reset_per_email_per_hour: int = field(default=3, metadata=_rng(1, 1000))
    email_reset_per_ip_per_hour: int = field(default=30, metadata=_rng(1, 100_000))
    jwt_jwks_ttl_s: float = field(default=300.0, metadata=_rng(1, 86_400))
    jwt_jwks_min_refetch_s: float = field(default=30.0, metadata=_rng(0, 3600))
    jwt_jwks_timeout_s: float = field(default=5.0, metadata=_rng(0.1, 60))
    jwt_jwks_max_bytes: int = field(default=256 * 1024, metadata=_rng(1024, 16 * 1024 * 1024))
    jwt_leeway_s: int = field(default=30, metadata=_rng(0, 600))


@dataclass(frozen=True, slots=True)
class LimitsSettings:
    """[limits]: ingest rate limits (token buckets) per project and per API key; 0 = unlimited."""

    project_events_per_s: float = field(default=100_000.0, metadata=_rng(0))
    project_events_burst: int = field(default=1_000_000, metadata=_rng(0))
    project_bytes_per_s: float = field(default=128.0 * 1024 * 1024, metadata=_rng(0))
    project_bytes_burst: int = field(default=1024 * 1024 * 1024, metadata=_rng(0))
    key_events_per_s: float = field(default=100_000.0, metadata=_rng(0))
    key_events_burst: int = field(default=1_000_000, metadata=_rng(0))
    key_bytes_per_s: float = field(default=128.0 * 1024 * 1024, metadata=_rng(0))
    key_bytes_burst: int = field(default=1024 * 1024 * 1024, metadata=_rng(0))


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """[oidc]: single sign-on with an OpenID Connect provider (authorization code flow with PKCE)."""

    enabled: bool = False
    issuer: str = ""
    client_id: str = ""
    client_secret: str = ""
    scopes: str = "openid email profile"
    redirect_url: str = ""
    org_id: str = ""
    groups_claim: str = "groups"
    group_roles: str = ""
    default_role: Literal["", "owner", "admin", "member", "viewer"] = ""
    link_verified_email: bool = True
    login_timeout_s: int = field(default=600, metadata=_rng(30, 86_400))
    http_timeout_s: float = field(default=10.0, metadata=_rng(0.1, 300))


@dataclass(frozen=True, slots=True)
class ScimSettings:
    """[scim]: SCIM 2.0 provisioning; how provisioned groups map to org roles."""

    group_roles: str = ""
    default_role: Literal["", "owner", "admin", "member", "viewer"] = "viewer"
    max_results: int = field(default=200, metadata=_rng(1, 10_000))
    max_body_bytes: int = field(default=1024 * 1024, metadata=_rng(1024))


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """[smtp]: the mail server that sends invitation and password reset emails; off by default."""

    enabled: bool = False
    host: str = ""
    port: int = field(default=587, metadata=_rng(1, 65535))
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""
    password: str = field(default="", repr=False)
    password_file: str = ""
    from_address: str = ""
    ca_file: str = ""
    timeout_s: float = field(default=10.0, metadata=_rng(0.1, 300))
    retries: int = field(default=3, metadata=_rng(0, 20))
    retry_backoff_s: float = field(default=5.0, metadata=_rng(0.01, 3600))
    max_pending: int = field(default=1000, metadata=_rng(1, 100_000))

    def __post_init__(self) -> None:
        # cross-field rules, checked here so a bad [smtp] stops `lynex-box run` before it listens
        if not self.enabled:
            return
        if not self.host:
            raise ConfigError("smtp.host is empty; hint: set the mail server's host name, or smtp.enabled = false")
        if "@" not in self.from_address or any(c in self.from_address for c in "\r\n"):
            raise ConfigError(
                f"smtp.from_address = {self.from_address!r} must be an address like 'Lynex <lx@example.com>'"
            )
        if self.password and self.password_file:
            raise ConfigError("smtp.password and smtp.password_file are both set; hint: keep one")
        if self.username and self.security == "none":
            raise ConfigError(
                "smtp.username with smtp.security = 'none' would send the password in clear; "
                "hint: use 'starttls' or 'ssl'"
            )


@dataclass(frozen=True, slots=True)
class AlertsSettings:
    """[alerts]: how alert rules are evaluated and their notifications delivered."""

    enabled: bool = True
    tick_s: float = field(default=5.0, metadata=_rng(0.05, 3600))
    min_interval_s: int = field(default=10, metadata=_rng(1, 86_400))
    default_interval_s: int = field(default=60, metadata=_rng(1, 86_400))
    max_window_s: int = field(default=7 * 86_400, metadata=_rng(1, 366 * 86_400))
    max_rules_per_project: int = field(default=100, metadata=_rng(1, 10_000))
    max_rule_body_bytes: int = field(default=64 * 1024, metadata=_rng(1024))
    max_concurrent_evaluations: int = field(default=2, metadata=_rng(1, 64))
    delivery_timeout_s: float = field(default=10.0, metadata=_rng(0.1, 300))
    delivery_attempts: int = field(default=5, metadata=_rng(1, 20))
    delivery_backoff_s: float = field(default=2.0, metadata=_rng(0.01, 3600))
    delivery_backoff_max_s: float = field(default=300.0, metadata=_rng(0.01, 86_400))
    max_concurrent_deliveries: int = field(default=16, metadata=_rng(1, 1000))
    allow_private_targets: bool = False
    allowed_target_networks: str = ""
    secrets_key_file: str = ""
    history_days: int = field(default=90, metadata=_rng(1, 36_500))


@dataclass(frozen=True, slots=True)
class MonitorsSettings:
    """[monitors]: synthetic monitors (docs/monitors.md): how they are scheduled and what one may ask for."""

    enabled: bool = True
    tick_s: float = field(default=1.0, metadata=_rng(0.05, 3600))
    min_interval_s: int = field(default=10, metadata=_rng(1, 86_400))
    default_interval_s: int = field(default=300, metadata=_rng(1, 86_400))
    max_monitors_per_project: int = field(default=50, metadata=_rng(1, 10_000))
    max_timeout_s: float = field(default=30.0, metadata=_rng(0.1, 600))
    default_timeout_s: float = field(default=10.0, metadata=_rng(0.1, 600))
    max_response_bytes: int = field(default=1024 * 1024, metadata=_rng(1024))
    max_body_bytes: int = field(default=64 * 1024, metadata=_rng(1024))
    max_concurrent_runs: int = field(default=4, metadata=_rng(1, 256))
    max_pattern_length: int = field(default=256, metadata=_rng(1, 10_000))
    runs_kept: int = field(default=100, metadata=_rng(1, 100_000))


@dataclass(frozen=True, slots=True)
class LifecycleSettings:
    """[lifecycle]: what every background pass shares: its DuckDB threads, the grace period, the disk guard."""

    grace_period_s: float = field(default=300.0, metadata=_rng(0))
    disk_pressure_free_bytes: int = field(default=2 * 1024 * 1024 * 1024, metadata=_rng(0))
    disk_check_interval_s: float = field(default=15.0, metadata=_rng(1))
    threads: int = field(default=1, metadata=_rng(1, 64))


@dataclass(frozen=True, slots=True)
class CompactionSettings:
    """[compaction]: when a project's small segments are merged into larger files."""

    interval_s: float = field(default=300.0, metadata=_rng(1))
    min_segments: int = field(default=4, metadata=_rng(2))
    small_bytes: int = field(default=64 * 1024 * 1024, metadata=_rng(1))
    max_bytes: int = field(default=512 * 1024 * 1024, metadata=_rng(1024))
    window_s: int = field(default=86_400, metadata=_rng(60))


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """[retention]: how long spans are kept by default, and how often expired ones are removed."""

    days: int = field(default=30, metadata=_rng(0, 36_500))
    interval_s: float = field(default=3600.0, metadata=_rng(1))


@dataclass(frozen=True, slots=True)
class DeletionSettings:
    """[deletion]: the bound on removing a deleted trace, session or user from every file."""

    max_delay_s: float = field(default=3600.0, metadata=_rng(4))


@dataclass(frozen=True, slots=True)
class OffloadSettings:
    """[offload]: moving old segments to the bucket, and the local cache of those fetched back for queries."""

    hot_window_s: int = field(default=7 * 86_400, metadata=_rng(0))
    interval_s: float = field(default=300.0, metadata=_rng(1))
    cache_max_bytes: int = field(default=2 * 1024 * 1024 * 1024, metadata=_rng(1024 * 1024))


@dataclass(frozen=True, slots=True)
class BackupSettings:
    """[backup]: scheduled backups of meta.db and the catalog."""

    interval_s: float = field(default=86_400.0, metadata=_rng(0))
    keep: int = field(default=7, metadata=_rng(1))
    dir: str = ""


@dataclass(frozen=True, slots=True)
class BucketSettings:
    """[bucket]: where offloaded segments and backups go; `type = "none"` keeps everything local."""

    type: Literal["none", "s3", "directory"] = "none"
    bucket: str = ""
    endpoint: str = ""
    region: str = "us-east-1"
    prefix: str = ""
    path_style: bool = True
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    allow_http: bool = False
    directory: str = ""
    node_id: str = ""
    timeout_s: float = field(default=10.0, metadata=_rng(0.1))
    transfer_timeout_s: float = field(default=600.0, metadata=_rng(1))
    retries: int = field(default=3, metadata=_rng(0, 20))
    readonly_after_s: float = field(default=900.0, metadata=_rng(0))


@dataclass(frozen=True, slots=True)
class EncryptionSettings:
    """[encryption]: where the key-encryption key of per-project segment encryption comes from."""

    kek_file: str = ""
    kek_env: str = ""


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """[cluster]: several nodes sharing one S3-compatible bucket (docs/format/cluster.md); off by default."""

    enabled: bool = False
    poll_interval_s: float = field(default=1.0, metadata=_rng(0.05, 3600))
    flush_age_s: float = field(default=2.0, metadata=_rng(0.05, 3600))
    heartbeat_s: float = field(default=2.0, metadata=_rng(0.05, 3600))
    lease_ttl_s: float = field(default=15.0, metadata=_rng(0.5, 86_400))
    max_clock_skew_s: float = field(default=2.0, metadata=_rng(0, 3600))
    advertise_url: str = ""
    snapshot_every: int = field(default=500, metadata=_rng(1, 10_000_000))
    forward_timeout_s: float = field(default=10.0, metadata=_rng(0.1, 600))
    forward_window_s: float = field(default=30.0, metadata=_rng(1, 3600))
    forward_apply_wait_s: float = field(default=5.0, metadata=_rng(0, 600))
    compactable_after_s: float = field(default=60.0, metadata=_rng(0, 86_400))
    compaction_interval_s: float = field(default=30.0, metadata=_rng(0.5, 86_400))

    def handoff_after_s(self) -> float | None:
        """Age at which a flushed segment is handed over to cross-node compaction; None: never (cluster mode off,
        or `compactable_after_s = 0`)."""
        return self.compactable_after_s if self.enabled and self.compactable_after_s > 0 else None

    def __post_init__(self) -> None:
        # a node must write several heartbeats per lease_ttl_s, or one slow write makes the others count it down
        if self.heartbeat_s >= self.lease_ttl_s / 2:
            raise ConfigError(
                f"cluster.heartbeat_s = {self.heartbeat_s} must be less than half of cluster.lease_ttl_s = "
                f"{self.lease_ttl_s}; hint: lower heartbeat_s or raise lease_ttl_s"
            )
        if self.advertise_url and not self.advertise_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"cluster.advertise_url = {self.advertise_url!r} must start with http:// or https://; "
                "hint: the URL other nodes reach this one at, e.g. 'http://10.0.0.5:4318'"
            )


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """[metrics]: the process's own health as Prometheus metrics (`GET /metrics`, docs/operations/monitoring.md)."""

    enabled: bool = True
    allow: Literal["loopback", "admin", "any"] = "loopback"
    token_file: str = ""


@dataclass(frozen=True, slots=True)
class SentrySettings:
    """[sentry]: unhandled errors reported to a Sentry project; off unless a DSN is set (needs the sentry extra)."""

    dsn: str = ""
    environment: str = ""
    traces_sample_rate: float = field(default=0.0, metadata=_rng(0, 1))


# the conditions `[platform_alerts]` watches, as packaging/prometheus/alerts.yml names them (lynex_box/alerts/platform/)
PLATFORM_CONDITIONS: Final = (
    "http_5xx_rate", "ingest_refused", "wal_backlog", "query_latency", "query_saturated", "disk_free",
    "job_failures", "read_only",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PlatformAlertsSettings:
    """[platform_alerts]: each node watches its own health (the conditions of packaging/prometheus/alerts.yml, read
    from GET /metrics' registry) and notifies the admin channels, without Prometheus (docs/operations/monitoring.md).

    `channels` holds the tables `[platform_alerts.channels.<name>]` (a channel type and its settings); not a key."""

    enabled: bool = False
    interval_s: float = field(default=30.0, metadata=_rng(0.1, 3600))
    for_s: float = field(default=600.0, metadata=_rng(0, 86_400))
    resolve_after_s: float = field(default=120.0, metadata=_rng(0, 86_400))
    renotify_s: float = field(default=14_400.0, metadata=_rng(0, 30 * 86_400))
    disable: tuple[str, ...] = ()
    error_rate: float = field(default=0.05, metadata=_rng(0, 1))
    error_min_rps: float = field(default=0.1, metadata=_rng(0))
    error_window_s: float = field(default=300.0, metadata=_rng(1, 86_400))
    wal_backlog_bytes: int = field(default=256 * 1024 * 1024, metadata=_rng(0))
    wal_backlog_age_s: float = field(default=900.0, metadata=_rng(0))
    query_p95_s: float = field(default=2.0, metadata=_rng(0))
    latency_window_s: float = field(default=600.0, metadata=_rng(1, 86_400))
    query_saturated_s: float = field(default=30.0, metadata=_rng(0))
    disk_free_bytes: int = field(default=10 * 1024**3, metadata=_rng(0))
    disk_free_ratio: float = field(default=0.1, metadata=_rng(0, 1))
    job_failures: int = field(default=3, metadata=_rng(1))
    job_window_s: float = field(default=3600.0, metadata=_rng(1, 7 * 86_400))
    webhook_url: str = ""
    webhook_url_file: str = ""
    webhook_secret_file: str = ""
    channels: dict[str, dict[str, Any]] = field(default_factory=dict, metadata={"tables": True})

    def __post_init__(self) -> None:
        unknown = sorted(set(self.disable) - set(PLATFORM_CONDITIONS))
        if unknown:
            raise ConfigError(
                f"platform_alerts.disable names {unknown}, which are not conditions; known: {list(PLATFORM_CONDITIONS)}"
            )
        if self.webhook_url and self.webhook_url_file:
            raise ConfigError("platform_alerts.webhook_url and webhook_url_file are both set; hint: keep one")
        if self.webhook_secret_file and not (self.webhook_url or self.webhook_url_file):
            raise ConfigError("platform_alerts.webhook_secret_file is set without a webhook_url(_file); hint: set one")


# the notification channel plugins lynex-box ships (plugins/lynex-channels, in its wheel), loaded unless trimmed
BUILTIN_CHANNELS: tuple[str, ...] = (
    "channel-webhook", "channel-slack", "channel-email", "channel-teams", "channel-pagerduty", "channel-opsgenie",
)  # fmt: skip


# the pipeline plugins lynex-box ships and runs by default: the hallucination-risk and quality detectors
# (plugins/lynex-detectors, in its wheel; docs/detectors.md)
BUILTIN_DETECTORS: tuple[str, ...] = ("detectors",)


@dataclass(frozen=True, slots=True)
class PiiSettings:
    """[pii]: server-side PII detection and redaction (docs/pii.md); each project chooses its mode."""

    default_mode: Literal["off", "detect", "redact"] = "off"
    redact_in_request: bool = False
    entropy_min_bits: float = field(default=4.0, metadata=_rng(0, 9))
    max_custom_patterns: int = field(default=16, metadata=_rng(0, 256))
    max_pattern_chars: int = field(default=256, metadata=_rng(1, 4096))
    max_masked_keys: int = field(default=64, metadata=_rng(0, 1024))


@dataclass(frozen=True, slots=True)
class PluginsSettings:
    """[plugins]: which plugins run, and the limits every topic subscriber runs under (docs/plugins.md).

    `configs` holds the per-plugin tables `[plugins.<name>]`, handed to that plugin as a dict; it is not a key."""

    enabled: tuple[str, ...] = ()
    queue_size: int = field(default=1000, metadata=_rng(1, 1_000_000))
    call_timeout_s: float = field(default=5.0, metadata=_rng(0.01, 3600))
    rate_per_s: float = field(default=100.0, metadata=_rng(0))
    rate_burst: int = field(default=100, metadata=_rng(1, 1_000_000))
    max_stuck_calls: int = field(default=2, metadata=_rng(1, 64))
    out_of_process: tuple[str, ...] = ()
    restart_backoff_s: float = field(default=1.0, metadata=_rng(0.01, 3600))
    restart_backoff_max_s: float = field(default=60.0, metadata=_rng(0.01, 86_400))
    trace_idle_s: float = field(default=30.0, metadata=_rng(0.1, 86_400))
    trace_idle_max_open: int = field(default=100_000, metadata=_rng(1, 10_000_000))
    usage_close_delay_s: float = field(default=900.0, metadata=_rng(0, 7 * 86_400))
    usage_close_check_s: float = field(default=60.0, metadata=_rng(0.1, 86_400))
    usage_catchup_days: int = field(default=7, metadata=_rng(1, 366))
    per_project: tuple[str, ...] = ()
    max_project_config_bytes: int = field(default=16_384, metadata=_rng(2, 1_048_576))
    project_reload_s: float = field(default=10.0, metadata=_rng(0.1, 3600))
    configs: dict[str, dict[str, Any]] = field(default_factory=dict, metadata={"tables": True})
    builtin_channels: tuple[str, ...] = BUILTIN_CHANNELS
    builtin_detectors: tuple[str, ...] = BUILTIN_DETECTORS

    def __post_init__(self) -> None:
        for key in ("out_of_process", "per_project"):
            stray = sorted(set(getattr(self, key)) - set(self.enabled))
            if stray:
                raise ConfigError(f"plugins.{key} names {stray}, which plugins.enabled does not; hint: enable them too")


def _check_cluster(settings: Settings) -> None:
    """Rules across sections: cluster mode shares data through an S3-compatible bucket and nothing else."""
    if settings.cluster.enabled and settings.bucket.type != "s3":
        raise ConfigError(
            f'cluster.enabled = true needs bucket.type = "s3", got bucket.type = {settings.bucket.type!r}; '
            "hint: point [bucket] at an S3-compatible store (AWS S3, MinIO, Ceph, R2) every node reaches, "
            "or set cluster.enabled = false"
        )


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole configuration; each field is one section of lynex.toml."""

    server: ServerSettings = field(default_factory=ServerSettings)
    wal: WalSettings = field(default_factory=WalSettings)
    head: HeadSettings = field(default_factory=HeadSettings)
    segments: SegmentSettings = field(default_factory=SegmentSettings)
    query: QuerySettings = field(default_factory=QuerySettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    oidc: OidcSettings = field(default_factory=OidcSettings)
    scim: ScimSettings = field(default_factory=ScimSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    alerts: AlertsSettings = field(default_factory=AlertsSettings)
    monitors: MonitorsSettings = field(default_factory=MonitorsSettings)
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    compaction: CompactionSettings = field(default_factory=CompactionSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    deletion: DeletionSettings = field(default_factory=DeletionSettings)
    offload: OffloadSettings = field(default_factory=OffloadSettings)
    backup: BackupSettings = field(default_factory=BackupSettings)
    bucket: BucketSettings = field(default_factory=BucketSettings)
    encryption: EncryptionSettings = field(default_factory=EncryptionSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    sentry: SentrySettings = field(default_factory=SentrySettings)
    platform_alerts: PlatformAlertsSettings = field(default_factory=PlatformAlertsSettings)
    plugins: PluginsSettings = field(default_factory=PluginsSettings)
    pii: PiiSettings = field(default_factory=PiiSettings)

    def __post_init__(self) -> None:
        _check_cluster(self)

    @property
    def data_dir(self) -> Path:
        return Path(self.server.data_dir)


def load_settings(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Defaults, then the TOML file, then `LYNEX_<SECTION>_<KEY>` variables, then explicit overrides."""
    raw: dict[str, dict[str, Any]] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc}") from exc
        for section, values in data.items():
            if not isinstance(values, dict):
                raise ConfigError(f"[{section}] must be a table, got {values!r}")
        _merge(raw, _renamed(data, lambda s, k: f"[{s}] {k}"))
    from_env: dict[str, dict[str, Any]] = {}
    for section, key, value in _env_overrides(os.environ if env is None else env):
        from_env.setdefault(section, {})[key] = value
    _merge(raw, _renamed(from_env, lambda s, k: f"LYNEX_{s}_{k}".upper()))
    given = {s: {k: v for k, v in values.items() if v is not None} for s, values in (overrides or {}).items()}
    _merge(raw, _renamed(given, lambda s, k: f"{s}.{k}"))
    return _build(raw)


# Keys that moved out of [lifecycle] when it was split into one section per concern: (old section, old key) ->
# (new section, new key). The old spellings still work, in lynex.toml and as LYNEX_LIFECYCLE_* variables, with a
# warning that names the new one; where both are given in the same place, the new one wins.
RENAMED: Final[dict[tuple[str, str], tuple[str, str]]] = {
    ("lifecycle", "compaction_interval_s"): ("compaction", "interval_s"),
    ("lifecycle", "compaction_min_segments"): ("compaction", "min_segments"),
    ("lifecycle", "compaction_small_bytes"): ("compaction", "small_bytes"),
    ("lifecycle", "compaction_max_bytes"): ("compaction", "max_bytes"),
    ("lifecycle", "compaction_window_s"): ("compaction", "window_s"),
    ("lifecycle", "retention_days"): ("retention", "days"),
    ("lifecycle", "retention_interval_s"): ("retention", "interval_s"),
    ("lifecycle", "deletion_max_delay_s"): ("deletion", "max_delay_s"),
    ("lifecycle", "hot_window_s"): ("offload", "hot_window_s"),
    ("lifecycle", "offload_interval_s"): ("offload", "interval_s"),
    ("lifecycle", "cache_max_bytes"): ("offload", "cache_max_bytes"),
    ("lifecycle", "backup_interval_s"): ("backup", "interval_s"),
    ("lifecycle", "backup_keep"): ("backup", "keep"),
    ("lifecycle", "backup_dir"): ("backup", "dir"),
    ("lifecycle", "export_chunk_s"): ("api", "export_chunk_s"),
    ("lifecycle", "export_workers"): ("api", "export_workers"),
    ("lifecycle", "export_per_project"): ("api", "export_per_project"),
    ("lifecycle", "export_timeout_s"): ("api", "export_timeout_s"),
}


def _renamed(layer: Mapping[str, Any], spell: Callable[[str, str], str]) -> dict[str, dict[str, Any]]:
    """One source's values (the file, the environment or the overrides) with renamed keys under their new names;
    `spell` writes a key the way that source names it, for the warning."""
    out = {section: dict(values) for section, values in layer.items()}
    for (old_section, old_key), (section, key) in RENAMED.items():
        values = out.get(old_section)
        if not isinstance(values, dict) or old_key not in values:
            continue
        value = values.pop(old_key)
        target = out.setdefault(section, {})
        old, new = spell(old_section, old_key), spell(section, key)
        if key in target:
            log.warning("deprecated setting %s ignored: %s is set too and wins", old, new)
        else:
            target[key] = value
            log.warning("deprecated setting %s: use %s instead", old, new)
    return out


def _merge(raw: dict[str, dict[str, Any]], layer: dict[str, dict[str, Any]]) -> None:
    for section, values in layer.items():
        raw.setdefault(section, {}).update(values)


def _section_types() -> dict[str, type]:
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings)}


def _env_overrides(env: Mapping[str, str]) -> list[tuple[str, str, str]]:
    sections = _section_types()
    found = []
    for name, value in env.items():
        if not name.startswith("LYNEX_"):
            continue
        rest = name[len("LYNEX_") :].lower()
        for section in sections:
            if rest.startswith(section + "_"):
                found.append((section, rest[len(section) + 1 :], value))
                break
    return found


def _build(raw: dict[str, dict[str, Any]]) -> Settings:
    sections = _section_types()
    unknown = sorted(set(raw) - set(sections))
    if unknown:
        raise ConfigError(f"unknown section(s) {unknown}; known sections are {sorted(sections)}")
    built = {name: _build_section(name, cls, raw.get(name, {})) for name, cls in sections.items()}
    cluster, head = built["cluster"], built["head"]
    if cluster.enabled and cluster.flush_age_s < head.max_age_s:
        # the other nodes see an event once its segment is flushed and published: the head's age bounds how late
        built["head"] = dataclasses.replace(head, max_age_s=cluster.flush_age_s)
    return Settings(**built)


def _build_section(section: str, cls: type, values: dict[str, Any]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    tables = next((f.name for f in fields.values() if f.metadata.get("tables")), None)
    if tables is not None:  # [section.<name>] sub-tables: kept as given, for the component that reads them
        values = dict(values)
        given = values.pop(tables, None) or {}
        subtables = {k: values.pop(k) for k in list(values) if isinstance(values[k], dict) and k not in fields}
        values[tables] = {**given, **subtables}
        fields = {**fields}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in [{section}]; known keys are {sorted(fields)}")
    out = {}
    for key, value in values.items():
        f = fields[key]
        if f.metadata.get("tables"):
            out[key] = _tables(f"{section}.<name>", value)
            continue
        out[key] = _coerce(f"{section}.{key}", hints[key], value, f.metadata)
    return cls(**out)


def _tables(name: str, value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ConfigError(f"[{name}] must be tables, got {value!r}")
    return {str(k): dict(v) for k, v in value.items()}


def _coerce(name: str, hint: Any, value: Any, limits: Mapping[str, Any]) -> Any:
    origin = get_origin(hint)
    if origin is tuple:  # a list of strings; from the environment, comma-separated
        items = [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"{name} = {value!r} must be a list of strings")
        return tuple(items)
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices:
            raise ConfigError(f"{name} = {value!r} is not one of {list(choices)}")
        return value
    if origin in (typing.Union, types.UnionType):
        hint = next(a for a in get_args(hint) if a is not type(None))
    if hint is bool:
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        if not isinstance(value, bool):
            raise ConfigError(f"{name} = {value!r} must be true or false")
        return value
    if hint in (int, float):
        try:
            number = hint(value) if isinstance(value, str) else value
        except ValueError as exc:
            raise ConfigError(f"{name} = {value!r} must be a number") from exc
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ConfigError(f"{name} = {value!r} must be a number")
        if isinstance(number, float) and not math.isfinite(number):  # NaN would pass every range check
            raise ConfigError(f"{name} = {value!r} must be a finite number")
        if hint is int and isinstance(number, float):
            if not number.is_integer():
                raise ConfigError(f"{name} = {value!r} must be a whole number")
            number = int(number)
        lo, hi = limits.get("min"), limits.get("max")
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise ConfigError(f"{name} = {value!r} is out of range [{lo}, {hi}]")
        return hint(number)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} = {value!r} must be a string")
        return value
    raise ConfigError(f"{name}: unsupported setting type {hint!r}")


def settings_as_toml_keys() -> dict[str, list[str]]:
    """Every section and key the loader knows: the test that keeps lynex.toml complete reads this."""
    return {
        name: [f.name for f in dataclasses.fields(cls) if not f.metadata.get("tables")]
        for name, cls in _section_types().items()
    }
