"""`ReadOnlyMode`: whether this node takes writes now, and why not (docs/operations/disaster-recovery.md).

Two causes. *Manual*: `[server] read_only = true` (`lynex-box run --read-only`), for as long as the process runs;
app.py then also leaves out every job that writes (flush, lifecycle passes, alerts, heartbeats, leases).
*Automatic*: with a bucket, when every write to it has failed for `[bucket] readonly_after_s` seconds
(`WriteHealth`, fed by every upload, manifest, heartbeat, offload and backup). Until then ingest goes on into the
WAL and local segments, durable on this node's disk and published when the bucket is back; the bound caps how much
acknowledged data exists on one disk only. It ends at the first write that succeeds: the node's own writes retry
(heartbeats, publisher passes), and while writes fail the `bucket_probe` job puts a small object every few seconds
(`health/<node_id>.json`) so a node with nothing else to write still finds out. A full local disk is not a cause
here: `Engine.backpressure` refuses ingest earlier (503 `overloaded`).

The HTTP gate (api/readonly.py) and ingest admission ask `reason()` on every write request: it must stay cheap
and never touch the bucket. Transitions are logged once each.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Final

from lynex_box.jobs import Job
from lynex_box.objstore import ObjectStore, ObjectStoreError, WriteHealth

log = logging.getLogger("lynex.readonly")

MANUAL_RETRY_AFTER_S: Final = 60  # until an operator restarts the node without --read-only
AUTOMATIC_RETRY_AFTER_S: Final = 10  # the probe's pace: a client retrying then finds the node writable soon after
PROBE_MAX_EVERY_S: Final = 5.0


def probe_key(node_id: str) -> str:
    return f"health/{node_id}.json"


class ReadOnlyMode:
    """Thread-safe. `health` and `bucket` are None without a bucket (then only the manual mode exists)."""

    def __init__(
        self,
        *,
        manual: bool,
        readonly_after_s: float,
        node_id: str,
        health: WriteHealth | None = None,
        bucket: ObjectStore | None = None,
    ) -> None:
        self.manual = manual
        self.readonly_after_s = readonly_after_s
        self.node_id = node_id
        self._health = health
        self._bucket = bucket
        self._lock = threading.Lock()
        self._automatic = False  # the last state logged

    def _bucket_unwritable(self) -> bool:
        if self._health is None or self.readonly_after_s <= 0:
            return False
        return self._health.failing_for_s() >= self.readonly_after_s

    def reason(self) -> str | None:
        """Why writes are refused now, or None when they are taken (logs the automatic mode's transitions)."""
        if self.manual:
            return "this node runs in read-only mode (--read-only or [server] read_only); queries keep working"
        unwritable = self._bucket_unwritable()
        with self._lock:
            changed, self._automatic = unwritable != self._automatic, unwritable
        if changed:
            self._log_transition(unwritable)
        if not unwritable:
            return None
        return (
            f"every write to the bucket has failed for {self._failing_s():.0f} s (over [bucket] readonly_after_s = "
            f"{self.readonly_after_s:g}): this node is read-only until the bucket takes writes again; queries keep "
            "working"
        )

    def _failing_s(self) -> float:
        return 0.0 if self._health is None else self._health.failing_for_s()

    def _log_transition(self, entered: bool) -> None:
        if entered:
            error = self._health.last_error if self._health is not None else None
            log.error(
                "read-only mode entered cause=bucket_unwritable failing_s=%.1f readonly_after_s=%g error=%s",
                self._failing_s(), self.readonly_after_s, error,
            )  # fmt: skip
        else:
            log.warning("read-only mode left cause=bucket_writable_again")

    def retry_after_s(self) -> int:
        return MANUAL_RETRY_AFTER_S if self.manual else AUTOMATIC_RETRY_AFTER_S

    def state(self) -> dict[str, Any]:
        """What /readyz and GET /v1/cluster show: `read_only`, `mode` (manual, automatic or null), how long the bucket
        has been unwritable, and the last write error."""
        reason = self.reason()
        mode = None if reason is None else ("manual" if self.manual else "automatic")
        failing = self._failing_s()
        bucket = None
        if self._health is not None:
            bucket = {
                "writable": not self._health.failing,
                "failing_s": round(failing, 1),
                "readonly_after_s": self.readonly_after_s,
                "last_error": self._health.last_error,
            }
        return {"read_only": reason is not None, "mode": mode, "reason": reason, "bucket": bucket}

    def probe(self) -> None:
        """While writes to the bucket fail, put one small object, so that a node with nothing else to write learns
        that the bucket is back; no request at all while writes succeed. Never raises a bucket error."""
        if self._bucket is None or self._health is None or not self._health.failing or self.manual:
            self.reason()
            return
        body = json.dumps({"node_id": self.node_id, "probed_at": time.time()}).encode()
        try:
            self._bucket.put(probe_key(self.node_id), body)  # WatchedStore tells the health how it went
        except ObjectStoreError as exc:
            log.debug("bucket probe failed error=%s", exc)
        self.reason()  # logs a transition now rather than at the next request

    def jobs(self) -> list[Job]:
        """The probe (automatic mode only), every `readonly_after_s / 4`, at most every 5 s and at least every 0.5 s."""
        if self.manual or self._bucket is None or self.readonly_after_s <= 0:
            return []
        every = min(PROBE_MAX_EVERY_S, max(0.5, self.readonly_after_s / 4))
        return [Job.blocking("bucket_probe", self.probe, every)]
