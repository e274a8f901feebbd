"""What the OpenAI and Anthropic wrappers share: patching one method of a client instance, recording a call as a
generation span, and watching a streamed answer without changing it.

The rule every piece follows: the caller gets exactly what the provider's client returns (the same objects, the
same exceptions, the same stream type), and an error in the recording code is logged, never raised. A stream is
watched by replacing the iterator inside the provider's own stream object (both SDKs keep it in `_iterator`), so
the caller keeps that object and its type; the call is recorded when the stream ends, fails, or is closed. A
stream object without that attribute is handed back wrapped in a thin proxy instead.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from lynex._json import plain

if TYPE_CHECKING:
    from lynex._client import Lynex
    from lynex._tracing import Span

logger = logging.getLogger("lynex")

WRAPPED = "__lynex_wrapped__"


def get(obj: Any, key: str, default: Any = None) -> Any:
    """`obj[key]` or `obj.key`: provider objects are pydantic models, request values are dicts."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def given(value: Any) -> bool:
    """False for the providers' "not given" sentinels (`NOT_GIVEN`, `omit`) and None."""
    return value is not None and type(value).__name__ not in ("NotGiven", "Omit")


def parameters(kwargs: dict[str, Any], skip: tuple[str, ...]) -> dict[str, Any]:
    """The request's other parameters (temperature, max_tokens, tools...), for the span's metadata."""
    return {k: plain(v) for k, v in kwargs.items() if k not in skip and not k.startswith("extra_") and given(v)}


class Call:
    """One recorded provider call: a generation span plus what the wrapper learnt from the answer."""

    def __init__(self, client: Lynex | None, name: str, fields: dict[str, Any]) -> None:
        self.span: Span | None = None
        try:
            from lynex._client import get_client

            lx = client or _current_client() or get_client()
            if lx.enabled:
                self.span = lx.generation(name, **fields)
        except Exception:
            logger.exception("lynex: could not start recording %s", name)

    def finish(self, fields: Callable[[], dict[str, Any]] | None, exc: BaseException | None = None) -> None:
        """End the span with the fields `fields()` computes (guarded), or with the error."""
        span, self.span = self.span, None
        if span is None:
            return
        try:
            if fields is not None:
                span.update(**fields())
            if exc is not None:
                span.fail(exc)
            span.end()
        except Exception:
            logger.exception("lynex: could not record %s", span.name)


def _current_client() -> Lynex | None:
    from lynex._tracing import current_span

    span = current_span()
    return span.client if span is not None else None


def patch(owner: Any, attr: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace `owner.attr` (a bound method of one client instance) with `make(original)`, once."""
    original = getattr(owner, attr)
    if getattr(original, WRAPPED, False):
        return
    wrapper = functools.wraps(original)(make(original))
    setattr(wrapper, WRAPPED, True)
    setattr(owner, attr, wrapper)


def record_call(
    original: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    call: Call,
    on_result: Callable[[Any], dict[str, Any]],
    watch: Callable[[Any, Call], Any],
) -> Any:
    """Run the provider call; record its result (`on_result`), or watch the stream it returned (`watch`)."""
    streaming = kwargs.get("stream") is True
    try:
        result = original(*args, **kwargs)
    except BaseException as exc:
        call.finish(None, exc)
        raise
    if inspect.isawaitable(result):
        return _await(result, streaming, call, on_result, watch)
    if streaming:
        return watch(result, call)
    call.finish(lambda: on_result(result))
    return result


async def _await(
    pending: Any,
    streaming: bool,
    call: Call,
    on_result: Callable[[Any], dict[str, Any]],
    watch: Callable[[Any, Call], Any],
) -> Any:
    try:
        result = await pending
    except BaseException as exc:
        call.finish(None, exc)
        raise
    if streaming:
        return watch(result, call)
    call.finish(lambda: on_result(result))
    return result


class Accumulator:
    """Collects a stream's items; `fields()` turns them into the span's fields at the end."""

    def add(self, item: Any) -> None:
        raise NotImplementedError

    def fields(self) -> dict[str, Any]:
        raise NotImplementedError


def watch_stream(stream: Any, call: Call, acc: Accumulator) -> Any:
    """Record `stream` as it is consumed; returns the same object (or a proxy when it cannot be patched)."""
    is_async = hasattr(stream, "__aiter__")
    try:
        inner = stream._iterator
    except AttributeError:
        inner = None
    if inner is None or not (hasattr(inner, "__anext__") if is_async else hasattr(inner, "__next__")):
        return _AsyncProxy(stream, call, acc) if is_async else _Proxy(stream, call, acc)
    if is_async:
        stream._iterator = _awatch(inner, call, acc)
        original_close = stream.close

        async def close() -> None:
            call.finish(acc.fields)
            await original_close()

        stream.close = close
    else:
        stream._iterator = _watch(inner, call, acc)
        original = stream.close

        def close_sync() -> None:
            call.finish(acc.fields)
            original()

        stream.close = close_sync
    return stream


def _add(acc: Accumulator, item: Any) -> None:
    try:
        acc.add(item)
    except Exception:
        logger.exception("lynex: could not read a stream item")


def _watch(inner: Iterator[Any], call: Call, acc: Accumulator) -> Iterator[Any]:
    try:
        for item in inner:
            _add(acc, item)
            yield item
    except BaseException as exc:
        call.finish(acc.fields, exc)
        close = getattr(inner, "close", None)
        if close is not None:
            close()
        raise
    call.finish(acc.fields)


async def _awatch(inner: AsyncIterator[Any], call: Call, acc: Accumulator) -> AsyncIterator[Any]:
    try:
        async for item in inner:
            _add(acc, item)
            yield item
    except BaseException as exc:
        call.finish(acc.fields, exc)
        aclose = getattr(inner, "aclose", None)
        if aclose is not None:
            await aclose()
        raise
    call.finish(acc.fields)


class _Proxy:
    """A stand-in for a sync stream object whose iterator cannot be replaced: everything else is delegated."""

    def __init__(self, stream: Any, call: Call, acc: Accumulator) -> None:
        self._lynex_stream = stream
        self._lynex_iter = _watch(iter(stream), call, acc)
        self._lynex_done = functools.partial(call.finish, acc.fields)

    def __iter__(self) -> Iterator[Any]:
        return self._lynex_iter

    def __next__(self) -> Any:
        return next(self._lynex_iter)

    def __enter__(self) -> _Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._lynex_done()
        self._lynex_stream.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lynex_stream, name)


class _AsyncProxy:
    """`_Proxy` for async streams."""

    def __init__(self, stream: Any, call: Call, acc: Accumulator) -> None:
        self._lynex_stream = stream
        self._lynex_iter = _awatch(stream.__aiter__(), call, acc)
        self._lynex_done = functools.partial(call.finish, acc.fields)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._lynex_iter

    async def __anext__(self) -> Any:
        return await self._lynex_iter.__anext__()

    async def __aenter__(self) -> _AsyncProxy:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._lynex_done()
        await self._lynex_stream.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lynex_stream, name)
