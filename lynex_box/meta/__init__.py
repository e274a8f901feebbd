"""Metadata in SQLite (apsw): one writer thread, readers from any thread, numbered migrations."""

from lynex_box.meta.db import MetaDB

__all__ = ["MetaDB"]
