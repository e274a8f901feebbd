"""Backup and restore: a consistent snapshot of meta.db (SQLite online backup through apsw) plus the catalog's
segments, to the bucket or to a directory; and a new data dir brought back to that state.

A backup is `backups/<node_id>/<name>/meta.db` and `.../manifest.json`, written last, so a backup without its
manifest is incomplete and ignored. The manifest lists every published segment of the snapshot with the object
key that holds it. In the node's own bucket the key is the segment's offload key (a local segment is uploaded
there and verified, which offload later reuses), and the bucket objects a kept backup names are recorded in
`backup_objects` so the janitor keeps them until the backup is rotated out. In a directory the segment files are
copied under `segments/...` once and shared by every backup there (incremental), and removed when no kept
backup names them. Deleted data therefore leaves backups when they rotate out: after `backup_keep` backups.

A backup cut off before its manifest (a crash, a bucket outage) or a rotation cut off half-way leaves a lone
meta.db and, in the bucket, protection rows; each rotation clears them (`clear_leftovers`), or else they would keep
objects of deleted spans, and a copy of the users table, for ever.

Restore refuses a data dir that already has a meta.db. From a bucket, segments stay in the bucket (read through
the cache, or `lynex-box rehydrate`); from a directory, they are copied into the data dir. The WAL starts empty
after the snapshot's consumed position: what was not yet in a segment at backup time is not in the backup.

A manifest of a newer format, or of a meta.db newer than this release's migrations, was written by a newer release:
restoring or rotating it is refused (`FormatTooNew`) before anything is written, while an older backup beside it
can still be restored by name (the way back after an upgrade, docs/operations/upgrades.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import apsw
import orjson
from ulid import ULID

from lynex_box import fsutil
from lynex_box.crashpoints import crash_point
from lynex_box.lifecycle.bucket import backup_prefix, download_verified, segment_key, upload_verified
from lynex_box.lifecycle.context import LifecycleContext
from lynex_box.meta.db import MetaDB
from lynex_box.meta.migrations import META_SCHEMA_VERSION
from lynex_box.objstore import ObjectMeta, ObjectNotFound, ObjectStore
from lynex_box.versions import BUCKET_FORMAT, FormatTooNew

log = logging.getLogger("lynex.lifecycle.backup")
MANIFEST_FORMAT = BUCKET_FORMAT
# A manifest follows its meta.db within seconds (one small PUT, retried); a lone meta.db an hour old is a leftover,
# and a younger one may be a backup another process (`lynex-box backup` beside the server) is finishing.
LEFTOVER_MIN_AGE_S = 3600.0
Progress = Callable[[int, int], None]


class RestoreError(RuntimeError):
    """A restore that cannot proceed; the message says what to do."""


@dataclass(frozen=True, slots=True)
class BackupSegment:
    id: str
    project_id: str
    key: str
    bytes: int
    checksum: str
    row_count: int
    min_time: int
    max_time: int


@dataclass(frozen=True, slots=True)
class Manifest:
    name: str
    node_id: str
    created_at: int
    consumed_lsn: int
    meta_schema_version: int
    format: int = MANIFEST_FORMAT
    segments: list[BackupSegment] = field(default_factory=list)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes, key: str = "manifest.json") -> Manifest:
        """The manifest stored at `key`; FormatTooNew for one of a newer format. Fields this release does not know
        are left out: a newer release may add fields without a new format, never change what these mean."""
        raw: dict[str, Any] = orjson.loads(data)
        version = raw.get("format", MANIFEST_FORMAT)
        if isinstance(version, int) and version > MANIFEST_FORMAT:
            raise FormatTooNew("backup manifest", key, version, MANIFEST_FORMAT)
        raw["segments"] = [BackupSegment(**_known(BackupSegment, s)) for s in raw.get("segments", [])]
        return cls(**_known(cls, raw))

    def check_restorable(self) -> None:
        """Refuse (FormatTooNew) a backup whose meta.db has a newer schema than this release migrates to."""
        if self.meta_schema_version > META_SCHEMA_VERSION:
            where = f"{backup_prefix(self.node_id)}/{self.name}/meta.db"
            raise FormatTooNew("backup meta.db", where, self.meta_schema_version, META_SCHEMA_VERSION)


def _known(kind: type[Any], raw: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(kind)}
    return {k: v for k, v in raw.items() if k in names}


def snapshot_meta(source: Path, dest: Path) -> None:
    """Copy meta.db with SQLite's online backup: a consistent state even while the server writes."""
    dest.unlink(missing_ok=True)
    fsutil.create_empty(dest)  # 0600: the copy holds what meta.db holds
    src = apsw.Connection(str(source), flags=apsw.SQLITE_OPEN_READONLY)
    out = apsw.Connection(str(dest))
    try:
        with out.backup("main", src, "main") as step:
            while not step.done:
                step.step(1024)
    finally:
        out.close()
        src.close()


def _published(snapshot: Path) -> tuple[int, int, list[tuple[Any, ...]]]:
    conn = apsw.Connection(str(snapshot), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        consumed = int(next(conn.execute("SELECT consumed_lsn FROM wal_progress WHERE id = 1"))[0])
        version = int(conn.pragma("user_version"))
        rows = list(
            conn.execute(
                "SELECT id, project_id, path, location, remote_key, checksum, bytes, row_count, min_time, max_time "
                "FROM segments WHERE state = 'published' ORDER BY min_time, id"
            )
        )
    finally:
        conn.close()
    return consumed, version, rows


def backup(ctx: LifecycleContext, target: ObjectStore, in_bucket: bool, progress: Progress | None = None) -> Manifest:
    """Write one backup to `target` (the node's bucket when `in_bucket`, else a directory store)."""
    now = dt.datetime.now(dt.UTC)
    name = f"{now:%Y%m%dT%H%M%SZ}-{ULID()}"
    snap = ctx.scratch / f"backup-{name}.db"
    snapshot_meta(ctx.db.path, snap)
    try:
        consumed, version, rows = _published(snap)
        segments = []
        for done, row in enumerate(rows, 1):
            segments.append(_store_segment(ctx, target, in_bucket, row))
            crash_point("lifecycle.backup.after_segment")
            if progress is not None:
                progress(done, len(rows))
        created = int(now.timestamp() * 1_000_000)
        manifest = Manifest(name, ctx.node_id, created, consumed, version, segments=segments)
        prefix = f"{backup_prefix(ctx.node_id)}/{name}"
        target.put_file(f"{prefix}/meta.db", snap)
        if in_bucket:
            _protect(ctx.db, name, [s.key for s in segments])
        crash_point("lifecycle.backup.before_manifest")  # everything stored but the manifest: not a backup yet
        target.put(f"{prefix}/manifest.json", manifest.to_json())  # last: the backup now counts
    finally:
        snap.unlink(missing_ok=True)
    log.info("backup written name=%s segments=%d in_bucket=%s", name, len(segments), in_bucket)
    return manifest


def _store_segment(ctx: LifecycleContext, target: ObjectStore, in_bucket: bool, row: tuple[Any, ...]) -> BackupSegment:
    sid, project, path, location, remote_key, checksum, size, rows, lo, hi = row
    key = remote_key or (path if location == "remote" else None)
    if in_bucket:
        if key is None or checksum is None or not _exists(target, key, size):
            key = segment_key(ctx.node_id, project, sid)
            checksum = upload_verified(target, key, ctx.data_dir / path, ctx.scratch)
            ctx.store.record_copy(sid, key, checksum)  # offload then switches to this copy without uploading again
        return BackupSegment(sid, project, key, size, checksum, rows, lo, hi)
    copy_key = segment_key(ctx.node_id, project, sid)
    if not _exists(target, copy_key, size):
        if location == "remote":
            assert ctx.cache is not None, "a remote segment needs the bucket to be backed up"
            entry = next(e for e in ctx.store.segment_entries(project) if e.id == sid)
            with ctx.cache.acquire([entry]) as [local]:
                checksum = upload_verified(target, copy_key, local, ctx.scratch)
        else:
            checksum = upload_verified(target, copy_key, ctx.data_dir / path, ctx.scratch)
    return BackupSegment(sid, project, copy_key, size, checksum or "", rows, lo, hi)


def _exists(store: ObjectStore, key: str, size: int) -> bool:
    try:
        return store.head(key).size == size
    except ObjectNotFound:
        return False


def _protect(db: MetaDB, name: str, keys: list[str]) -> None:
    def tx(conn: apsw.Connection) -> None:
        conn.executemany("INSERT OR IGNORE INTO backup_objects (backup, key) VALUES (?, ?)", [(name, k) for k in keys])

    db.write(tx)


def _unprotect(db: MetaDB, name: str) -> None:
    def tx(conn: apsw.Connection) -> None:
        conn.execute("DELETE FROM backup_objects WHERE backup = ?", (name,))

    db.write(tx)


def scan_backups(target: ObjectStore, node_id: str | None = None) -> tuple[list[Manifest], list[FormatTooNew]]:
    """Complete backups (those with a manifest), oldest first, of one node or of all; and the refusals of those whose
    manifest is of a newer format (a newer release wrote them), by name.

    A manifest listed but gone when read was removed by a rotation in between (the server's, while a CLI lists):
    that backup no longer exists, so it is left out rather than failing the listing."""
    prefix = backup_prefix(node_id) if node_id else "backups"
    found, newer = [], []
    for meta in target.list(prefix):
        if meta.key.endswith("/manifest.json"):
            try:
                found.append(Manifest.from_json(target.get(meta.key).data, meta.key))
            except ObjectNotFound:
                continue
            except FormatTooNew as exc:
                newer.append(exc)
    return sorted(found, key=lambda m: (m.created_at, m.name)), sorted(newer, key=lambda e: backup_name(e.where))


def backup_name(manifest_key: str) -> str:
    """The backup's name in its manifest's key (`backups/<node_id>/<name>/manifest.json`); names sort by time."""
    return manifest_key.rsplit("/", 2)[-2]


def list_backups(target: ObjectStore, node_id: str | None = None) -> list[Manifest]:
    """Complete backups (those with a manifest), oldest first; of one node or of all. FormatTooNew if a newer
    release wrote one: a rotation must not count or remove backups it cannot read."""
    found, newer = scan_backups(target, node_id)
    if newer:
        raise newer[0]
    return found


def rotate(ctx: LifecycleContext, target: ObjectStore, in_bucket: bool, keep: int) -> list[str]:
    """Remove all but the newest `keep` backups of this node; returns the names removed."""
    backups = list_backups(target, ctx.node_id)
    old, kept = backups[:-keep] if keep else backups, backups[-keep:] if keep else []
    for manifest in old:
        prefix = f"{backup_prefix(ctx.node_id)}/{manifest.name}"
        target.delete(f"{prefix}/manifest.json")  # first: from here on it is no longer a backup
        crash_point("lifecycle.backup.mid_rotate")
        target.delete(f"{prefix}/meta.db")
        if in_bucket:
            _unprotect(ctx.db, manifest.name)
    cleared = clear_leftovers(ctx, target, in_bucket, {m.name for m in kept})
    if (old or cleared) and not in_bucket:  # shared segment copies no kept backup names any more
        needed = {s.key for m in kept for s in m.segments}
        for meta in target.list(f"segments/{ctx.node_id}"):
            if meta.key not in needed:
                target.delete(meta.key)
    if old or cleared:
        log.info("backups rotated removed=%d leftovers=%d kept=%d", len(old), len(cleared), len(kept))
    return [m.name for m in old]


def clear_leftovers(ctx: LifecycleContext, target: ObjectStore, in_bucket: bool, kept: set[str]) -> list[str]:
    """Remove what backups without a manifest left: a meta.db once `LEFTOVER_MIN_AGE_S` old, and protection rows
    whose backup has neither a manifest nor a meta.db. Returns the names cleared.

    The protected names are read before the listing: a backup protects its objects only after its meta.db is
    stored, so a name protected then and without a meta.db in the later listing is not a backup being written."""
    protected = {str(n) for (n,) in ctx.db.read("SELECT DISTINCT backup FROM backup_objects")} if in_bucket else set()
    prefix = backup_prefix(ctx.node_id)
    horizon = dt.datetime.fromtimestamp(ctx.clock() - LEFTOVER_MIN_AGE_S, dt.UTC)
    lone: dict[str, ObjectMeta] = {}
    for meta in target.list(prefix):
        name, _, leaf = meta.key[len(prefix) + 1 :].partition("/")
        if leaf == "meta.db" and name not in kept:
            lone[name] = meta
    cleared = sorted((protected - kept - set(lone)) | {n for n, meta in lone.items() if meta.last_modified < horizon})
    for name in cleared:
        if name in lone:
            target.delete(lone[name].key)
        if in_bucket:
            _unprotect(ctx.db, name)
    if cleared:
        log.warning("leftovers of incomplete backups removed names=%s", ",".join(cleared))
    return cleared


def restore(
    target: ObjectStore,
    data_dir: Path,
    from_bucket: bool,
    name: str | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Bring a new data dir to the state of backup `name` (default: the newest) found in `target`."""
    if (data_dir / "meta.db").exists():
        raise RestoreError(f"{data_dir} already holds a meta.db; hint: restore into a new, empty data dir")
    manifest = choose_backup(target, name)
    manifest.check_restorable()
    fsutil.prepare_data_dir(data_dir)
    tmp = data_dir / "meta.db.restore"
    target.get_to_file(f"{backup_prefix(manifest.node_id)}/{manifest.name}/meta.db", tmp)
    for segment_no, seg in enumerate(manifest.segments, 1):
        if not from_bucket:
            rel = f"segments/{seg.project_id}/{seg.id}.parquet"
            fsutil.make_dir((data_dir / rel).parent)
            download_verified(target, seg.key, data_dir / rel, seg.bytes, seg.checksum or None)
        if progress is not None:
            progress(segment_no, len(manifest.segments))
    _point_catalog(tmp, manifest, from_bucket)
    fsutil.rename_durably(tmp, data_dir / "meta.db")
    MetaDB(data_dir / "meta.db").close()  # migrate a backup made by an older version now
    log.info("backup restored name=%s segments=%d data_dir=%s", manifest.name, len(manifest.segments), data_dir)
    return manifest


def choose_backup(target: ObjectStore, name: str | None) -> Manifest:
    """Backup `name`, or the newest; FormatTooNew when that one was written by a newer release (an older one can
    still be chosen by name: its hint says which)."""
    backups, newer = scan_backups(target)
    chosen = [m for m in backups if name in (None, m.name)]
    refused = [e for e in newer if name in (None, backup_name(e.where))]
    if refused and (name is not None or not chosen or backup_name(refused[-1].where) > chosen[-1].name):
        exc = refused[-1]
        hint = f"restore an older backup with --name {chosen[-1].name}, or " if chosen else ""
        raise FormatTooNew(exc.what, exc.where, exc.found, exc.supported, hint=hint + exc.hint)
    if not chosen:
        raise RestoreError(f"no complete backup {name or ''} in the store; hint: `lynex-box backup --list`")
    return chosen[-1]


def _point_catalog(db_path: Path, manifest: Manifest, from_bucket: bool) -> None:
    """Make the restored catalog name where each segment now is; drop rows that were being deleted."""
    conn = apsw.Connection(str(db_path))
    try:
        with conn:
            conn.execute("DELETE FROM segments WHERE state = 'deleting'")
            for seg in manifest.segments:
                if from_bucket:
                    conn.execute(
                        "UPDATE segments SET location = 'remote', path = ?, remote_key = ?, checksum = ? WHERE id = ?",
                        (seg.key, seg.key, seg.checksum, seg.id),
                    )
                else:
                    conn.execute(
                        "UPDATE segments SET location = 'local', path = ?, remote_key = NULL, checksum = ? "
                        "WHERE id = ?",
                        (f"segments/{seg.project_id}/{seg.id}.parquet", seg.checksum, seg.id),
                    )
    finally:
        conn.close()
