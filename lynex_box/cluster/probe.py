"""The start-up proof that the bucket honours the two conditional writes cluster mode stands on.

Founding, heartbeats and leases are correct only if a create-only write (`If-None-Match: *`) fails on an existing
object and a compare-and-swap (`If-Match`) fails on a changed one. Some stores (older MinIO, some gateways) accept
the headers and ignore them: every node would then believe it holds every lease. So before anything else a node
makes each wrong write once on a probe object of its own and refuses to start if the store lets one through. It
must never leave the probe behind when it can help it, nor touch any other key.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from lynex_box.cluster.records import PROBE_PREFIX, ClusterError
from lynex_box.objstore import NotSupported, ObjectStore, ObjectStoreError, PreconditionFailed

log = logging.getLogger(__name__)
_WRONG_ETAG = '"' + "0" * 32 + '"'  # the shape of an S3 etag, matching no content the probe writes


class ConditionalWritesUnsupported(ClusterError):
    """The store let a conditional write through that it must refuse, or refused one it must accept."""

    default_hint = (
        "cluster mode needs a store that honours If-None-Match: * and If-Match on PUT (AWS S3, a recent MinIO, "
        "Ceph RGW, R2); upgrade the store or the gateway in front of it, or set cluster.enabled = false"
    )


def probe_conditional_writes(store: ObjectStore, node_id: str, *, endpoint: str) -> None:
    """Prove both conditional writes on `cluster/probe/<node_id>-<random>`; raise `ConditionalWritesUnsupported`
    naming `endpoint` (how the operator knows the store) and the write the store got wrong."""
    key = f"{PROBE_PREFIX}/{node_id}-{secrets.token_hex(6)}"
    try:
        first = store.put_if_absent(key, b"probe 1")
    except NotSupported as exc:
        raise _unsupported(endpoint, f"refused a create-only write (If-None-Match: *): {exc.detail}") from None
    try:
        _prove(store, key, first.etag, endpoint)
    finally:
        try:
            store.delete(key)
        except ObjectStoreError as exc:  # the probe is a few bytes; never hide the answer behind its cleanup
            log.warning("cluster probe not deleted key=%s error=%s", key, exc.detail)


def _prove(store: ObjectStore, key: str, etag: str, endpoint: str) -> None:
    if _lets_through(lambda: store.put_if_absent(key, b"probe 2")):
        raise _unsupported(endpoint, "let a second create-only write (If-None-Match: *) replace an existing object")
    wrong = _WRONG_ETAG if etag != _WRONG_ETAG else '"1"'
    if _lets_through(lambda: store.put_if_match(key, b"probe 3", wrong)):
        what = f"let a compare-and-swap write (If-Match: {wrong}) replace an object whose etag is {etag}"
        raise _unsupported(endpoint, what)
    try:
        store.put_if_match(key, b"probe 4", etag)
    except (PreconditionFailed, NotSupported) as exc:
        raise _unsupported(
            endpoint, f"refused a compare-and-swap write with the object's own etag: {exc.detail}"
        ) from None


def _lets_through(write: Callable[[], object]) -> bool:
    """True when the write the store must refuse succeeded."""
    try:
        write()
    except PreconditionFailed:
        return False
    except NotSupported:
        return False  # a store that refuses conditional writes outright fails the write that must succeed
    return True


def _unsupported(endpoint: str, what: str) -> ConditionalWritesUnsupported:
    return ConditionalWritesUnsupported(f"the object store at {endpoint} {what}")
