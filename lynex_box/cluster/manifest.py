"""A node's segment manifest, `cluster/manifests/<node_id>.json`: the segments it has published, as others read them.

docs/format/cluster.md ("Segment manifests", step 2) is the format: the node's id and incarnation, a `seq` that
grows by one per write, and one entry per live segment (its bucket key, project, time bounds, rows, bytes, level,
schema version, SHA-256 and trace bloom filter). Entries convert to and from catalog rows (`SegmentEntry`); a row
read from another node's manifest is a remote segment (`location = "remote"`, `path = remote_key =` its key). This
module does no I/O.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from lynex_box.cluster.records import MANIFESTS_PREFIX, BadRecord, decode, encode, field
from lynex_box.meta.catalog import SegmentEntry


def node_of(key: str) -> str | None:
    """The node id of a manifest's key, or None for a key that is not one."""
    name = key.removeprefix(f"{MANIFESTS_PREFIX}/")
    if name == key or "/" in name or not name.endswith(".json"):
        return None
    return name.removesuffix(".json") or None


@dataclass(frozen=True, slots=True)
class Merged:
    """What one of this node's merged segments replaces (cross-node compaction): the lease generation it was made
    under and, per owner node, the ids of the segments it holds the rows of."""

    generation: int
    replaces: tuple[tuple[str, str], ...]  # (node id, segment id)

    def as_json(self) -> list[dict[str, str]]:
        return [{"node": node, "id": segment} for node, segment in self.replaces]


def entry_of(
    segment: SegmentEntry, key: str, checksum: str, *, compactable: bool = False, merged: Merged | None = None
) -> dict[str, Any]:
    """The manifest entry of a segment whose bucket copy is `key` (verified: `checksum` is its SHA-256);
    `compactable`: handed over to cross-node compaction; `merged`: what a merge of the `compaction` lease holder
    replaces."""
    bloom = segment.trace_bloom
    extra: dict[str, Any] = {}
    if merged is not None:
        extra = {"generation": merged.generation, "replaces": merged.as_json()}
    return {
        "id": segment.id,
        "project_id": segment.project_id,
        "key": key,
        "min_time": segment.min_time,
        "max_time": segment.max_time,
        "row_count": segment.row_count,
        "bytes": segment.bytes,
        "level": segment.level,
        "schema_version": segment.schema_version,
        "created_at": segment.created_at,
        "checksum": checksum,
        "trace_bloom": base64.b64encode(bloom).decode() if bloom is not None else None,
        "compactable": compactable,
        **extra,
    }


@dataclass(frozen=True, slots=True)
class Manifest:
    node_id: str
    incarnation: str
    seq: int
    updated_at: int
    segments: tuple[dict[str, Any], ...]

    def to_bytes(self) -> bytes:
        return encode(
            {
                "node_id": self.node_id,
                "incarnation": self.incarnation,
                "seq": self.seq,
                "updated_at": self.updated_at,
                "segments": list(self.segments),
            }
        )

    @classmethod
    def from_bytes(cls, key: str, data: bytes) -> Manifest:
        doc = decode(key, data)
        segments = field(doc, key, "segments", list)
        if not all(isinstance(entry, dict) for entry in segments):
            raise BadRecord(f"{key}: field 'segments' is not a list of objects")
        return cls(
            field(doc, key, "node_id", str),
            field(doc, key, "incarnation", str),
            field(doc, key, "seq", int),
            field(doc, key, "updated_at", int),
            tuple(segments),
        )

    def replaced(self, key: str) -> dict[str, str]:
        """The segments this node's merged segments replace: replaced id -> the merged segment's id."""
        out: dict[str, str] = {}
        for entry in self.segments:
            for _node, segment in _replaces(key, entry):
                out[segment] = str(entry.get("id"))
        return out

    def merged(self, key: str) -> dict[str, Merged]:
        """This node's merged segments: id -> what it replaces."""
        out: dict[str, Merged] = {}
        for entry in self.segments:
            replaces = _replaces(key, entry)
            if replaces:
                generation = field(entry, f"{key} segment {entry.get('id')!r}", "generation", int)
                out[str(entry.get("id"))] = Merged(generation, replaces)
        return out

    def compactable(self, key: str) -> list[SegmentEntry]:
        """The segments this node handed over to cross-node compaction, as remote catalog rows."""
        return [_remote(key, entry) for entry in self.segments if entry.get("compactable") is True]

    def remote_entries(self, key: str) -> list[SegmentEntry]:
        """The manifest's segments as remote catalog rows, read through the bucket cache (`BadRecord` for one that
        is not what the format says)."""
        return [_remote(key, entry) for entry in self.segments]


def _remote(key: str, entry: dict[str, Any]) -> SegmentEntry:
    at = f"{key} segment {entry.get('id')!r}"
    bloom = entry.get("trace_bloom")
    if bloom is not None and not isinstance(bloom, str):
        raise BadRecord(f"{at}: field 'trace_bloom' = {bloom!r} is not base64 text")
    try:
        trace_bloom = base64.b64decode(bloom, validate=True) if bloom is not None else None
    except binascii.Error:
        raise BadRecord(f"{at}: field 'trace_bloom' is not valid base64") from None
    object_key = field(entry, at, "key", str)
    return SegmentEntry(
        id=field(entry, at, "id", str),
        project_id=field(entry, at, "project_id", str),
        path=object_key,
        min_time=field(entry, at, "min_time", int),
        max_time=field(entry, at, "max_time", int),
        row_count=field(entry, at, "row_count", int),
        bytes=field(entry, at, "bytes", int),
        level=field(entry, at, "level", int),
        location="remote",
        schema_version=field(entry, at, "schema_version", int),
        created_at=int(entry.get("created_at") or 0),
        trace_bloom=trace_bloom,
        remote_key=object_key,
        checksum=field(entry, at, "checksum", str),
    )


def _replaces(key: str, entry: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    listed = entry.get("replaces")
    if listed is None:
        return ()
    at = f"{key} segment {entry.get('id')!r}"
    if not isinstance(listed, list) or not all(
        isinstance(r, dict) and isinstance(r.get("node"), str) and isinstance(r.get("id"), str) for r in listed
    ):
        raise BadRecord(f"{at}: field 'replaces' is not a list of {{'node', 'id'}} objects")
    return tuple((r["node"], r["id"]) for r in listed)
