"""The cluster secret: the key every node signs and checks forwarded metadata writes with (docs/format/cluster.md).

32 random bytes made once, by the node that founds the cluster, and kept in `meta.db` as
`instance_settings.cluster_secret` (hex). Joined nodes get the same row with the rest of the metadata (the
metadata log, step 3). This module is the one place that reads or makes it; it never logs it. Blocking (SQLite).
"""

from __future__ import annotations

import secrets

import apsw

from lynex_box.meta.db import MetaDB

CLUSTER_SECRET_SETTING = "cluster_secret"
SECRET_BYTES = 32


def cluster_secret(db: MetaDB) -> bytes | None:
    """The cluster secret, or None while this node has none (a joined node before its metadata arrived)."""
    rows = db.read("SELECT value FROM instance_settings WHERE key = ?", (CLUSTER_SECRET_SETTING,))
    if not rows:
        return None
    try:
        secret = bytes.fromhex(str(rows[0][0]))
    except ValueError:
        return None  # damaged: as if missing, so nothing is signed or accepted with it
    return secret if len(secret) >= 16 else None


def ensure_cluster_secret(db: MetaDB) -> bytes:
    """The cluster secret, made now if this node has none (on the node that founds the cluster)."""
    existing = cluster_secret(db)
    if existing is not None:
        return existing
    fresh = secrets.token_bytes(SECRET_BYTES).hex()

    def tx(conn: apsw.Connection) -> None:
        conn.execute(
            "INSERT INTO instance_settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (CLUSTER_SECRET_SETTING, fresh),
        )

    db.write(tx)
    made = cluster_secret(db)
    assert made is not None
    return made
