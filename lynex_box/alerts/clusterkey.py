"""The alerts sealing key in cluster mode: one key for the whole cluster, carried by the cluster's metadata.

A rule's channels are sealed (`sealing.py`) on the `metadata` lease holder, where rule writes go, and the sealed
blobs travel to every node in the metadata log; any node that holds the `alerts` lease must open them. So in
cluster mode the key lives in `instance_settings.alerts_secrets_key`, a replicated setting: wrapped by the KEK
(`kek:<base64>`, AAD `alerts_secrets_key`) when `[encryption]` configures one, else `plain:<base64>`, in which case
the bucket's metadata snapshots and log hold the key in the clear (docs/security.md: configure a KEK, or set
`[alerts] secrets_key_file` on every node). The holder publishes its own key when the setting is missing (the
founder at its first start; an older cluster's holder after an upgrade), unless that key fails to open a rule
already stored. Every other node then seals and opens with the published key instead of its local file, and
switches to it when it arrives later in the log (`refresh`).

`[alerts] secrets_key_file` set explicitly means the operator manages the key: it is used as is and never
published; at start every stored rule is tried with it, and each one it does not open is logged as an error
naming the rule. The same check runs with the published key. This module never logs a key.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import apsw

from lynex_box.alerts.sealing import SealError, SecretBox
from lynex_box.meta.db import MetaDB
from lynex_box.segments.keywrap import Kek, WrongKek

log = logging.getLogger("lynex.alerts")

SETTING: Final = "alerts_secrets_key"
_AAD: Final = "alerts_secrets_key"  # the wrap's associated data: the blob opens as nothing else


class SharedKeyUnavailable(Exception):
    """The published key cannot be read on this node (sealed with a KEK it lacks, or damaged)."""


def read_shared_key(db: MetaDB, kek: Kek | None) -> bytes | None:
    """The key the cluster's metadata carries, or None when none is published. Raises `SharedKeyUnavailable`."""
    rows = db.read("SELECT value FROM instance_settings WHERE key = ?", (SETTING,))
    if not rows:
        return None
    kind, _, body = str(rows[0][0]).partition(":")
    try:
        raw = base64.b64decode(body, validate=True)
    except ValueError:
        raise SharedKeyUnavailable(f"instance_settings.{SETTING} is damaged (not base64)") from None
    if kind == "plain":
        return raw
    if kind == "kek":
        if kek is None:
            raise SharedKeyUnavailable(
                f"instance_settings.{SETTING} is sealed with a KEK and this node has none configured; hint: give "
                "every node of the cluster the same [encryption] KEK"
            )
        try:
            return kek.unwrap(raw, _AAD)
        except WrongKek:
            raise SharedKeyUnavailable(
                f"instance_settings.{SETTING} does not open with this node's KEK; hint: give every node of the "
                "cluster the same [encryption] KEK"
            ) from None
    raise SharedKeyUnavailable(f"instance_settings.{SETTING} has an unknown form {kind!r}")


def stored_value(key: bytes, kek: Kek | None) -> str:
    """The setting's value for `key`: wrapped by `kek` when there is one."""
    if kek is not None:
        return "kek:" + base64.b64encode(kek.wrap(key, _AAD)).decode()
    return "plain:" + base64.b64encode(key).decode()


def unopened_rules(db: MetaDB, box: SecretBox) -> list[tuple[str, str, str]]:
    """(project id, rule id, rule name) of each stored rule whose sealed channels `box` does not open."""
    rows = db.read("SELECT project_id, id, name, sealed_channels FROM alert_rules WHERE sealed_channels IS NOT NULL")
    out = []
    for project_id, rule_id, name, sealed in rows:
        try:
            box.open(bytes(sealed), str(rule_id))
        except SealError:
            out.append((str(project_id), str(rule_id), str(name)))
    return out


@dataclass(frozen=True, slots=True)
class ClusterKey:
    """What app.py hands the alerts service in cluster mode: the KEK (or None) and whether this node may publish
    the key now."""

    kek: Kek | None
    may_publish: Callable[[], bool]


class ClusterSealing:
    """Keeps `box` on the cluster's key: `start` once before the alerts service starts, `refresh` after the
    metadata log changed `instance_settings`. `may_publish()` says whether this node may write the setting now
    (it holds the `metadata` lease and is not read-only)."""

    def __init__(
        self, db: MetaDB, box: SecretBox, kek: Kek | None, explicit: bool, may_publish: Callable[[], bool]
    ) -> None:
        self.db = db
        self.box = box
        self.kek = kek
        self.explicit = explicit
        self.may_publish = may_publish

    def start(self) -> None:
        """Settle the key (blocking), then log each stored rule it does not open."""
        self.refresh()
        for project_id, rule_id, name in unopened_rules(self.db, self.box):
            log.error(
                "alert rule channels do not open with this node's alerts secrets key rule=%s project=%s name=%r; "
                "hint: %s",
                rule_id, project_id, name,
                "give every node the same [alerts] secrets_key_file" if self.explicit
                else "set the rule's channels again through the metadata holder",
            )  # fmt: skip

    def refresh(self) -> None:
        """Use the published key (or publish this node's own); never raises: a key that cannot be read is
        logged and the current one kept."""
        if self.explicit:
            return  # the operator's key, never published nor replaced
        try:
            shared = read_shared_key(self.db, self.kek)
        except SharedKeyUnavailable as exc:
            log.error("the cluster's alerts secrets key is not used: %s", exc)
            return
        if shared is None:
            self._publish()
        elif not self.box.holds(shared):
            self.box.rekey(shared)
            log.info("alerts secrets key: this node now uses the cluster's key (instance_settings.%s)", SETTING)

    def _publish(self) -> None:
        if not self.may_publish():
            return  # the holder publishes it; until then this node's own key
        unopened = unopened_rules(self.db, self.box)
        if unopened:
            log.error(
                "this node's alerts secrets key is not published for the cluster: it does not open %d stored "
                "rule(s), first rule=%s; hint: start the node whose key sealed them as the metadata holder",
                len(unopened), unopened[0][1],
            )  # fmt: skip
            return
        value = stored_value(self.box.key, self.kek)

        def tx(conn: apsw.Connection) -> bool:
            if list(conn.execute("SELECT 1 FROM instance_settings WHERE key = ?", (SETTING,))):
                return False
            conn.execute("INSERT INTO instance_settings (key, value) VALUES (?, ?)", (SETTING, value))
            return True

        try:
            published = self.db.write(tx)
        except Exception as exc:  # the bucket unreachable, the lease lost: the next refresh tries again
            log.warning("alerts secrets key not published yet error=%s", type(exc).__name__)
            return
        if published:
            sealed = "wrapped by the KEK" if self.kek is not None else "in the clear (no [encryption] KEK)"
            log.info("alerts secrets key published for the cluster in instance_settings.%s, %s", SETTING, sealed)
