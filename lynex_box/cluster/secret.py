"""The cluster secret: 32 random bytes generated when the cluster is founded, which the nodes use to authenticate
what they send each other (the forwarding of admin writes to the `metadata` lease holder signs its requests with an
HMAC under it).

It lives in `instance_settings.cluster_secret`, so it travels to every node in the metadata snapshot and log. With
a key-encryption key configured (`[encryption]`) it is stored wrapped by the KEK (`kek:<base64>`), so a copy of
meta.db or of the bucket alone does not reveal it, and every node then needs the same KEK; without one it is stored
as `plain:<base64>`. This module must never log the secret.
"""

from __future__ import annotations

import base64
import secrets
from typing import Final

import apsw

from lynex_box.cluster.records import ClusterError
from lynex_box.meta.db import MetaDB
from lynex_box.segments.keywrap import Kek

SECRET_SETTING: Final = "cluster_secret"
SECRET_BYTES: Final = 32
_AAD: Final = "cluster_secret"  # the wrap's associated data: the blob opens as nothing else


class SecretUnavailable(ClusterError):
    """The cluster secret is missing or sealed with a KEK this node does not have."""

    default_hint = (
        "give every node of the cluster the same [encryption] KEK; a node joined before the secret existed gets it "
        "from the metadata log once the founding node runs this release"
    )


def ensure_secret(conn: apsw.Connection, kek: Kek | None) -> bool:
    """Generate and store the secret unless the instance has one (inside the caller's transaction); True when it
    was generated."""
    if list(conn.execute("SELECT 1 FROM instance_settings WHERE key = ?", (SECRET_SETTING,))):
        return False
    raw = secrets.token_bytes(SECRET_BYTES)
    sealed = kek is not None
    stored = kek.wrap(raw, _AAD) if kek is not None else raw
    value = f"{'kek' if sealed else 'plain'}:{base64.b64encode(stored).decode()}"
    conn.execute("INSERT INTO instance_settings (key, value) VALUES (?, ?)", (SECRET_SETTING, value))
    return True


def cluster_secret(db: MetaDB, kek: Kek | None = None) -> bytes:
    """The cluster secret (32 bytes); `kek` opens it when it is stored sealed. Raises `SecretUnavailable`."""
    rows = db.read("SELECT value FROM instance_settings WHERE key = ?", (SECRET_SETTING,))
    if not rows:
        raise SecretUnavailable("this node's meta.db holds no cluster secret (instance_settings.cluster_secret)")
    kind, _, body = str(rows[0][0]).partition(":")
    if kind == "plain":
        return base64.b64decode(body)
    if kind == "kek":
        if kek is None:
            raise SecretUnavailable("the cluster secret is sealed with a KEK and this node has none configured")
        return kek.unwrap(base64.b64decode(body), _AAD)
    raise SecretUnavailable(f"instance_settings.cluster_secret has an unknown form {kind!r}")
