"""The cluster objects' keys, their JSON framing and the errors every cluster module raises.

Every object under `cluster/` is one UTF-8 JSON object carrying `"format": 1` (docs/format/cluster.md). A reader
refuses an object of a higher format, naming the key and both versions, rather than guess at fields it does not
know. Times are epoch microseconds from a `Clock`, which tests replace. This module does no I/O.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ulid import ULID

from lynex_box.versions import CLUSTER_FORMAT

FORMAT = CLUSTER_FORMAT
CLUSTER_KEY = "cluster/cluster.json"
NODES_PREFIX = "cluster/nodes"
LEASES_PREFIX = "cluster/leases"
MANIFESTS_PREFIX = "cluster/manifests"
ALERTS_PREFIX = "cluster/alerts"
PROBE_PREFIX = "cluster/probe"
REPLACED_PREFIX = "cluster/replaced"
USAGE_MARK_KEY = "cluster/usage/closed.json"
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # node ids and job names: one key segment, as [bucket] node_id

Clock = Callable[[], int]
"""Wall-clock time in epoch microseconds."""

T = TypeVar("T")


def wall_clock_us() -> int:
    """The default `Clock`: this machine's wall clock."""
    return time.time_ns() // 1000


def new_incarnation() -> str:
    """A fresh id for one process start: it tells two processes that claim one node id apart."""
    return str(ULID())


class ClusterError(Exception):
    """Base of the cluster errors: a message naming the values involved, and a hint for the operator."""

    default_hint = "see docs/format/cluster.md"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.detail = message
        self.hint = hint if hint is not None else self.default_hint
        super().__init__(f"{message}; hint: {self.hint}")


class BadRecord(ClusterError):
    """A cluster object is not what its format says (not JSON, a field missing or of the wrong type)."""

    default_hint = "the object was written by something other than Lynex Box or damaged; remove it and restart"


class NewerFormat(ClusterError):
    """A cluster object was written by a newer Lynex Box than this one."""

    default_hint = "upgrade this node to the version the other nodes run"


def node_key(node_id: str) -> str:
    return f"{NODES_PREFIX}/{_name(node_id, 'node id')}.json"


def lease_key(job: str) -> str:
    return f"{LEASES_PREFIX}/{_name(job, 'job')}.json"


def manifest_key(node_id: str) -> str:
    return f"{MANIFESTS_PREFIX}/{_name(node_id, 'node id')}.json"


def alert_state_key(rule_id: str) -> str:
    return f"{ALERTS_PREFIX}/{_name(rule_id, 'alert rule id')}.json"


def replaced_key(owner: str, segment_id: str) -> str:
    """The request asking `owner` to drop the segments merged segment `segment_id` replaces."""
    return f"{REPLACED_PREFIX}/{_name(owner, 'node id')}/{_name(segment_id, 'segment id')}.json"


def _name(value: str, what: str) -> str:
    if not NAME_RE.match(value):
        raise ValueError(f"{what} {value!r} must match {NAME_RE.pattern}")
    return value


def encode(fields: Mapping[str, Any]) -> bytes:
    """One JSON object with `"format"` first, then `fields` in their order."""
    return json.dumps({"format": FORMAT, **fields}, separators=(",", ":")).encode()


def decode(key: str, data: bytes) -> dict[str, Any]:
    """The JSON object stored at `key`, after checking that its format is one this node reads."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRecord(f"{key} is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise BadRecord(f"{key} holds {type(doc).__name__}, not a JSON object")
    version = doc.get("format")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BadRecord(f"{key} has format {version!r}, not a positive integer")
    if version > FORMAT:
        raise NewerFormat(f"{key} has format {version}, this node reads format {FORMAT} and older")
    return doc


def field(doc: Mapping[str, Any], key: str, name: str, kind: type[T]) -> T:
    """`doc[name]`, which must be a `kind` (an int is never a bool here)."""
    value = doc.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRecord(f"{key}: field {name!r} = {value!r} is not a {kind.__name__}")
    return value
