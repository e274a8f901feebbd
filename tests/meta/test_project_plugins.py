"""Per-project plugin settings in meta.db: secret values are stored sealed and shown masked, the mask sent back keeps
them, a sealed blob copied onto another project's row does not open, and the host's map holds the values in clear."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from lynex_box.alerts.sealing import SecretBox
from lynex_box.auth.admin import CLI_ACTOR, create_org, create_project
from lynex_box.meta import project_plugins as store
from lynex_box.meta.db import MetaDB

MASK = store.MASK


def test_secret_values_are_sealed_masked_and_kept_when_the_mask_comes_back(tmp_path: Path) -> None:
    db = MetaDB(tmp_path / "meta.db")
    box = SecretBox(secrets.token_bytes(32))
    org = create_org(db, "o")
    a, b = create_project(db, "a", org), create_project(db, "b", org)
    config = {"webhook_url": "https://h.example/k=abc", "signing": "s-1", "label": "A", "empty_token": ""}
    row = store.put(db, box, a, "notify", True, config, ("signing",), CLI_ACTOR)
    assert row.config == {"webhook_url": MASK, "signing": MASK, "label": "A", "empty_token": ""}
    raw = db.read("SELECT config, sealed_config FROM project_plugins")[0]
    assert "abc" not in raw[0] and "s-1" not in raw[0] and b"s-1" not in raw[1]
    assert store.enabled_map(db, box) == {"notify": {a: config}}

    kept = store.put(db, box, a, "notify", True, {"webhook_url": MASK, "signing": MASK, "label": "A2"}, ("signing",),
                     CLI_ACTOR)  # fmt: skip
    assert kept.config["label"] == "A2"
    expected = {"webhook_url": "https://h.example/k=abc", "signing": "s-1", "label": "A2"}
    assert store.enabled_map(db, box) == {"notify": {a: expected}}
    with pytest.raises(store.ConfigRefused, match=r"config\.token is the mask"):
        store.put(db, box, a, "notify", True, {"token": MASK}, (), CLI_ACTOR)

    # turned off: kept, not delivered; B's row with A's sealed blob copied in does not open and is left out
    store.put(db, box, a, "notify", False, None, (), CLI_ACTOR)
    assert store.enabled_map(db, box) == {} and store.list_for(db, a)["notify"].config["label"] == "A2"
    store.put(db, box, b, "notify", True, {"label": "B"}, (), CLI_ACTOR)
    db.write(lambda conn: conn.execute(
        "UPDATE project_plugins SET sealed_config = (SELECT sealed_config FROM project_plugins WHERE project_id = ?) "
        "WHERE project_id = ?", (a, b)))  # fmt: skip
    assert store.enabled_map(db, box) == {}
    assert store.delete(db, a, "notify", CLI_ACTOR) and not store.delete(db, a, "notify", CLI_ACTOR)
    actions = [r[0] for r in db.read("SELECT action FROM audit_log WHERE action LIKE 'project_plugin.%' ORDER BY id")]
    assert actions == ["project_plugin.set"] * 4 + ["project_plugin.deleted"]
    db.close()
