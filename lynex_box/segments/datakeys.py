"""Which projects are encrypted at rest, and their data keys: wrapped in meta.db, unwrapped in memory.

A project is encrypted from the moment a row in `project_data_keys` names it; enabling is one-way, because its
encrypted segments need the key for as long as they exist. The rows hold each data key wrapped by the KEK
(lynex_box.segments.keywrap); this object unwraps them once at start (and after `enable`) and answers `cipher`
from memory, so the flush, queries and the lifecycle never touch SQLite or the KEK per call. When the KEK is
missing or is another one, the encrypted projects are locked: `cipher` raises `KeyUnavailable` for them (a
clear error per request) while every other project works as before. This module must never log a key.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import apsw

from lynex_box.config import EncryptionSettings
from lynex_box.meta import audit
from lynex_box.meta.db import MetaDB
from lynex_box.segments.encryption import KeyUnavailable, ProjectCipher
from lynex_box.segments.keywrap import Kek, KekError, WrongKek, check_source, load_kek, new_key

log = logging.getLogger("lynex.encryption")


class DataKeys:
    """The data keys of the encrypted projects of one data directory."""

    def __init__(self, db: MetaDB, kek: Kek | None, missing: str) -> None:
        """`missing` says why there is no KEK (used in errors) when `kek` is None."""
        self.db = db
        self.kek = kek
        self._missing = missing
        self._lock = threading.Lock()
        self._ciphers: dict[str, ProjectCipher] = {}
        self._locked: dict[str, str] = {}  # project id -> why its key cannot be had
        self.refresh()

    @classmethod
    def open(cls, source: EncryptionSettings, db: MetaDB, data_dir: Path) -> DataKeys:
        """Load the KEK (a misconfiguration raises KekError; an unavailable KEK only locks encrypted projects)."""
        check_source(source, data_dir)
        kek: Kek | None = None
        missing = "no key-encryption key is configured"
        try:
            kek = load_kek(source)
        except KekError as exc:
            missing = str(exc)
        return cls(db, kek, missing)

    def refresh(self) -> None:
        """Read the wrapped keys again and unwrap the ones not known yet."""
        rows = self.db.read("SELECT project_id, wrapped, kek_fingerprint FROM project_data_keys")
        ciphers: dict[str, ProjectCipher] = {}
        locked: dict[str, str] = {}
        for project_id, wrapped, fingerprint in rows:
            known = self._ciphers.get(project_id)
            if known is not None:
                ciphers[project_id] = known
                continue
            try:
                ciphers[project_id] = ProjectCipher(project_id, self._unwrap(project_id, bytes(wrapped), fingerprint))
            except WrongKek as exc:
                locked[project_id] = str(exc)
        with self._lock:
            self._ciphers, self._locked = ciphers, locked
        for project_id, reason in locked.items():
            log.error("encrypted project locked project=%s reason=%s", project_id, reason)

    def _unwrap(self, project_id: str, wrapped: bytes, fingerprint: str) -> bytes:
        if self.kek is None:
            raise WrongKek(self._missing)
        if fingerprint != self.kek.fingerprint:
            raise WrongKek(
                f"its data key was wrapped by another key-encryption key (fingerprint {fingerprint}; the configured "
                f"one is {self.kek.fingerprint})"
            )
        return self.kek.unwrap(wrapped, project_id)

    # ------------------------------------------------------------------ asked on every flush, query and rewrite
    def cipher(self, project_id: str) -> ProjectCipher | None:
        """The project's cipher; None when it is not encrypted. Raises KeyUnavailable when it is locked."""
        found = self._ciphers.get(project_id)
        if found is not None:
            return found
        reason = self._locked.get(project_id)
        if reason is not None:
            raise KeyUnavailable(project_id, reason)
        return None

    def locked(self) -> dict[str, str]:
        with self._lock:
            return dict(self._locked)

    def status(self, project_id: str) -> dict[str, Any]:
        """What a project's settings show: encrypted or not, and whether its key is usable on this node."""
        with self._lock:
            enabled = project_id in self._ciphers or project_id in self._locked
            return {
                "enabled": enabled,
                "key_available": project_id in self._ciphers,
                "error": self._locked.get(project_id),
            }

    # ------------------------------------------------------------------ enabling
    def enable(self, project_id: str, actor: audit.Actor) -> bool:
        """Encrypt the project's new segments from now on; False when it already was. Audited.

        Raises KekError when no usable KEK is configured (nothing is written then)."""
        if self.kek is None:
            raise KekError(
                f"encryption of project {project_id} cannot be turned on: {self._missing}; hint: configure a "
                "key-encryption key ([encryption] kek_file or kek_env; `lynex-box encryption new-kek` makes one)"
            )
        kek = self.kek
        key = new_key()
        wrapped = kek.wrap(key, project_id)

        def tx(conn: apsw.Connection) -> bool:
            if not list(conn.execute("SELECT 1 FROM projects WHERE id = ?", (project_id,))):
                raise LookupError(f"no project with id {project_id}")
            conn.execute(
                "INSERT INTO project_data_keys (project_id, wrapped, kek_fingerprint, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (project_id) DO NOTHING",
                (project_id, wrapped, kek.fingerprint, time.time_ns() // 1000),
            )
            if not conn.changes():
                return False
            audit.record(
                conn, actor, "project.settings_changed", project_id=project_id, target_type="project",
                target_id=project_id, details={"changed": {"encryption": [False, True]}},
            )  # fmt: skip
            return True

        created = self.db.write(tx)
        self.refresh()
        if created:
            log.info("project encryption enabled project=%s kek=%s", project_id, kek.fingerprint)
        return created

    def rewrap(self, new: Kek) -> int:
        """Wrap every data key with `new` instead of the current KEK (KEK rotation; no segment is rewritten).

        Refused while any project is locked: its key could not be carried over."""
        if self.kek is None or self._locked:
            raise KekError("every encrypted project's key must open with the current KEK before rotating it")
        with self._lock:
            ciphers = dict(self._ciphers)

        def tx(conn: apsw.Connection) -> int:
            for project_id, cipher in ciphers.items():
                conn.execute(
                    "UPDATE project_data_keys SET wrapped = ?, kek_fingerprint = ? WHERE project_id = ?",
                    (new.wrap(cipher.key, project_id), new.fingerprint, project_id),
                )
            return len(ciphers)

        done = self.db.write(tx)
        self.kek = new
        self.refresh()
        return done
