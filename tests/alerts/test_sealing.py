"""Sealed channel secrets: they open with the same key and rule id only; the key file is private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lynex_box.alerts.sealing import SealError, SecretBox


def test_a_sealed_value_opens_with_its_key_and_rule_only(tmp_path: Path) -> None:
    box = SecretBox.from_file(tmp_path / "k.key")
    blob = box.seal(b'{"url": "https://x"}', "alr_1")
    assert b"https://x" not in blob
    assert box.open(blob, "alr_1") == b'{"url": "https://x"}'
    with pytest.raises(SealError, match="does not open"):
        box.open(blob, "alr_2")  # copied onto another rule
    with pytest.raises(SealError, match="does not open"):
        SecretBox.from_file(tmp_path / "other.key").open(blob, "alr_1")
    damaged = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(SealError):
        box.open(damaged, "alr_1")
    with pytest.raises(SealError, match="damaged"):
        box.open(b"\x02short", "alr_1")


def test_the_key_file_is_created_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "alerts.key"
    first = SecretBox.from_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    blob = first.seal(b"v", "r")
    assert SecretBox.from_file(path).open(blob, "r") == b"v"  # the same key on the next start
    assert [p.name for p in path.parent.iterdir()] == ["alerts.key"]  # no temporary file left behind
    path.write_text("not hex")
    with pytest.raises(ValueError, match="hex characters"):
        SecretBox.from_file(path)
