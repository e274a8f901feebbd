"""Alert state objects, `cluster/alerts/<rule_id>.json`: each rule's state in the bucket, written only by the
`alerts` lease holder and stamped with the generation it holds the lease at (docs/format/cluster.md).

A new holder continues the episode the old one was in (no second firing), and an old holder that wakes up after
losing the lease cannot overwrite the new one's state: every write is conditional (create-only, then
compare-and-swap on the etag last read or written), and a refused writer that reads again finds the higher
generation. What the state says is the alerts package's business (`alerts/shared.py`); this module frames,
stamps and stores it, and answers the two lease questions the alerts need (`generation`, `confirm`). It satisfies
`alerts.shared.SharedState` structurally: app.py passes it in, so alerts never imports cluster. Blocking calls:
run them in threads.
"""

from __future__ import annotations

from typing import Any

from lynex_box.cluster.keeper import LeaseKeeper
from lynex_box.cluster.records import Clock, alert_state_key, decode, encode, field, wall_clock_us
from lynex_box.objstore import ObjectNotFound, ObjectStore, PreconditionFailed

JOB = "alerts"


class AlertStateStore:
    """The alert state objects as one node (`holder`) reads and writes them, under its `alerts` lease."""

    def __init__(self, store: ObjectStore, keeper: LeaseKeeper, holder: str, clock: Clock = wall_clock_us) -> None:
        self._store = store
        self._keeper = keeper
        self._holder = holder
        self._clock = clock

    def generation(self) -> int | None:
        """The generation this node holds the `alerts` lease at, or None (then it must not write or deliver)."""
        return self._keeper.holds(JOB)

    def confirm(self, generation: int) -> bool:
        """Renew the lease now; True when this node still holds it at `generation` after the renewal."""
        return self._keeper.confirm(JOB, generation)

    def read(self, rule_id: str) -> tuple[dict[str, Any], int, str] | None:
        """The stored state of `rule_id`, the generation that wrote it and the object's etag; None when the rule
        has no object yet."""
        key = alert_state_key(rule_id)
        try:
            got = self._store.get(key)
        except ObjectNotFound:
            return None
        doc = decode(key, got.data)
        return field(doc, key, "state", dict), field(doc, key, "generation", int), got.etag

    def write(self, rule_id: str, state: dict[str, Any], generation: int, etag: str | None) -> str | None:
        """Store `state` at `generation`: create-only when `etag` is None, else compare-and-swap on it. The new
        etag, or None when another write came first (read again: a higher generation there means stop)."""
        key = alert_state_key(rule_id)
        body = encode(
            {
                "rule_id": rule_id,
                "generation": generation,
                "holder": self._holder,
                "updated_at": self._clock(),
                "state": state,
            }
        )
        try:
            if etag is None:
                return self._store.put_if_absent(key, body).etag
            return self._store.put_if_match(key, body, etag).etag
        except PreconditionFailed:
            return None
