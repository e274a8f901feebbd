"""The key-encryption key (KEK) of segment encryption, and wrapping of per-project data keys with it.

The KEK is read from a file or an environment variable named in `[encryption]` — never from the data directory,
so that a copy of the data directory (or of a disk, or of a backup of meta.db) alone does not open the segments.
Each project's data key is stored in meta.db wrapped with AES-256-GCM under the KEK, bound to its project id
(associated data): a wrapped key copied onto another project does not open. A KEK fingerprint stored beside
each wrapped key tells "another KEK" apart from "a damaged row". It serves segment encryption (`datakeys.py`), hence
segments/. This module must never log a key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from lynex_box.config import EncryptionSettings

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
VERSION: Final = b"\x01"
_AAD_PREFIX: Final = b"lynex-box project data key v1\x00"
_FINGERPRINT_LABEL: Final = b"lynex-box kek fingerprint v1"


class KekError(ValueError):
    """The KEK cannot be used as configured; the message names the setting and what to do."""


class WrongKek(Exception):
    """A wrapped data key does not open with the configured KEK."""


def parse_key(text: str, origin: str) -> bytes:
    """A 256-bit key written as 64 hex characters (surrounding whitespace ignored)."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise KekError(
            f"the KEK from {origin} must be {KEY_BYTES * 2} hex characters (a 256-bit key); "
            "hint: make one with `lynex-box encryption new-kek`"
        )
    return key


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True


def check_source(source: EncryptionSettings, data_dir: Path) -> None:
    """Refuse a configuration that defeats the purpose: both sources at once, or a KEK file in the data dir."""
    if source.kek_file and source.kek_env:
        raise KekError("encryption.kek_file and encryption.kek_env are both set; hint: keep one")
    if source.kek_file and _inside(Path(source.kek_file), data_dir):
        raise KekError(
            f"encryption.kek_file {source.kek_file!r} is inside the data directory {str(data_dir)!r}: a copy of the "
            "data directory would carry its own key; hint: keep the KEK on another volume or a secrets mount"
        )


def load_kek(source: EncryptionSettings, env: Mapping[str, str] | None = None) -> Kek | None:
    """The configured KEK; None when none is configured. Raises KekError when it is configured but cannot be had
    (the file unreadable, the variable unset, not a 256-bit key)."""
    if source.kek_file:
        path = Path(source.kek_file)
        try:
            text = path.read_text()
        except OSError as exc:
            raise KekError(f"encryption.kek_file {source.kek_file!r} cannot be read ({exc.strerror or exc})") from None
        return Kek(parse_key(text, f"encryption.kek_file {source.kek_file!r}"))
    if source.kek_env:
        value = (os.environ if env is None else env).get(source.kek_env)
        if value is None:
            raise KekError(f"the environment variable {source.kek_env!r} (encryption.kek_env) is not set")
        return Kek(parse_key(value, f"environment variable {source.kek_env!r}"))
    return None


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


class Kek:
    """Wrap and unwrap data keys with one 256-bit key-encryption key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KekError(f"the KEK must be {KEY_BYTES} bytes, got {len(key)}")
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # only a server with a KEK loads it

        self._aead = AESGCM(key)
        # Public and stable: identifies the KEK in meta.db and in error messages without revealing it.
        self.fingerprint = hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]

    def wrap(self, data_key: bytes, project_id: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, data_key, _AAD_PREFIX + project_id.encode())

    def unwrap(self, blob: bytes, project_id: str) -> bytes:
        if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != VERSION:
            raise WrongKek(f"the wrapped data key of project {project_id} is damaged")
        nonce, body = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        from cryptography.exceptions import InvalidTag

        try:
            key = self._aead.decrypt(nonce, body, _AAD_PREFIX + project_id.encode())
        except InvalidTag:
            raise WrongKek(f"the data key of project {project_id} does not open with this KEK") from None
        if len(key) != KEY_BYTES:
            raise WrongKek(f"the wrapped data key of project {project_id} is damaged")
        return key
