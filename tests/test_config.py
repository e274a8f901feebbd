"""Configuration: defaults, the documented lynex.toml, environment overrides, and clear rejections."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from lynex_box.config import ConfigError, Settings, load_settings, settings_as_toml_keys

REPO_TOML = Path(__file__).resolve().parents[1] / "lynex.toml"


def test_lynex_toml_documents_every_key_with_its_default() -> None:
    documented = tomllib.loads(REPO_TOML.read_text())
    assert {s: sorted(keys) for s, keys in documented.items()} == {
        s: sorted(keys) for s, keys in settings_as_toml_keys().items()
    }
    defaults = Settings()
    for section, keys in documented.items():
        for key, value in keys.items():
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
