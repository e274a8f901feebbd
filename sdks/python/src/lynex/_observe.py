"""`@observe`: record each call of a function as a span, its arguments as input and its result as output.

It handles plain and async functions, generators and async generators (the span lasts until the generator is
exhausted or closed; its output is what it yielded). The decorated function behaves exactly as before: what it
returns, yields and raises is passed through untouched, and a failure inside the SDK only costs the recording.

A sync generator's body runs in a context of its own (`Context.run`), so the current span inside it is its own
span at every step, whoever iterates it; an async generator's steps set and reset the current span around each
step, in the consuming task.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
from collections.abc import AsyncGenerator, Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar, overload

from lynex._tracing import Span, _current, _reset, current_span, new_span

if TYPE_CHECKING:
    from lynex._client import Lynex

logger = logging.getLogger("lynex")

F = TypeVar("F", bound=Callable[..., Any])
_MAX_ITEMS = 1000  # yielded items kept as a generator's output


@overload
def observe(func: F, **options: Any) -> F: ...
@overload
def observe(func: None = None, **options: Any) -> Callable[[F], F]: ...


def observe(
    func: Any = None,
    *,
    name: str | None = None,
    type: str = "span",
    capture_input: bool = True,
    capture_output: bool = True,
    client: Lynex | None = None,
    **fields: Any,
) -> Any:
    """Decorate a function (`@observe` or `@observe(name=..., type="tool")`) so each call is recorded as a span.

    type: the span kind (span, tool, agent, chain, retriever, llm...). client: the client to record with;
    by default that of the current span, else `lynex.get_client()`. Other keywords are event fields."""

    def decorate(fn: F) -> F:
        default_name = fn.__qualname__.rpartition("<locals>.")[2]  # "Agent.run", not "main.<locals>.Agent.run"
        rec = _Recorder(fn, name or default_name, type, capture_input, capture_output, client, fields)
        # plain functions of the same kind as `fn` (bound methods would neither take functools.wraps' attributes
        # nor bind `self` when the decorated function is a method)
        if inspect.isasyncgenfunction(fn):
            return functools.wraps(fn)(_async_generator_wrapper(rec))  # type: ignore[return-value]
        if inspect.iscoroutinefunction(fn):

            async def coroutine_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await rec.coroutine(*args, **kwargs)

            return functools.wraps(fn)(coroutine_wrapper)  # type: ignore[return-value]
        if inspect.isgeneratorfunction(fn):

            def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
                return (yield from rec.generator(*args, **kwargs))

            return functools.wraps(fn)(generator_wrapper)  # type: ignore[return-value]

        def function_wrapper(*args: Any, **kwargs: Any) -> Any:
            return rec.function(*args, **kwargs)

        return functools.wraps(fn)(function_wrapper)  # type: ignore[return-value]

    return decorate(func) if func is not None else decorate


class _Recorder:
    def __init__(
        self,
        fn: Callable[..., Any],
        name: str,
        type: str,
        capture_input: bool,
        capture_output: bool,
        client: Lynex | None,
        fields: dict[str, Any],
    ) -> None:
        self.fn = fn
        self.name = name
        self.type = type
        self.capture_input = capture_input
        self.capture_output = capture_output
        self.client = client
        self.fields = fields
        try:
            self.signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            self.signature = None
        params = list(self.signature.parameters) if self.signature is not None else []
        self.skip_first = bool(params) and params[0] in ("self", "cls")

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Span | None:
        """A new span for one call, or None when recording is off or fails."""
        try:
            client = self.client
            if client is None:
                parent = current_span()
                if parent is not None:
                    client = parent.client
                else:
                    from lynex._client import get_client

                    client = get_client()
            if not client.enabled:
                return None
            fields = dict(self.fields)
            if self.capture_input:
                fields["input"] = self._arguments(args, kwargs)
            return new_span(client, self.name, self.type, fields)
        except Exception:
            logger.exception("lynex: observe could not start a span for %s", self.name)
            return None

    def _arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.signature is None:
            return {"args": list(args), "kwargs": kwargs}
        try:
            bound = self.signature.bind_partial(*args, **kwargs).arguments
        except TypeError:  # the call itself will raise it
            return {"args": list(args), "kwargs": kwargs}
        values = dict(bound)
        if self.skip_first and values:
            values.pop(next(iter(values)))
        return values

    def finish(self, span: Span, output: Any = None, exc: BaseException | None = None, has_output: bool = True) -> None:
        if isinstance(exc, GeneratorExit):  # closed by its consumer: not a failure, and what it yielded counts
            exc = None
        try:
            if exc is not None:
                span.fail(exc)
            elif self.capture_output and has_output:
                span.fields["output"] = output
            span.end()
        except Exception:
            logger.exception("lynex: observe could not record %s", self.name)

    def finish_items(self, span: Span, items: list[Any], more: bool, exc: BaseException | None) -> None:
        output: Any = items
        if items and all(isinstance(i, str) for i in items):
            output = "".join(items)  # a stream of text
        elif more:
            output = {"items": items, "truncated": True}
        self.finish(span, output, exc)

    # --- the four wrappers

    def function(self, *args: Any, **kwargs: Any) -> Any:
        span = self.start(args, kwargs)
        if span is None:
            return self.fn(*args, **kwargs)
        token = _current.set(span)
        try:
            result = self.fn(*args, **kwargs)
        except BaseException as exc:
            self.finish(span, exc=exc)
            raise
        finally:
            _reset(token)
        self.finish(span, result)
        return result

    async def coroutine(self, *args: Any, **kwargs: Any) -> Any:
        span = self.start(args, kwargs)
        if span is None:
            return await self.fn(*args, **kwargs)
        token = _current.set(span)
        try:
            result = await self.fn(*args, **kwargs)
        except BaseException as exc:
            self.finish(span, exc=exc)
            raise
        finally:
            _reset(token)
        self.finish(span, result)
        return result

    def generator(self, *args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        span = self.start(args, kwargs)
        if span is None:
            return (yield from self.fn(*args, **kwargs))
        ctx = contextvars.copy_context()
        ctx.run(_current.set, span)
        gen = ctx.run(self.fn, *args, **kwargs)
        items: list[Any] = []
        more = False
        method, value = gen.send, None
        try:
            while True:
                try:
                    item = ctx.run(method, value)
                except StopIteration as stop:
                    self.finish_items(span, items, more, None)
                    return stop.value
                if len(items) < _MAX_ITEMS:
                    items.append(item)
                else:
                    more = True
                try:
                    value = yield item
                    method = gen.send
                except GeneratorExit:
                    ctx.run(gen.close)
                    raise
                except BaseException as exc:  # thrown in by the consumer: pass it on
                    method, value = gen.throw, exc
        except BaseException as exc:
            self.finish_items(span, items, more, exc)
            raise


def _async_generator_wrapper(rec: _Recorder) -> Callable[..., AsyncGenerator[Any, Any]]:
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        span = rec.start(args, kwargs)
        agen = rec.fn(*args, **kwargs)
        items: list[Any] = []
        more = False
        method, value = agen.asend, None
        try:
            while True:
                token = _current.set(span) if span is not None else None
                try:
                    item = await method(value)
                except StopAsyncIteration:
                    if span is not None:
                        rec.finish_items(span, items, more, None)
                    return
                finally:
                    if token is not None:
                        _reset(token)
                if len(items) < _MAX_ITEMS:
                    items.append(item)
                else:
                    more = True
                try:
                    value = yield item
                    method = agen.asend
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as exc:  # thrown in by the consumer: pass it on
                    method, value = agen.athrow, exc
        except BaseException as exc:
            if span is not None:
                rec.finish_items(span, items, more, exc)
            raise

    return wrapper
