"""Encryption at rest of notification URLs and signing secrets (AES-256-GCM), with a key kept apart from meta.db.

A webhook's signing secret must be read back to sign, and a Slack or webhook URL often carries a token, so they
cannot be hashed like API keys; they are sealed instead. The key lives in its own file (`[alerts]
secrets_key_file`, by default `<data>/alerts-secrets.key`), never in meta.db, so a copy of the database or a
metadata backup alone reveals nothing. Each sealed value is bound to its rule id (AES-GCM associated data):
a blob copied onto another rule does not open. This module must never log a key, a plaintext or a blob.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lynex_box import fsutil

VERSION: Final = b"\x01"
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
DEFAULT_KEY_FILE: Final = "alerts-secrets.key"


class SealError(Exception):
    """A sealed value that cannot be opened (another key, a damaged blob); the message says what to do."""


class SecretBox:
    """Seal and open small values with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the alerts secrets key must be {KEY_BYTES} bytes, got {len(key)}")
        self._key = key
        self._aead = AESGCM(key)

    @property
    def key(self) -> bytes:
        """The key itself, to publish it wrapped (cluster mode, `clusterkey.py`); never log it."""
        return self._key

    def holds(self, key: bytes) -> bool:
        """Whether this box seals with `key` (compared in constant time)."""
        return secrets.compare_digest(self._key, key)

    def rekey(self, key: bytes) -> None:
        """Seal and open with `key` from now on (cluster mode: the key the cluster's metadata carries)."""
        if len(key) != KEY_BYTES:
            raise ValueError(f"the alerts secrets key must be {KEY_BYTES} bytes, got {len(key)}")
        self._key = key
        self._aead = AESGCM(key)

    @classmethod
    def from_file(cls, path: Path) -> SecretBox:
        """The key in `path` (64 hex characters), created with mode 0600 when the file does not exist yet."""
        if not path.exists():
            _create_key_file(path)
        return cls(read_key_file(path))

    def seal(self, plaintext: bytes, bound_to: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, bound_to.encode())

    def open(self, blob: bytes, bound_to: str) -> bytes:
        if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != VERSION:
            raise SealError("a sealed alert channel is damaged; hint: set the channel's URL (and secret) again")
        nonce, body = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, bound_to.encode())
        except InvalidTag:
            raise SealError(
                "a sealed alert channel does not open with this key; hint: restore [alerts] secrets_key_file, "
                "or set the channel's URL (and secret) again"
            ) from None


def read_key_file(path: Path) -> bytes:
    """The key in `path` (64 hex characters)."""
    text = path.read_text().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{path} must hold {KEY_BYTES * 2} hex characters; hint: restore the right key file") from None
    return key


def _create_key_file(path: Path) -> None:
    """Write a new random key: to a temporary name, fsynced, then linked into place, so a crash never leaves
    a half-written key, and two starting processes never end up with different keys (the link fails for the
    second, which then reads the first one's key)."""
    fsutil.make_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = fsutil.open_file(tmp, os.O_WRONLY | os.O_EXCL)  # 0600
    try:
        os.write(fd, secrets.token_bytes(KEY_BYTES).hex().encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    with contextlib.suppress(OSError):
        fsutil.fsync_dir(path.parent)
