"""The version of every format Lynex Box keeps on disk and in the bucket, and the error for one it cannot read.

The rule (docs/operations/upgrades.md): a release writes its own versions and reads every version up to them; a file
or object of a newer version is refused with `FormatTooNew`, naming it, its version and the newest this release
reads, never read as if it were older. A format's version changes only when an older release would misread the new
one; its spec in docs/format/ says what counts. `lynex-box upgrade --check` reports them all.

meta.db's schema version is the number of its migrations (`lynex_box/meta/migrations.py`, `META_SCHEMA_VERSION`
there), so that it can never disagree with them. This module is the bottom layer: it imports nothing of the package.
"""

from __future__ import annotations

from typing import Final

WAL_FORMAT: Final = 1
"""WAL files (docs/format/wal.md): the two digits at the end of the file magic `LNXWAL01`."""

SPAN_SCHEMA_VERSION: Final = 3
"""Segment files (docs/format/segments.md): the Parquet key-value `lynex.span_schema_version`, and the catalog's
`segments.schema_version` of each file."""

BUCKET_FORMAT: Final = 1
"""The bucket layout and backups (docs/format/bucket.md): `"format"` in every backup's `manifest.json`."""

CLUSTER_FORMAT: Final = 1
"""Cluster objects under `cluster/` (docs/format/cluster.md): `"format"` in every one of them."""

UPGRADE_HINT: Final = (
    "run the Lynex Box release that wrote it (or a newer one), or restore a backup made by this release into a new "
    "data dir; see docs/operations/upgrades.md"
)


class FormatTooNew(Exception):
    """A file or object written by a newer Lynex Box than this one: refused, never guessed at."""

    def __init__(self, what: str, where: str, found: int, supported: int, *, hint: str = UPGRADE_HINT) -> None:
        self.what = what
        self.where = where
        self.found = found
        self.supported = supported
        self.hint = hint
        super().__init__(
            f"{what} {where} has format version {found}, newer than this Lynex Box reads (version {supported} and "
            f"older); hint: {hint}"
        )
