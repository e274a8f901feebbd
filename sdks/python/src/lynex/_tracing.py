"""Spans: the unit of tracing. One span becomes one event when it ends.

The current span lives in a `contextvars.ContextVar`, so it follows the code that runs under it: an asyncio task
inherits it from the code that created the task, `asyncio.to_thread` carries it into its thread, and a plain
thread or a thread pool gets it through `contextvars.copy_context().run(...)` (see the README). A span started
under another span is its child (same trace, `parent_span_id` set); a span started with no current span, or
through `Lynex.trace()`, begins a new trace.

Trace-level values (`user_id`, `session_id`, `tags`, `environment`, `release`) live in one object shared by the
spans of a trace and are copied into each span's event when the span ends, so per-user and per-session queries
see the trace's LLM calls, not only its root.
"""

from __future__ import annotations

import contextlib
import time
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any

from lynex._ids import span_id, trace_id, uuid7

if TYPE_CHECKING:
    from lynex._client import Lynex

TRACE_KEYS = ("user_id", "session_id", "tags", "environment", "release")
_ERROR_TEXT_MAX = 4096

_current: ContextVar[Span | None] = ContextVar("lynex_current_span", default=None)


def current_span() -> Span | None:
    """The span the running code is under, if any."""
    return _current.get()


def now_ms() -> float:
    """Epoch milliseconds with microsecond precision (the event schema's numeric time)."""
    return time.time_ns() // 1000 / 1000


class TraceState:
    """What the spans of one trace share."""

    __slots__ = ("environment", "release", "session_id", "tags", "trace_id", "user_id")

    def __init__(self, trace_id: str, values: dict[str, Any]) -> None:
        self.trace_id = trace_id
        self.user_id: str | None = values.get("user_id")
        self.session_id: str | None = values.get("session_id")
        self.tags: list[str] | None = values.get("tags")
        self.environment: str | None = values.get("environment")
        self.release: str | None = values.get("release")

    def fill(self, event: dict[str, Any]) -> None:
        for key in TRACE_KEYS:
            value = getattr(self, key)
            if value is not None:
                event[key] = value


class Span:
    """A unit of work being recorded. Use it as a context manager (it is then the current span), or call `end()`.

    `update()` adds or replaces event fields (`output`, `usage`, `metadata`, `model`, ...); an exception leaving
    the `with` block marks it `error` and is re-raised unchanged."""

    __slots__ = (
        "_client",
        "_ended",
        "_tokens",
        "fields",
        "name",
        "parent_span_id",
        "span_id",
        "start_ms",
        "trace",
        "type",
    )

    def __init__(
        self,
        client: Lynex,
        name: str,
        type: str,
        trace: TraceState,
        parent_span_id: str | None,
        fields: dict[str, Any],
    ) -> None:
        self._client = client
        self.name = name
        self.type = type
        self.trace = trace
        self.parent_span_id = parent_span_id
        self.span_id = span_id()
        self.fields = fields
        self.start_ms = now_ms()
        self._ended = False
        self._tokens: list[Token[Span | None]] = []

    @property
    def trace_id(self) -> str:
        return self.trace.trace_id

    @property
    def client(self) -> Lynex:
        return self._client

    def update(self, **fields: Any) -> Span:
        """Set event fields (any of the event schema's: output, usage, model, metadata, status...)."""
        self.fields.update(fields)
        return self

    def update_trace(self, **values: Any) -> Span:
        """Set trace-level values (user_id, session_id, tags, environment, release) for spans that end from now on."""
        for key, value in values.items():
            if key not in TRACE_KEYS:
                raise TypeError(f"update_trace() got {key!r}; it takes {list(TRACE_KEYS)}")
            setattr(self.trace, key, value)
        return self

    def end(self, **fields: Any) -> None:
        """Record the span (once; later calls do nothing)."""
        if self._ended:
            return
        self._ended = True
        self.fields.update(fields)
        event: dict[str, Any] = {
            "event_id": uuid7(),
            "trace_id": self.trace.trace_id,
            "span_id": self.span_id,
            "name": self.name,
            "type": self.type,
            "start_time": self.start_ms,
            "end_time": now_ms(),
        }
        if self.parent_span_id is not None:
            event["parent_span_id"] = self.parent_span_id
        self.trace.fill(event)
        event.update(self.fields)
        self._client.log_span(event)

    def fail(self, exc: BaseException) -> None:
        """Mark the span failed with `exc` (unless a status was set explicitly)."""
        if isinstance(exc, GeneratorExit) or "status" in self.fields:
            return
        self.fields["status"] = "error"
        self.fields["error"] = {"type": type(exc).__name__, "message": str(exc)[:_ERROR_TEXT_MAX]}

    def span(self, name: str, type: str = "span", **fields: Any) -> Span:
        """A child of this span (whatever the current span is)."""
        return Span(self._client, name, type, self.trace, self.span_id, fields)

    def generation(self, name: str, **fields: Any) -> Span:
        """A child LLM call."""
        return self.span(name, "llm", **fields)

    def score(self, name: str, value: Any, **kwargs: Any) -> str | None:
        """A score on this span; see `Lynex.score`."""
        return self._client.score(name, value, trace_id=self.trace_id, span_id=self.span_id, **kwargs)

    def __enter__(self) -> Span:
        self._tokens.append(_current.set(self))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self.fail(exc)
        try:
            self.end()
        finally:
            if self._tokens:
                _reset(self._tokens.pop())

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"<Span {self.name!r} trace_id={self.trace_id} span_id={self.span_id}>"


def _reset(token: Token[Span | None]) -> None:
    # exited in another context than it was entered in (a task switch): leave that one alone
    with contextlib.suppress(ValueError):
        _current.reset(token)


def new_span(client: Lynex, name: str, type: str, fields: dict[str, Any], new_trace: bool = False) -> Span:
    """A child of the current span, or the root of a new trace (trace-level values in `fields` go to the trace)."""
    parent = None if new_trace else _current.get()
    if parent is not None:
        return Span(client, name, type, parent.trace, parent.span_id, fields)
    trace_values = {key: fields.pop(key) for key in TRACE_KEYS if key in fields}
    given = fields.pop("trace_id", None)
    return Span(
        client, name, type, TraceState(given or trace_id(), trace_values), fields.pop("parent_span_id", None), fields
    )
