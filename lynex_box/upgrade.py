"""What opening a data dir (and its bucket) with this release would do, found without changing anything.

`lynex-box upgrade --check` prints it and `lynex-box run` refuses to start on what it finds too new. Every format
Lynex Box keeps carries a version (`lynex_box/versions.py`); this module reads them the cheapest way there is: meta.db
through a read-only connection (its schema version, the catalog's span schema versions), the 16-byte header of each
WAL file, the footers of a sample of segment files, and, with a bucket, the backups' manifests and the cluster
objects. It takes no lock and writes nothing, so it runs beside a server. It must never change a file or an object.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import apsw

from lynex_box import __version__
from lynex_box.cluster import records
from lynex_box.config import Settings
from lynex_box.lifecycle.backup import Manifest
from lynex_box.lifecycle.bucket import open_bucket
from lynex_box.meta.migrations import META_SCHEMA_VERSION, check_version, pending
from lynex_box.objstore import ObjectStore
from lynex_box.segments.parquet_file import file_schema_version
from lynex_box.versions import BUCKET_FORMAT, CLUSTER_FORMAT, SPAN_SCHEMA_VERSION, WAL_FORMAT, FormatTooNew
from lynex_box.wal.log import file_versions

Status = Literal["ok", "migrate", "too-new", "absent", "unchecked"]
SEGMENT_SAMPLE = 200  # footers read: the newest local segments (each read is one small footer)


@dataclass(frozen=True, slots=True)
class Part:
    """One kind of file or object: the versions found (version -> how many), the newest this release reads, and
    what opening it does. `refusal` is the message when something is too new (or could not be read: `unchecked`)."""

    name: str
    status: Status
    found: dict[str, int]
    supported: int
    detail: str
    refusal: str | None = None
    error: FormatTooNew | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Report:
    version: str
    data_dir: str
    parts: list[Part]
    migrations: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        """Nothing is too new: this release opens the data dir (applying `migrations`)."""
        return all(part.status != "too-new" for part in self.parts)

    def as_dict(self) -> dict[str, Any]:
        parts = [{f.name: getattr(p, f.name) for f in fields(Part) if f.name != "error"} for p in self.parts]
        return {"ok": self.ok, "version": self.version, "data_dir": self.data_dir, "parts": parts,
                "migrations": self.migrations}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Meta:
    """What meta.db says, read once."""

    version: int
    catalog: dict[int, int]  # span schema version -> published segments
    newest_path: str  # a segment of the newest schema version (named in a refusal)
    local: list[str]  # local published segments, newest first (paths in the data dir)
    consumed_lsn: int


def inspect(settings: Settings, *, bucket: bool = True, sample: int = SEGMENT_SAMPLE) -> Report:
    """The versions of the data dir's meta.db, WAL and segments and (with `bucket`) of the bucket's backups and
    cluster objects, against those this release reads; nothing is changed."""
    data_dir = settings.data_dir
    meta = _read_meta(data_dir / "meta.db")
    parts = [_meta_part(data_dir / "meta.db", meta), _wal_part(data_dir / "wal", meta)]
    parts += _segment_parts(data_dir, meta, sample)
    if bucket:
        parts += _bucket_parts(settings)
    migrations = [{"number": n, "name": name} for n, name in pending(meta.version)] if meta is not None else []
    return Report(__version__, str(data_dir), parts, migrations)


def refuse_newer(settings: Settings) -> None:
    """Raise the first FormatTooNew of the data dir (not the bucket): `lynex-box run` says it before it starts."""
    for part in inspect(settings, bucket=False, sample=0).parts:
        if part.error is not None:
            raise part.error


# ----------------------------------------------------------------------------------------------------- meta.db
@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[apsw.Connection]:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    conn.set_busy_timeout(10_000)
    try:
        yield conn
    finally:
        conn.close()


def _read_meta(path: Path) -> _Meta | None:
    if not path.exists():
        return None
    with _read_only(path) as conn:
        version = int(conn.pragma("user_version"))
        if version < 1:  # created, never migrated: no catalog yet
            return _Meta(version, {}, "", [], 0)
        try:
            rows = list(conn.execute(
                "SELECT schema_version, count(*), max(path) FROM segments WHERE state = 'published' GROUP BY 1"
            ))  # fmt: skip
            local = [str(p) for (p,) in conn.execute(
                "SELECT path FROM segments WHERE state = 'published' AND location = 'local' ORDER BY created_at DESC"
            )]  # fmt: skip
            consumed = int(next(conn.execute("SELECT consumed_lsn FROM wal_progress WHERE id = 1"))[0])
        except apsw.SQLError:
            if version <= META_SCHEMA_VERSION:
                raise  # a catalog this release made, and cannot read: damage, not a version
            return _Meta(version, {}, "", [], 0)  # a newer release's catalog: meta.db's own version refuses it
    catalog = {int(v): int(n) for v, n, _ in rows}
    newest = max(rows, key=lambda r: int(r[0]))[2] if rows else ""
    return _Meta(version, catalog, str(newest), local, consumed)


def _meta_part(path: Path, meta: _Meta | None) -> Part:
    if meta is None:
        return Part("meta.db", "absent", {}, META_SCHEMA_VERSION, "no meta.db: `lynex-box init` or `run` creates one")
    found = {str(meta.version): 1}
    try:
        check_version(meta.version, str(path))
    except FormatTooNew as exc:
        return Part("meta.db", "too-new", found, META_SCHEMA_VERSION, "refused: not opened", str(exc), exc)
    steps = META_SCHEMA_VERSION - meta.version
    if steps:
        detail = f"{steps} migration(s) applied on start (below), each in its own transaction"
        return Part("meta.db", "migrate", found, META_SCHEMA_VERSION, detail)
    return Part("meta.db", "ok", found, META_SCHEMA_VERSION, "current schema: nothing to migrate")


# ------------------------------------------------------------------------------------------------------ WAL
def _wal_part(directory: Path, meta: _Meta | None) -> Part:
    if not directory.is_dir():
        return Part("wal", "absent", {}, WAL_FORMAT, "no WAL yet")
    versions = file_versions(directory)
    found = Counter(str(v) if v is not None else "damaged" for _, v in versions)
    size = sum(_size(path) for path, _ in versions)
    newer = [(path, v) for path, v in versions if v is not None and v > WAL_FORMAT]
    if newer:
        path, version = newer[0]
        exc = FormatTooNew("WAL file", str(path), version, WAL_FORMAT)
        return Part("wal", "too-new", dict(found), WAL_FORMAT, "refused: not replayed, not cut", str(exc), exc)
    after = f" after LSN {meta.consumed_lsn}" if meta is not None else ""
    detail = f"{len(versions)} file(s), {size} bytes: the records{after} are replayed on start"
    return Part("wal", "ok", dict(found), WAL_FORMAT, detail)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # removed by a running server behind its checkpoint
        return 0


# ------------------------------------------------------------------------------------------------- segments
def _segment_parts(data_dir: Path, meta: _Meta | None, sample: int) -> list[Part]:
    if meta is None or not meta.catalog:
        return [Part("segments", "absent", {}, SPAN_SCHEMA_VERSION, "no published segments")]
    found = {str(v): n for v, n in sorted(meta.catalog.items())}
    newest = max(meta.catalog)
    if newest > SPAN_SCHEMA_VERSION:
        exc = FormatTooNew("segment", meta.newest_path, newest, SPAN_SCHEMA_VERSION)
        catalog = Part("segments", "too-new", found, SPAN_SCHEMA_VERSION, "refused: not read", str(exc), exc)
    else:
        older = sum(n for v, n in meta.catalog.items() if v < SPAN_SCHEMA_VERSION)
        detail = "read as they are" + (f"; {older} of an older schema keep it until rewritten" if older else "")
        catalog = Part("segments", "ok", found, SPAN_SCHEMA_VERSION, detail)
    return [catalog] + ([_footer_part(data_dir, meta.local[:sample])] if sample and meta.local else [])


def _footer_part(data_dir: Path, paths: list[str]) -> Part:
    """The versions in the footers of `paths` (a sample): the files must say what the catalog says."""
    found: Counter[str] = Counter()
    newer: tuple[str, int] | None = None
    for rel in paths:
        try:
            version = file_schema_version(data_dir / rel)
        except FileNotFoundError:  # replaced by a running server's compaction since the catalog was read
            found["gone"] += 1
            continue
        except OSError:  # not Parquet at all: queries will say so; this check is about versions
            found["unreadable"] += 1
            continue
        found[str(version) if version is not None else "encrypted"] += 1
        if version is not None and version > SPAN_SCHEMA_VERSION and newer is None:
            newer = (rel, version)
    name = f"segment footers ({len(paths)} newest)"
    if newer is not None:
        exc = FormatTooNew("segment", newer[0], newer[1], SPAN_SCHEMA_VERSION)
        return Part(name, "too-new", dict(found), SPAN_SCHEMA_VERSION, "refused: not read", str(exc), exc)
    return Part(name, "ok", dict(found), SPAN_SCHEMA_VERSION, "the files say what the catalog says")


# --------------------------------------------------------------------------------------------------- bucket
def _bucket_parts(settings: Settings) -> list[Part]:
    try:
        store = open_bucket(settings.bucket)
    except ValueError as exc:
        return [Part("bucket", "unchecked", {}, BUCKET_FORMAT, "not read", str(exc))]
    if store is None:
        return [Part("bucket", "absent", {}, BUCKET_FORMAT, 'no bucket configured ([bucket] type = "none")')]
    parts = []
    for check in (_backup_part, _cluster_part):
        try:
            parts.append(check(store))
        except Exception as exc:  # an outage or a denied listing: say so, it is not a refusal
            name = "bucket backups" if check is _backup_part else "cluster objects"
            parts.append(
                Part(name, "unchecked", {}, BUCKET_FORMAT, "could not be read", f"{type(exc).__name__}: {exc}")
            )
    return parts


def _backup_part(store: ObjectStore) -> Part:
    found: Counter[str] = Counter()
    first: FormatTooNew | None = None
    newer_meta: list[str] = []
    for meta in store.list("backups"):
        if not meta.key.endswith("/manifest.json"):
            continue
        try:
            manifest = Manifest.from_json(store.get(meta.key).data, meta.key)
        except FormatTooNew as exc:
            found[str(exc.found)] += 1
            first = first or exc
            continue
        found[str(manifest.format)] += 1
        if manifest.meta_schema_version > META_SCHEMA_VERSION:
            newer_meta.append(manifest.name)
    name = "bucket backups"
    if first is not None:
        detail = "refused: this release neither restores nor rotates them"
        return Part(name, "too-new", dict(found), BUCKET_FORMAT, detail, str(first), first)
    if not found:
        return Part(name, "absent", {}, BUCKET_FORMAT, "no backups in the bucket")
    detail = f"{sum(found.values())} backup(s) readable"
    if newer_meta:
        detail += f"; {len(newer_meta)} of a newer meta.db schema cannot be restored by this release"
    return Part(name, "ok", dict(found), BUCKET_FORMAT, detail)


def _cluster_part(store: ObjectStore) -> Part:
    """The founding record, the node heartbeats and the leases: the JSON objects every node reads."""
    found: Counter[str] = Counter()
    refusal: str | None = None
    prefixes = (f"{records.NODES_PREFIX}/", f"{records.LEASES_PREFIX}/")
    keys = [m.key for m in store.list("cluster") if m.key == records.CLUSTER_KEY or m.key.startswith(prefixes)]
    for key in keys:
        try:
            found[str(records.decode(key, store.get(key).data)["format"])] += 1
        except records.NewerFormat as exc:
            found["newer"] += 1
            refusal = refusal or str(exc)
        except records.BadRecord:
            found["unreadable"] += 1
    name = "cluster objects"
    if refusal is not None:
        return Part(name, "too-new", dict(found), CLUSTER_FORMAT, "refused: this node would not join", refusal)
    if not keys:
        return Part(name, "absent", {}, CLUSTER_FORMAT, "no cluster objects (single node)")
    return Part(name, "ok", dict(found), CLUSTER_FORMAT, "read by this release")
