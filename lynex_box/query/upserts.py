"""Which segment files hold Langfuse update rows, so that `sources.langfuse.upserts.fold_sql` wraps only the
queries that can meet one.

Segment files are immutable, so each is checked once (Parquet statistics, then its `source` column) and
remembered; the head is checked per query. A query that meets none runs the plain relation and pays nothing for
the fold.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from itertools import chain
from pathlib import Path
from typing import Final

import pyarrow as pa

from lynex_box.segments.encryption import ProjectCipher
from lynex_box.sources.langfuse.upserts import file_has_updates, table_has_updates

# Files remembered at most; past it the memory is cleared (a forgotten file costs one footer read again).
_MAX_REMEMBERED: Final = 100_000


class UpdateIndex:
    """Which segment files hold Langfuse update rows, learnt once per file (files never change). Thread-safe."""

    def __init__(self) -> None:
        self._known: dict[Path, bool] = {}
        self._lock = threading.Lock()

    def any_in(
        self,
        files: Iterable[Path],
        head: Iterable[pa.Table],
        encrypted: Iterable[Path] = (),
        cipher: ProjectCipher | None = None,
    ) -> bool:
        """True when one of the plaintext `files`, the `encrypted` files (of `cipher`'s project) or the `head`
        tables holds an update row."""
        if any(table_has_updates(t) for t in head):
            return True
        decryption = cipher.decryption_properties() if cipher is not None else None
        for path, properties in chain(((f, None) for f in files), ((f, decryption) for f in encrypted)):
            with self._lock:
                known = self._known.get(path)
            if known is None:
                known = file_has_updates(path, properties)
                with self._lock:
                    if len(self._known) >= _MAX_REMEMBERED:
                        self._known.clear()
                    self._known[path] = known
            if known:
                return True
        return False
