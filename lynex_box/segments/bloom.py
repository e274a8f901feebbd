"""A per-segment bloom filter of trace ids, kept in the catalog row.

It lets a lookup by `trace_id` with no time range open only the few segments that may hold the
trace, instead of scanning every file. Hashes are blake2b, stable across versions and platforms
(the filter is stored on disk). A filter may say "maybe" wrongly; it must never say "no" wrongly.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable

import numpy as np

_HEADER = struct.Struct("<QB")  # bit count, hash count


def _hash_pair(key: str) -> tuple[int, int]:
    digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
    h1, h2 = struct.unpack("<QQ", digest)
    return h1, h2 | 1


def build_bloom(keys: Iterable[str], bits_per_key: int = 10) -> bytes:
    """Serialize a filter holding every key (duplicates welcome)."""
    unique = set(keys)
    m = max(64, len(unique) * bits_per_key)
    k = max(1, min(16, round(bits_per_key * 0.69)))
    pairs = np.array([_hash_pair(key) for key in unique], dtype=np.uint64).reshape(-1, 2)
    bits = np.zeros((m + 7) // 8, dtype=np.uint8)
    if len(pairs):
        steps = np.arange(k, dtype=np.uint64)
        with np.errstate(over="ignore"):
            positions = (pairs[:, :1] + steps * pairs[:, 1:]) % np.uint64(m)
        positions = positions.ravel()
        np.bitwise_or.at(
            bits,
            (positions >> np.uint64(3)).astype(np.int64),
            (1 << (positions & np.uint64(7))).astype(np.uint8),
        )
    return _HEADER.pack(m, k) + bits.tobytes()


def bloom_may_contain(blob: bytes, key: str) -> bool:
    m, k = _HEADER.unpack_from(blob)
    bits = memoryview(blob)[_HEADER.size :]
    h1, h2 = _hash_pair(key)
    mask = (1 << 64) - 1
    for i in range(k):
        pos = ((h1 + i * h2) & mask) % m
        if not bits[pos >> 3] & (1 << (pos & 7)):
            return False
    return True
