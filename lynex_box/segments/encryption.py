"""Parquet modular encryption of segments: how an encrypted project's files are written and read back.

An encrypted segment is written by pyarrow with uniform encryption (AES_GCM_V1, one 256-bit data key per
project for the footer and every column, encrypted footer: the file ends in `PARE` instead of `PAR1`), so that
nothing of a span — values, statistics, column names — is readable without the project's key. The file's own
trailer says whether it is encrypted, so the catalog needs no flag and a project may hold both kinds while old
plaintext segments wait to be rewritten.

DuckDB reads these files through a pyarrow dataset with the key, not with its own `read_parquet(...,
encryption_config)`: DuckDB 2.0's reader fails ("Computed AES tag differs") on pyarrow-written files as soon as
a filter is pushed into the scan or a column chunk spans more than a small page, and DuckDB can only write
encrypted files with the httpfs extension, which the appliance does not load (DESIGN.md). Arrow's Parquet writer
cannot write bloom filters into encrypted files, so encrypted segments have none (the catalog's own trace bloom
still skips whole files). Plaintext projects never reach this module's read path: it costs them nothing.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import duckdb
import pyarrow.parquet.encryption as pe

if TYPE_CHECKING:
    import pyarrow.dataset as ds

from lynex_box.schema.span import SPAN_SCHEMA, parquet_relation

ENCRYPTED_MAGIC: Final = b"PARE"
_names = itertools.count()


class KeyUnavailable(RuntimeError):
    """A project's segments are encrypted and its data key cannot be had now; the message says what to do."""

    def __init__(self, project_id: str, reason: str) -> None:
        super().__init__(
            f"project {project_id} is encrypted at rest and {reason}; hint: configure the key-encryption key "
            "([encryption] kek_file or kek_env in lynex.toml) that was in use when encryption was enabled, "
            "and restart; without it the project's stored data cannot be read (docs/security.md)"
        )
        self.project_id = project_id


@dataclass(frozen=True, slots=True)
class ProjectCipher:
    """One project's data key, in the forms pyarrow's Parquet writer and readers take."""

    project_id: str
    key: bytes = field(repr=False)

    def encryption_properties(self) -> pe.FileEncryptionProperties:
        return pe.create_encryption_properties(self.key, encryption_algorithm="AES_GCM_V1", plaintext_footer=False)

    def decryption_properties(self) -> pe.FileDecryptionProperties:
        return pe.create_decryption_properties(self.key)


def is_encrypted(path: Path) -> bool:
    """True when the file's trailer is that of a Parquet file with an encrypted footer."""
    with open(path, "rb") as fh:
        fh.seek(-4, 2)
        return fh.read(4) == ENCRYPTED_MAGIC


def writer_options(options: dict[str, Any], cipher: ProjectCipher | None) -> dict[str, Any]:
    """`pq.ParquetWriter` options of a segment, encrypted for `cipher`'s project (unchanged when None)."""
    if cipher is None:
        return options
    out = {k: v for k, v in options.items() if k != "bloom_filter_options"}  # unsupported with encryption
    out["encryption_properties"] = cipher.encryption_properties()
    return out


def split(paths: list[Path], cipher: ProjectCipher | None) -> tuple[list[Path], list[Path]]:
    """(plaintext, encrypted) files of one project; without a cipher every file counts as plaintext."""
    if cipher is None:
        return paths, []
    plain: list[Path] = []
    encrypted: list[Path] = []
    for p in paths:
        (encrypted if is_encrypted(p) else plain).append(p)
    return plain, encrypted


def dataset(paths: list[Path], cipher: ProjectCipher) -> ds.Dataset:
    """The encrypted files as one dataset with the span schema (columns a file lacks read as null)."""
    import pyarrow.dataset as ds  # 16 MB of RSS that a server without encrypted projects never needs

    options = ds.ParquetFragmentScanOptions(decryption_properties=cipher.decryption_properties())
    fmt = ds.ParquetFileFormat(default_fragment_scan_options=options)
    return ds.dataset([str(p) for p in paths], schema=SPAN_SCHEMA, format=fmt)


def _listing(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


@contextlib.contextmanager
def relation(conn: duckdb.DuckDBPyConnection, paths: list[Path], cipher: ProjectCipher | None) -> Iterator[str]:
    """SQL of a relation over the segment files `paths` of one project, valid on `conn` until exit.

    Plaintext files are read by `read_parquet`; encrypted ones through a dataset registered on `conn`.
    """
    if not paths:
        raise ValueError("a relation over segment files needs at least one file")
    plain, encrypted = split(paths, cipher)
    parts = [f"SELECT * FROM {parquet_relation(_listing(plain))}"] if plain else []
    if not encrypted:
        yield f"({parts[0]})"
        return
    assert cipher is not None
    name = f"__lx_encrypted_{next(_names)}"
    conn.register(name, dataset(encrypted, cipher))
    try:
        yield "(" + " UNION ALL BY NAME ".join([*parts, f"SELECT * FROM {name}"]) + ")"
    finally:
        conn.unregister(name)
