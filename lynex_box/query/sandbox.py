"""A DuckDB connection for SQL that a person wrote (`lynex-box query`): it reads the files it is given, nothing else.

DuckDB's SQL can reach far beyond the spans: `read_csv('/etc/passwd')`, `glob('/*')`, `read_parquet` over another
project's segments, `COPY … TO`, `ATTACH`, `INSTALL`/`LOAD`. A sandboxed connection is a fresh in-memory database
whose only readable files are `allowed` (the segments of the one project being queried, DuckDB's
`allowed_paths`); then `enable_external_access` is turned off and the configuration locked, so the query cannot
turn either back on. Arrow tables registered on it (the head, an encrypted project's dataset) are read through
Arrow, not DuckDB's file system, so they still work after the lock. DuckDB still writes its own spill files to
`temp_dir`, and a statement may write there too: give it an empty private directory that is removed afterwards.
The connection is used for one query and closed: the file list is fixed at creation. It must never be handed SQL
before `open_sandbox` has locked it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb

HINT = (
    "hint: `lynex-box query` reads the project's spans only (a relation named `spans`); files, other projects, "
    "extensions, attached databases and settings are out of its reach"
)


class SandboxError(ValueError):
    """User SQL that the sandbox refuses; the message names what was refused and carries `HINT`."""


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _list_literal(paths: Iterable[Path]) -> str:
    return "[" + ", ".join(_literal(p) for p in paths) + "]"


def open_sandbox(
    allowed: Iterable[Path], threads: int, memory_limit_mb: int, temp_dir: Path | None
) -> duckdb.DuckDBPyConnection:
    """A locked connection that may read `allowed` and spill to `temp_dir` (a private directory), nothing else."""
    con = duckdb.connect(
        ":memory:",
        config={
            "threads": threads,
            "memory_limit": f"{memory_limit_mb}MB",
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        },
    )
    try:
        con.execute("SET TimeZone = 'UTC'")
        if temp_dir is not None:  # else DuckDB would spill to `.tmp` in the working directory
            con.execute(f"SET temp_directory = {_literal(temp_dir)}")
        # Order matters: allowed_paths can only be set while external access is on, and nothing can be set
        # once the configuration is locked.
        con.execute(f"SET allowed_paths = {_list_literal(allowed)}")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def check_select(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but exactly one SELECT (a `WITH … SELECT` is one), with the statement type named."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise SandboxError(f"the query is not valid SQL: {exc}") from None
    kinds = [s.type.name for s in statements]
    if kinds != ["SELECT"]:
        found = ", ".join(kinds) or "nothing"
        raise SandboxError(f"only a single SELECT statement over `spans` is allowed, got {found}; {HINT}")


def explain(exc: duckdb.Error) -> SandboxError | None:
    """A refusal by the sandbox as a `SandboxError` with the hint; None for any other DuckDB error."""
    if isinstance(exc, duckdb.PermissionException) or "configuration has been locked" in str(exc):
        return SandboxError(f"{exc}; {HINT}")
    return None
