"""The disk guard: when free disk falls under `lifecycle.disk_pressure_free_bytes`, lifecycle work that frees disk
runs at once instead of on its schedule.

Under pressure the service empties the bucket cache, clears replaced files whose grace period is over, compacts
(only if the merged output fits in what is free above the ingest limit) and offloads oldest first regardless of
the hot window, for as long as the pressure lasts. Ingest itself is refused earlier than a full disk by
`Engine.backpressure` (`ingest.min_free_disk_bytes`, 503 + Retry-After); every write path (WAL, flush, rewrite)
removes its partial file on ENOSPC, so a full disk never corrupts data. This module only measures.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path


def disk_free(path: Path) -> int:
    return shutil.disk_usage(path).free


class DiskGuard:
    def __init__(
        self, path: Path, pressure_free_bytes: int, min_free_bytes: int, free: Callable[[Path], int] = disk_free
    ):
        self.path = path
        self.pressure_free_bytes = pressure_free_bytes
        self.min_free_bytes = min_free_bytes
        self._free = free

    def free(self) -> int:
        return self._free(self.path)

    def under_pressure(self) -> bool:
        return self.free() < self.pressure_free_bytes

    def spare_bytes(self) -> int:
        """What a rewrite may write before ingest would be refused (0 when nothing can be spared)."""
        return max(0, self.free() - self.min_free_bytes)
