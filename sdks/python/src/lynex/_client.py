"""`Lynex`: the client. It records (validate, write as JSON, queue) on the caller's thread and nothing more; a
sender thread of its own delivers.

Recording never raises into the application and never blocks it: a bad event is reported (logging and the
`on_error` callback) and dropped, a full queue drops with a counter. The only exception the client raises is a
`ConfigError` from the constructor. At interpreter exit it delivers what is waiting (for at most `exit_timeout`
seconds); in a forked child it starts over with an empty queue, a new connection pool and a new sender thread.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lynex._diskbuffer import DiskBuffer
from lynex._errors import ConfigError, EventsDropped, InvalidEvent, LynexError
from lynex._ids import uuid7
from lynex._json import dumps
from lynex._memqueue import MemoryQueue
from lynex._schema import validate_event
from lynex._sender import Sender, Stats
from lynex._source import EVENT, SCORE, Source
from lynex._tracing import Span, current_span, new_span
from lynex._transport import Transport
from lynex._version import __version__

logger = logging.getLogger("lynex")

DEFAULT_BASE_URL = "http://127.0.0.1:4318"

_clients: weakref.WeakSet[Lynex] = weakref.WeakSet()


@dataclass(frozen=True)
class _Settings:
    """The delivery options of a client (kept to rebuild its parts in a forked child)."""

    buffer_dir: str | None
    buffer_fsync: bool
    max_buffer_bytes: int
    max_queue_events: int
    max_queue_bytes: int
    batch_events: int
    batch_bytes: int
    flush_interval: float
    max_retry_delay: float
    timeout: float
    compression: str | None


_default: Lynex | None = None
_default_lock = threading.Lock()


class Lynex:
    """A client of one Lynex Box project.

    api_key, base_url, project_id: default to `LYNEX_API_KEY`, `LYNEX_BASE_URL` (else http://127.0.0.1:4318)
    and `LYNEX_PROJECT`. buffer_dir: keep recorded events in files there until the server has them (see the
    README); without it they wait in a bounded memory queue. on_error: called with each `LynexError` (invalid
    event, refused or dropped events), from the recording thread or the sender thread; it must not block."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        project_id: str | None = None,
        *,
        buffer_dir: str | os.PathLike[str] | None = None,
        buffer_fsync: bool = False,
        max_buffer_bytes: int = 1 << 30,
        max_queue_events: int = 100_000,
        max_queue_bytes: int = 64 << 20,
        batch_events: int = 500,
        batch_bytes: int = 1 << 20,
        flush_interval: float = 1.0,
        max_retry_delay: float = 30.0,
        timeout: float = 10.0,
        exit_timeout: float = 5.0,
        compression: str | None = "auto",
        environment: str | None = None,
        release: str | None = None,
        on_error: Callable[[LynexError], None] | None = None,
        enabled: bool = True,
    ) -> None:
        global _default
        self.api_key = api_key or os.environ.get("LYNEX_API_KEY") or None
        self.base_url = (base_url or os.environ.get("LYNEX_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.project_id = project_id or os.environ.get("LYNEX_PROJECT") or None
        self.environment = environment
        self.release = release
        self.on_error = on_error
        self.enabled = enabled
        self.exit_timeout = exit_timeout
        self._settings = _Settings(
            buffer_dir=os.fspath(buffer_dir) if buffer_dir is not None else None,
            buffer_fsync=buffer_fsync,
            max_buffer_bytes=max_buffer_bytes,
            max_queue_events=max_queue_events,
            max_queue_bytes=max_queue_bytes,
            batch_events=batch_events,
            batch_bytes=batch_bytes,
            flush_interval=flush_interval,
            max_retry_delay=max_retry_delay,
            timeout=timeout,
            compression=compression,
        )
        if compression not in ("auto", "zstd", "gzip", None):
            raise ConfigError(f"compression={compression!r} is not one of 'auto', 'zstd', 'gzip', None")
        self._stats = Stats()
        self._count_lock = threading.Lock()
        self._closed = not enabled
        self._sender: Sender | None = None
        self._source: Source | None = None
        if enabled:
            if not self.api_key:
                raise ConfigError("api_key is not set; hint: pass api_key= or set LYNEX_API_KEY")
            if not self.project_id:
                raise ConfigError("project_id is not set; hint: pass project_id= or set LYNEX_PROJECT")
            self._start()
            atexit.register(self._at_exit)
            _clients.add(self)
        with _default_lock:  # the first client, unless it records nothing (disabled or shut down)
            if _default is None or _default._closed:
                _default = self

    def _start(self) -> None:
        s = self._settings
        if s.buffer_dir is not None:
            self._source = DiskBuffer(s.buffer_dir, s.max_buffer_bytes, fsync=s.buffer_fsync)
        else:
            self._source = MemoryQueue(s.max_queue_events, s.max_queue_bytes)
        assert self.api_key is not None and self.project_id is not None
        transport = Transport(self.base_url, self.api_key, self.project_id, s.timeout, s.compression, __version__)
        self._sender = Sender(
            self._source,
            transport,
            self._stats,
            self._report,
            s.batch_events,
            s.batch_bytes,
            s.flush_interval,
            s.max_retry_delay,
        )
        self._sender.start()

    # --- recording

    def log_event(self, event: dict[str, Any]) -> str | None:
        """Record one event of the native schema (docs/events.md); returns its event_id, or None when it was not
        recorded (invalid: reported; or the queue was full: counted). The dict is not kept or changed."""
        if self._closed:
            return None
        event = dict(event)
        event_id = event.setdefault("event_id", uuid7())
        if self.environment is not None:
            event.setdefault("environment", self.environment)
        if self.release is not None:
            event.setdefault("release", self.release)
        return event_id if self._record(EVENT, event) else None

    def log_span(self, event: dict[str, Any]) -> None:
        """Record the event of a span that ended (built by the SDK: no copy needed)."""
        if self._closed:
            return
        if self.environment is not None and "environment" not in event:
            event["environment"] = self.environment
        if self.release is not None and "release" not in event:
            event["release"] = self.release
        self._record(EVENT, event)

    def _record(self, kind: int, item: dict[str, Any]) -> bool:
        if kind == EVENT:
            error = validate_event(item)
            if error is not None:
                self._invalid(error, item)
                return False
        try:
            data = dumps(item)
        except (TypeError, ValueError) as exc:
            self._invalid(f"cannot be written as JSON: {exc}", item)
            return False
        assert self._source is not None and self._sender is not None
        if not self._source.put(kind, data):
            with self._count_lock:
                self._stats.dropped += 1
                first = self._stats.dropped == 1
            if first:  # once: a full queue while the server is away drops every record
                self._report(EventsDropped("the queue or the disk buffer is full (is the server reachable?)", 1))
            return False
        self._sender.notify_if_full()
        return True

    def _invalid(self, reason: str, item: Any) -> None:
        with self._count_lock:
            self._stats.invalid += 1
        self._report(InvalidEvent(reason, item))

    def _report(self, error: LynexError) -> None:
        logger.warning("lynex: %s", error)
        if self.on_error is not None:
            try:
                self.on_error(error)
            except Exception:
                logger.exception("lynex: the on_error callback raised")

    def score(
        self,
        name: str,
        value: float | int | bool | str,
        *,
        trace_id: str | None = None,
        span_id: str | None = None,
        session_id: str | None = None,
        comment: str | None = None,
        data_type: str | None = None,
        metadata: dict[str, Any] | None = None,
        score_id: str | None = None,
    ) -> str | None:
        """Record a score (a number, a bool, or a category) on a trace, a span or a session; without ids, on
        the current trace. Returns the score's id (sending a score again with the same id replaces it)."""
        if self._closed:
            return None
        if trace_id is None and session_id is None:
            span = current_span()
            trace_id = span.trace_id if span is not None else None
        score: dict[str, Any] = {"id": score_id or uuid7(), "name": name, "value": value}
        optional: dict[str, Any] = {"trace_id": trace_id, "span_id": span_id, "session_id": session_id}
        optional["comment"] = comment
        optional |= {"data_type": data_type, "metadata": metadata, "environment": self.environment}
        score.update((k, v) for k, v in optional.items() if v is not None)
        problem = _score_problem(score)
        if problem is not None:
            self._invalid(problem, score)
            return None
        return score["id"] if self._record(SCORE, score) else None

    # --- tracing

    def trace(self, name: str, **fields: Any) -> Span:
        """The root span of a new trace. Trace-level keywords: user_id, session_id, tags, environment, release
        (and trace_id / parent_span_id to continue a trace begun elsewhere); others are event fields."""
        return new_span(self, name, fields.pop("type", "span"), fields, new_trace=True)

    def span(self, name: str, type: str = "span", **fields: Any) -> Span:
        """A span under the current one (or the root of a new trace when there is none)."""
        return new_span(self, name, type, fields)

    def generation(self, name: str, **fields: Any) -> Span:
        """An LLM call: a span of type llm; fields model, provider, input, output, usage, cost, tool_calls..."""
        return new_span(self, name, fields.pop("type", "llm"), fields)

    def observe(self, func: Any = None, **options: Any) -> Any:
        """`lynex.observe` bound to this client."""
        from lynex._observe import observe

        return observe(func, client=self, **options)

    # --- delivery

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until everything recorded so far is delivered (or refused); False if `timeout` came first."""
        if self._sender is None or self._source is None:
            return True
        return self._sender.flush(self._source.accepted, timeout)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Deliver what is waiting (at most `timeout`, default `exit_timeout`, seconds), then stop. Events still
        queued in memory are then counted as dropped; the disk buffer keeps them for the next process."""
        if self._sender is None or self._source is None or self._closed:
            return True
        self._closed = True
        atexit.unregister(self._at_exit)
        done = self._sender.shutdown(self._source.accepted, self.exit_timeout if timeout is None else timeout)
        self._source.close()
        self._sender.transport.close()
        return done

    def stats(self) -> dict[str, int]:
        """Counters: recorded, sent, dropped, invalid, rejected, retries, and queued (waiting to be sent)."""
        result = dict(vars(self._stats))
        result["recorded"] = self._source.accepted if self._source is not None else 0
        result["queued"] = self._source.pending()[0] if self._source is not None else 0
        return result

    def _at_exit(self) -> None:
        try:
            self.shutdown()
        except Exception:  # the interpreter is ending: never turn that into a traceback
            logger.exception("lynex: shutdown at exit failed")

    def _after_fork_in_child(self) -> None:
        """The parent's queue, connections, thread and buffer files stay the parent's; start afresh."""
        self._count_lock = threading.Lock()
        self._stats = Stats()
        if self._closed or self._source is None:
            return
        if isinstance(self._source, DiskBuffer):
            self._source.forget_after_fork()
        self._start()

    def __enter__(self) -> Lynex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<Lynex base_url={self.base_url} project_id={self.project_id} enabled={self.enabled}>"


def _score_problem(score: dict[str, Any]) -> str | None:
    name, value = score["name"], score["value"]
    if not isinstance(name, str) or not name.strip():
        return f"score name {name!r} must be a non-empty string"
    if not isinstance(value, int | float | str):
        return f"score {name!r}: value {value!r} must be a number, a bool or a string"
    if "trace_id" not in score and "session_id" not in score:
        return f"score {name!r} has no trace: pass trace_id= or session_id=, or record it inside a span"
    return None


def get_client() -> Lynex:
    """The default client: the first one built (a later one replaces it once it is shut down), else one built
    now from the environment (disabled, with a warning, when `LYNEX_API_KEY` or `LYNEX_PROJECT` is missing, so
    decorated code still runs)."""
    global _default
    with _default_lock:
        if _default is not None:
            return _default
    try:
        return Lynex()
    except ConfigError as exc:
        logger.warning("lynex: tracing is off: %s", exc)
        return Lynex(enabled=False)


def _after_fork() -> None:
    for client in list(_clients):
        client._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork)
