"""Plugins turned on and configured per project: the `project_plugins` table of meta.db (docs/plugins.md).

A plugin loaded for the instance and declared per project (`[plugins] per_project`, or `lynex_per_project = True` on
the plugin) receives only the events of the projects whose row here is enabled, with that row's configuration. A
configuration is a JSON object; the values of its secret keys (a key the plugin declares in `lynex_secret_keys`, or
whose name says it is one: `SECRET_WORDS`) are never stored or shown in clear: the `config` column holds the object
with each of them replaced by `MASK`, and `sealed_config` the secret values, sealed with the alerts secrets key
(alerts/sealing.py) and bound to the project and the plugin, so a blob copied onto another row does not open. A write
that sends `MASK` back for a secret key keeps the stored value, so a client never has to hold a secret.

Every write is audited in its transaction (`project_plugin.set`, `project_plugin.deleted`). This module must never
log, audit or return a secret value; only `enabled_map` (for the plugin host) opens them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import apsw
import orjson

from lynex_box.jobs import Job
from lynex_box.meta import audit
from lynex_box.meta.audit import Actor
from lynex_box.meta.db import MetaDB

log = logging.getLogger("lynex.plugins")

MASK: Final = "********"
SECRET_WORDS: Final = ("secret", "token", "password", "key", "url", "dsn", "auth", "credential")
RELOAD_JOB: Final = "reload_project_plugins"
_COLUMNS: Final = "project_id, plugin, enabled, config, sealed_config, updated_at, updated_by"


class Sealer(Protocol):
    """What seals the secret values (alerts/sealing.py `SecretBox`)."""

    def seal(self, plaintext: bytes, bound_to: str) -> bytes: ...

    def open(self, blob: bytes, bound_to: str) -> bytes: ...


class ConfigRefused(ValueError):
    """A configuration this module does not store; the message names the key, never its value."""


@dataclass(frozen=True, slots=True)
class ProjectPlugin:
    """A project's row for one plugin, as the API shows it (secret values masked)."""

    project_id: str
    plugin: str
    enabled: bool
    config: dict[str, Any]
    updated_at: int
    updated_by: str

    def as_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "config": self.config, "updated_at": self.updated_at,
                "updated_by": self.updated_by}  # fmt: skip


def is_secret(key: str, declared: Iterable[str] = ()) -> bool:
    """True for a key the plugin declares secret or whose name says it is one (`api_key`, `webhook_url`)."""
    return key in declared or any(word in key.lower() for word in SECRET_WORDS)


def _bound(project_id: str, plugin: str) -> str:
    return f"project_plugins:{project_id}:{plugin}"


def _row(r: tuple[Any, ...]) -> ProjectPlugin:
    return ProjectPlugin(str(r[0]), str(r[1]), bool(r[2]), orjson.loads(r[3]), int(r[5]), str(r[6]))


def list_for(db: MetaDB, project_id: str) -> dict[str, ProjectPlugin]:
    """The project's rows by plugin name (secret values masked)."""
    rows = db.read(f"SELECT {_COLUMNS} FROM project_plugins WHERE project_id = ? ORDER BY plugin", (project_id,))
    return {str(r[1]): _row(r) for r in rows}


def list_all(db: MetaDB) -> list[ProjectPlugin]:
    """Every project's rows (secret values masked), by project then plugin."""
    return [_row(r) for r in db.read(f"SELECT {_COLUMNS} FROM project_plugins ORDER BY project_id, plugin")]


def _split(
    config: dict[str, Any], old: dict[str, Any], declared: Iterable[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the public config, the secret values): `MASK` given for a secret key keeps its stored value `old[key]`."""
    public, secrets = {}, {}
    declared = tuple(declared)
    for key, value in config.items():
        if not is_secret(key, declared) or value is None or value == "":
            public[key] = value
            continue
        if value == MASK:
            if key not in old:
                raise ConfigRefused(f"config.{key} is the mask {MASK!r} but no value is stored; hint: send the value")
            value = old[key]
        secrets[key], public[key] = value, MASK
    return public, secrets


def _open_or_nothing(box: Sealer, blob: bytes, bound: str) -> dict[str, Any]:
    """The stored secret values, or none when they do not open (another key): a write then needs them again."""
    try:
        opened: dict[str, Any] = orjson.loads(box.open(blob, bound))
    except Exception:  # SealError (alerts/sealing.py): the values are lost; `_split` asks for them
        return {}
    return opened


def put(
    db: MetaDB,
    box: Sealer,
    project_id: str,
    plugin: str,
    enabled: bool,
    config: dict[str, Any] | None,
    declared: Iterable[str],
    actor: Actor,
) -> ProjectPlugin:
    """Store the project's row for `plugin` (`config` None: keep the stored one) and audit it, in one transaction."""
    declared = tuple(declared)
    bound = _bound(project_id, plugin)

    def tx(conn: apsw.Connection) -> ProjectPlugin:
        found = list(conn.execute("SELECT config, sealed_config FROM project_plugins WHERE project_id = ? AND "
                                  "plugin = ?", (project_id, plugin)))  # fmt: skip
        old_public: dict[str, Any] = orjson.loads(found[0][0]) if found else {}
        old = _open_or_nothing(box, found[0][1], bound) if found and found[0][1] else {}
        if config is None:
            public, secrets = old_public, old
        else:
            public, secrets = _split(config, old, declared)
        sealed = box.seal(orjson.dumps(secrets), bound) if secrets else None
        now, by = time.time_ns() // 1000, f"{actor.type}:{actor.label or actor.id}"
        conn.execute(
            f"INSERT OR REPLACE INTO project_plugins ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (project_id, plugin, int(enabled), orjson.dumps(public).decode(), sealed, now, by),
        )
        details = {"plugin": plugin, "enabled": enabled, "config_keys": sorted(public)}
        audit.record(conn, actor, "project_plugin.set", project_id=project_id, target_type="plugin",
                     target_id=plugin, details=details)  # fmt: skip
        return ProjectPlugin(project_id, plugin, enabled, public, now, by)

    return db.write(tx)


def delete(db: MetaDB, project_id: str, plugin: str, actor: Actor) -> bool:
    """Forget the project's row for `plugin` (the plugin is off for it again); audited when there was one."""

    def tx(conn: apsw.Connection) -> bool:
        conn.execute("DELETE FROM project_plugins WHERE project_id = ? AND plugin = ?", (project_id, plugin))
        if conn.changes() == 0:
            return False
        audit.record(conn, actor, "project_plugin.deleted", project_id=project_id, target_type="plugin",
                     target_id=plugin, details={"plugin": plugin})  # fmt: skip
        return True

    return db.write(tx)


def enabled_map(db: MetaDB, box: Sealer) -> dict[str, dict[str, dict[str, Any]]]:
    """plugin -> project id -> its configuration in clear, for every enabled row: what the plugin host delivers
    with. A row whose secrets do not open (another sealing key) is left out and logged, never its values."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for r in db.read(f"SELECT {_COLUMNS} FROM project_plugins WHERE enabled = 1"):
        project_id, plugin, config = str(r[0]), str(r[1]), orjson.loads(r[3])
        if r[4]:
            try:
                config.update(orjson.loads(box.open(r[4], _bound(project_id, plugin))))
            except Exception as exc:  # one row's damage is its own: the others are delivered
                log.error("plugin config of a project not opened plugin=%s project_id=%s error=%s; hint: set its "
                          "secret values again", plugin, project_id, exc)  # fmt: skip
                continue
        out.setdefault(plugin, {})[project_id] = config
    return out


class ProjectPlugins:
    """The table as the server uses it: the routes' reads and writes, and `reload`, which hands the plugin host
    the enabled map (`apply`: `PluginHost.set_projects`) after a write, after the cluster's metadata log is applied,
    and every `every_s` seconds (a change made with the CLI, another process)."""

    def __init__(
        self,
        db: MetaDB,
        box: Sealer,
        apply: Callable[[dict[str, dict[str, dict[str, Any]]]], None],
        every_s: float,
    ) -> None:
        self.db, self.box, self._apply, self._every_s = db, box, apply, every_s

    def list_for(self, project_id: str) -> dict[str, ProjectPlugin]:
        return list_for(self.db, project_id)

    def put(
        self, project_id: str, plugin: str, enabled: bool, config: dict[str, Any] | None, declared: Iterable[str],
        actor: Actor,
    ) -> ProjectPlugin:  # fmt: skip
        return put(self.db, self.box, project_id, plugin, enabled, config, declared, actor)

    def delete(self, project_id: str, plugin: str, actor: Actor) -> bool:
        return delete(self.db, project_id, plugin, actor)

    def reload(self) -> None:
        self._apply(enabled_map(self.db, self.box))

    def jobs(self) -> list[Job]:
        return [Job.blocking(RELOAD_JOB, self.reload, self._every_s)]
