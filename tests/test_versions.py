"""The format versions: each spec in docs/format/ names the version the code writes, and a refusal says what to do."""

from __future__ import annotations

from pathlib import Path

from lynex_box.schema.span import SCHEMA_VERSION_KEY, SPAN_SCHEMA
from lynex_box.versions import BUCKET_FORMAT, CLUSTER_FORMAT, SPAN_SCHEMA_VERSION, WAL_FORMAT, FormatTooNew
from lynex_box.wal.format import FILE_MAGIC

FORMAT_DOCS = Path(__file__).resolve().parent.parent / "docs" / "format"


def title(name: str) -> str:
    return (FORMAT_DOCS / name).read_text().splitlines()[0]


def test_each_spec_names_the_version_the_code_writes() -> None:
    # a version bumped in lynex_box/versions.py without its spec (or the reverse) fails here
    assert title("wal.md") == f"# WAL format (version {WAL_FORMAT})"
    assert title("segments.md") == f"# Segment and catalog format (span schema version {SPAN_SCHEMA_VERSION})"
    assert title("bucket.md") == f"# Bucket layout (version {BUCKET_FORMAT})"
    assert title("cluster.md") == f"# Cluster objects in the bucket (format version {CLUSTER_FORMAT})"
    assert FILE_MAGIC == b"LNXWAL%02d" % WAL_FORMAT
    assert SPAN_SCHEMA.metadata[SCHEMA_VERSION_KEY] == str(SPAN_SCHEMA_VERSION).encode()


def test_a_refusal_names_the_file_both_versions_and_what_to_do() -> None:
    exc = FormatTooNew("WAL file", "/data/wal/00000007.wal", 3, 1)
    assert str(exc) == (
        "WAL file /data/wal/00000007.wal has format version 3, newer than this Lynex Box reads (version 1 and older); "
        "hint: run the Lynex Box release that wrote it (or a newer one), or restore a backup made by this release "
        "into a new data dir; see docs/operations/upgrades.md"
    )
    assert str(FormatTooNew("segment", "s.parquet", 2, 1, hint="do this")).endswith("; hint: do this")
