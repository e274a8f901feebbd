"""Configuration: defaults, the documented lynex.toml, environment overrides, and clear rejections."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Any

import pytest

from lynex_box.config import RENAMED, ConfigError, Settings, load_settings, settings_as_toml_keys

REPO_TOML = Path(__file__).resolve().parents[1] / "lynex.toml"


def test_lynex_toml_documents_every_key_with_its_default() -> None:
    documented = tomllib.loads(REPO_TOML.read_text())
    assert {s: sorted(keys) for s, keys in documented.items()} == {
        s: sorted(keys) for s, keys in settings_as_toml_keys().items()
    }
    defaults = Settings()
    for section, keys in documented.items():
        for key, value in keys.items():
            value = tuple(value) if isinstance(value, list) else value  # lists load as tuples
            assert getattr(getattr(defaults, section), key) == value, f"{section}.{key} default differs"
    assert load_settings(REPO_TOML, env={}) == defaults


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "l.toml"
    path.write_text('[wal]\ndurability = "fsync"\n[head]\nmax_rows = 5\n')
    s = load_settings(path, env={"LYNEX_WAL_DURABILITY": "os", "LYNEX_HEAD_MAX_AGE_S": "2.5", "LYNEX_SERVER_DEV": "1"})
    assert (s.wal.durability, s.head.max_rows, s.head.max_age_s, s.server.dev) == ("os", 5, 2.5, True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[wal]\ndurabilty = 'os'\n", "unknown key(s) ['durabilty'] in [wal]"),
        ("[walls]\nx = 1\n", "unknown section(s) ['walls']"),
        ("[wal]\ndurability = 'sometimes'\n", "wal.durability = 'sometimes' is not one of ['fsync', 'os']"),
        ("[head]\nmax_rows = 0\n", "head.max_rows = 0 is out of range"),
        ("[head]\nmax_rows = 'many'\n", "head.max_rows = 'many' must be a number"),
        ("[server]\nport = 70000\n", "server.port = 70000 is out of range"),
        ("[server]\ndev = 'maybe'\n", "server.dev = 'maybe' must be true or false"),
        ("[head\n", "is not valid TOML"),
    ],
)
def test_bad_settings_are_rejected_with_a_message_naming_them(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "l.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert message in str(info.value)


def test_a_bad_environment_value_is_named() -> None:
    with pytest.raises(ConfigError, match=r"ingest\.max_body_bytes = 'lots'"):
        load_settings(env={"LYNEX_INGEST_MAX_BODY_BYTES": "lots"})


# ------------------------------------------------------------------ keys that moved out of [lifecycle]
def _moved_value(section: str, key: str) -> Any:
    """A valid value of `section.key` other than its default."""
    default = getattr(getattr(Settings(), section), key)
    return "/srv/lynex-backups" if isinstance(default, str) else default + 1


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "lynex.config" and r.levelno == logging.WARNING]


@pytest.mark.parametrize(("old", "new"), sorted(RENAMED.items()), ids=lambda k: ".".join(k))
def test_a_moved_lifecycle_key_in_the_file_still_takes_effect_with_one_warning_naming_the_new_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, old: tuple[str, str], new: tuple[str, str]
) -> None:
    value = _moved_value(*new)
    path = tmp_path / "l.toml"
    path.write_text(f"[{old[0]}]\n{old[1]} = {value!r}\n".replace("'", '"'))
    with caplog.at_level(logging.WARNING, logger="lynex.config"):
        settings = load_settings(path, env={})
    assert getattr(getattr(settings, new[0]), new[1]) == value
    assert _warnings(caplog) == [f"deprecated setting [{old[0]}] {old[1]}: use [{new[0]}] {new[1]} instead"]


def test_a_moved_lifecycle_key_in_the_environment_still_takes_effect_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {"LYNEX_LIFECYCLE_RETENTION_DAYS": "7", "LYNEX_LIFECYCLE_EXPORT_WORKERS": "5"}
    with caplog.at_level(logging.WARNING, logger="lynex.config"):
        settings = load_settings(env=env)
    assert (settings.retention.days, settings.api.export_workers) == (7, 5)
    assert sorted(_warnings(caplog)) == [
        "deprecated setting LYNEX_LIFECYCLE_EXPORT_WORKERS: use LYNEX_API_EXPORT_WORKERS instead",
        "deprecated setting LYNEX_LIFECYCLE_RETENTION_DAYS: use LYNEX_RETENTION_DAYS instead",
    ]


def test_the_new_key_wins_over_the_old_one_given_in_the_same_place_and_the_warning_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "l.toml"
    path.write_text("[lifecycle]\nretention_days = 7\ngrace_period_s = 1.0\n[retention]\ndays = 9\n")
    env = {"LYNEX_LIFECYCLE_HOT_WINDOW_S": "60", "LYNEX_OFFLOAD_HOT_WINDOW_S": "120"}
    with caplog.at_level(logging.WARNING, logger="lynex.config"):
        settings = load_settings(path, env=env)
    assert (settings.retention.days, settings.offload.hot_window_s, settings.lifecycle.grace_period_s) == (9, 120, 1.0)
    assert sorted(_warnings(caplog)) == [
        "deprecated setting LYNEX_LIFECYCLE_HOT_WINDOW_S ignored: LYNEX_OFFLOAD_HOT_WINDOW_S is set too and wins",
        "deprecated setting [lifecycle] retention_days ignored: [retention] days is set too and wins",
    ]


def test_an_old_name_in_the_environment_still_overrides_the_file_as_any_variable_does(tmp_path: Path) -> None:
    path = tmp_path / "l.toml"
    path.write_text("[retention]\ndays = 9\n")
    assert load_settings(path, env={"LYNEX_LIFECYCLE_RETENTION_DAYS": "7"}).retention.days == 7


def test_the_documented_file_and_new_names_load_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="lynex.config"):
        load_settings(REPO_TOML, env={"LYNEX_RETENTION_DAYS": "3", "LYNEX_LIFECYCLE_GRACE_PERIOD_S": "0"})
    assert _warnings(caplog) == []


def test_every_moved_key_has_a_new_home_and_is_no_longer_read_where_it_was() -> None:
    known = settings_as_toml_keys()
    for (old_section, old_key), (section, key) in RENAMED.items():
        assert key in known[section], f"{old_section}.{old_key} moved to {section}.{key}, which does not exist"
        assert old_key not in known[old_section], f"{old_section}.{old_key} is both moved and still a setting"


# ------------------------------------------------------------------ the DuckDB memory budget
def test_the_memory_budget_is_divided_between_the_duckdb_databases_by_their_shares() -> None:
    query = Settings().query
    assert (query.queries_memory_mb, query.rewrites_memory_mb, query.scans_memory_mb) == (1024, 512, 512)
    assert sum((query.queries_memory_mb, query.rewrites_memory_mb, query.scans_memory_mb)) <= query.memory_limit_mb
    scaled = load_settings(env={"LYNEX_QUERY_MEMORY_LIMIT_MB": "4000", "LYNEX_QUERY_MEMORY_SHARE_SCANS": "0.1"}).query
    assert (scaled.queries_memory_mb, scaled.rewrites_memory_mb, scaled.scans_memory_mb) == (2000, 1000, 400)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[query]\nmemory_share_queries = 0.6\nmemory_share_rewrites = 0.3\n",
            "query.memory_share_queries (0.6) + query.memory_share_rewrites (0.3) + query.memory_share_scans (0.25) "
            "= 1.15 is more than 1",
        ),
        (
            "[query]\nmemory_limit_mb = 64\nmemory_share_scans = 0.2\nmemory_share_rewrites = 0.3\n",
            "query.memory_share_scans = 0.2 of query.memory_limit_mb = 64 is 12 MB, under the 16 MB",
        ),
    ],
)
def test_a_memory_budget_divided_into_more_than_it_holds_is_rejected_naming_the_keys(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "l.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert message in str(info.value)


def test_cluster_settings_default_off_and_read_from_the_environment() -> None:
    assert Settings().cluster.enabled is False
    env = {
        "LYNEX_CLUSTER_ENABLED": "true",
        "LYNEX_CLUSTER_LEASE_TTL_S": "30",
        "LYNEX_CLUSTER_HEARTBEAT_S": "5",
        "LYNEX_CLUSTER_ADVERTISE_URL": "http://10.0.0.5:4318",
        "LYNEX_BUCKET_TYPE": "s3",
        "LYNEX_BUCKET_BUCKET": "lynex",
    }
    s = load_settings(env=env)
    assert (s.cluster.enabled, s.cluster.lease_ttl_s, s.cluster.heartbeat_s) == (True, 30.0, 5.0)
    assert s.cluster.advertise_url == "http://10.0.0.5:4318"


@pytest.mark.parametrize("bucket_type", ["none", "directory"])
def test_cluster_mode_without_an_s3_bucket_is_refused_naming_both_keys(tmp_path: Path, bucket_type: str) -> None:
    path = tmp_path / "l.toml"
    path.write_text(f'[cluster]\nenabled = true\n[bucket]\ntype = "{bucket_type}"\ndirectory = "/srv/b"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert "cluster.enabled = true" in message
    assert f"bucket.type = {bucket_type!r}" in message
    assert "hint:" in message


def test_cluster_mode_with_an_s3_bucket_loads() -> None:
    s = load_settings(env={}, overrides={"cluster": {"enabled": True}, "bucket": {"type": "s3", "bucket": "b"}})
    assert s.cluster.enabled and s.bucket.type == "s3"


def test_cluster_mode_flushes_the_head_at_least_every_flush_age_s() -> None:
    s3 = {"type": "s3", "bucket": "b"}
    assert load_settings(env={}).head.max_age_s == 60.0  # alone: the head's own default
    assert load_settings(env={}, overrides={"cluster": {"enabled": True}, "bucket": s3}).head.max_age_s == 2.0
    lower = {"cluster": {"enabled": True, "flush_age_s": 5.0}, "head": {"max_age_s": 1.0}, "bucket": s3}
    assert load_settings(env={}, overrides=lower).head.max_age_s == 1.0  # the lower of the two
    env = {"LYNEX_CLUSTER_ENABLED": "true", "LYNEX_CLUSTER_FLUSH_AGE_S": "0.5", "LYNEX_BUCKET_TYPE": "s3",
           "LYNEX_BUCKET_BUCKET": "b"}  # fmt: skip
    assert load_settings(env=env).head.max_age_s == 0.5


@pytest.mark.parametrize(
    ("cluster", "message"),
    [
        ({"heartbeat_s": 7.5, "lease_ttl_s": 15.0}, "cluster.heartbeat_s = 7.5 must be less than half"),
        ({"heartbeat_s": 2.0, "lease_ttl_s": 3.0}, "cluster.lease_ttl_s = 3.0"),
        ({"advertise_url": "10.0.0.5:4318"}, "cluster.advertise_url = '10.0.0.5:4318' must start with http"),
        ({"lease_ttl_s": 0}, "cluster.lease_ttl_s = 0 is out of range"),
    ],
)
def test_bad_cluster_settings_are_refused_even_when_cluster_mode_is_off(
    cluster: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={}, overrides={"cluster": cluster})
    assert message in str(info.value)


def test_plugins_enabled_and_per_plugin_tables(tmp_path: Path) -> None:
    path = tmp_path / "l.toml"
    path.write_text('[plugins]\nenabled = ["a", "b"]\nqueue_size = 7\n[plugins.a]\nurl = "http://x/"\nn = 2\n')
    s = load_settings(path, env={})
    assert (s.plugins.enabled, s.plugins.queue_size) == (("a", "b"), 7)
    assert s.plugins.configs == {"a": {"url": "http://x/", "n": 2}}
    assert load_settings(path, env={"LYNEX_PLUGINS_ENABLED": "c, d"}).plugins.enabled == ("c", "d")
    with pytest.raises(ConfigError, match=r"out_of_process names \['z'\], which plugins.enabled does not"):
        load_settings(path, env={"LYNEX_PLUGINS_OUT_OF_PROCESS": "z"})
    path.write_text("[plugins]\nenabled = [1]\n")
    with pytest.raises(ConfigError, match=r"plugins\.enabled = \[1\] must be a list of strings"):
        load_settings(path, env={})
