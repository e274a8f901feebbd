"""Tracing: spans nest by the current context (functions, coroutines, generators, tasks, threads), carry the
trace's user, session and tags, record errors, and reach the server as one trace with parent/child ids."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import lynex
import pytest
from conftest import Api


def by_name(spans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in spans}


def test_observe_nesting_gives_parent_and_child_ids(make_client: Callable[..., lynex.Lynex], api: Api) -> None:
    lx = make_client()

    @lx.observe(type="tool")
    def search(query: str, limit: int = 3) -> list[str]:
        return [query] * limit

    @lx.observe(name="answer", type="agent")
    def answer(question: str) -> str:
        hits = search(question, limit=2)
        with lx.generation("llm", model="gpt-4o-mini", input=question) as gen:
            gen.update(output="Paris", usage={"input_tokens": 5, "output_tokens": 1})
        return f"{hits[0]}: Paris"

    with lx.trace("request", user_id="u-1", session_id="s-1", tags=["test"]) as root:
        assert lynex.current_span() is root
        assert answer("capital?") == "capital?: Paris"
    assert lynex.current_span() is None
    assert lx.flush(timeout=20)
    spans = by_name(api.wait_spans(root.trace_id, 4))
    assert spans["request"]["parent_span_id"] is None
    assert spans["answer"]["parent_span_id"] == spans["request"]["span_id"]
    assert spans["search"]["parent_span_id"] == spans["answer"]["span_id"]
    assert spans["llm"]["parent_span_id"] == spans["answer"]["span_id"]
    assert (spans["answer"]["kind"], spans["search"]["kind"], spans["llm"]["kind"]) == ("agent", "tool", "llm")
    assert spans["search"]["input"] == {"query": "capital?", "limit": 2}
    assert spans["search"]["output"] == ["capital?", "capital?"]
    assert spans["answer"]["output"] == "capital?: Paris"
    for span in spans.values():  # the trace's values reach every span, not only the root
        assert (span["user_id"], span["session_id"], span["tags"]) == ("u-1", "s-1", ["test"])
    assert spans["llm"]["model"] == "gpt-4o-mini" and spans["llm"]["input_tokens"] == 5


def test_errors_are_recorded_and_re_raised(make_client: Callable[..., lynex.Lynex], api: Api) -> None:
    lx = make_client()

    @lx.observe
    def broken() -> None:
        raise KeyError("missing")

    with pytest.raises(ZeroDivisionError), lx.trace("failing") as root:
        with pytest.raises(KeyError):
            broken()
        _ = 1 / 0
    assert lx.flush(timeout=20)
    spans = by_name(api.wait_spans(root.trace_id, 2))
    assert spans["failing"]["status"] == "error" and spans["failing"]["status_message"] == "division by zero"
    assert spans["failing"]["attributes"]["error.type"] == "ZeroDivisionError"
    assert spans["broken"]["status"] == "error"


def test_methods_do_not_record_self(make_client: Callable[..., lynex.Lynex], api: Api) -> None:
    lx = make_client()

    class Agent:
        @lx.observe
        def run(self, task: str) -> str:
            return task.upper()

    with lx.trace("methods") as root:
        assert Agent().run("go") == "GO"
    assert lx.flush(timeout=20)
    spans = by_name(api.wait_spans(root.trace_id, 2))
    assert spans["Agent.run"]["input"] == {"task": "go"}


def test_async_functions_and_tasks_nest(make_client: Callable[..., lynex.Lynex], api: Api) -> None:
    lx = make_client()

    @lx.observe
    async def fetch(i: int) -> int:
        await asyncio.sleep(0.01)
        return i * 10

    @lx.observe(name="gather")
    async def gather() -> list[int]:
        tasks = [asyncio.create_task(fetch(i)) for i in range(3)]  # tasks copy the context: children of gather
        return list(await asyncio.gather(*tasks))

    async def main() -> str:
        with lx.trace("async-root") as root:
            assert await gather() == [0, 10, 20]
        return root.trace_id

    trace_id = asyncio.run(main())
    assert lx.flush(timeout=20)
    spans = api.wait_spans(trace_id, 5)
    gather_span = next(s for s in spans if s["name"] == "gather")
    fetches = [s for s in spans if s["name"] == "fetch"]
    assert len(fetches) == 3
    assert {s["parent_span_id"] for s in fetches} == {gather_span["span_id"]}
    assert sorted(s["output"] for s in fetches) == [0, 10, 20]


def test_generators_are_spans_until_exhausted(make_client: Callable[..., lynex.Lynex], api: Api) -> None:
    lx = make_client()
    seen: list[Any] = []

    @lx.observe(name="inner")
    def inner() -> int:
        return 1

    @lx.observe(name="tokens")
    def tokens(n: int) -> Iterator[str]:
        for i in range(n):
            seen.append(lynex.current_span())
            inner()  # a child of the generator's span, whoever iterates it
            yield f"t{i} "

    @lx.observe(name="atokens")
    async def atokens(n: int) -> AsyncIterator[str]:
        for i in range(n):
            seen.append(lynex.current_span())
            yield f"a{i}"
            await asyncio.sleep(0)

    async def consume() -> list[str]:
        return [t async for t in atokens(2)]

    with lx.trace("gens") as root:
        out = list(tokens(3))
        assert lynex.current_span() is root  # iterating did not leak the generator's span
        assert asyncio.run(consume()) == ["a0", "a1"]
    assert out == ["t0 ", "t1 ", "t2 "]
    assert lx.flush(timeout=20)
    spans = api.wait_spans(root.trace_id, 6)
    named = by_name(spans)
    assert named["tokens"]["output"] == "t0 t1 t2 " and named["atokens"]["output"] == "a0a1"
    assert named["tokens"]["parent_span_id"] == named["atokens"]["parent_span_id"] == named["gens"]["span_id"]
    inners = [s for s in spans if s["name"] == "inner"]
    assert len(inners) == 3 and {s["parent_span_id"] for s in inners} == {named["tokens"]["span_id"]}
    assert {s.span_id for s in seen if s is not None} == {named["tokens"]["span_id"], named["atokens"]["span_id"]}


def test_a_generator_closed_early_is_recorded(make_client: Callable[..., lynex.Lynex], api: Api) -> None:
    lx = make_client()

    @lx.observe(name="endless")
    def endless() -> Iterator[int]:
        i = 0
        while True:
            yield i
            i += 1

    with lx.trace("early") as root:
        gen = endless()
        assert [next(gen) for _ in range(3)] == [0, 1, 2]
        gen.close()
    assert lx.flush(timeout=20)
    span = by_name(api.wait_spans(root.trace_id, 2))["endless"]
    assert span["status"] == "ok" and span["output"] == [0, 1, 2]


def test_generator_send_and_throw_pass_through(make_client: Callable[..., lynex.Lynex]) -> None:
    lx = make_client()

    @lx.observe
    def echo() -> Iterator[Any]:
        received = None
        while True:
            try:
                received = yield received
            except ValueError as exc:
                received = f"caught {exc}"

    gen = echo()
    assert next(gen) is None
    assert gen.send("hi") == "hi"
    assert gen.throw(ValueError("x")) == "caught x"


def test_context_is_carried_into_threads(make_client: Callable[..., lynex.Lynex], api: Api) -> None:
    lx = make_client()

    @lx.observe(name="work")
    def work(i: int) -> int:
        return i

    with lx.trace("threads") as root:
        with ThreadPoolExecutor(2) as pool:
            ctx = contextvars.copy_context()
            assert list(pool.map(lambda i: ctx.copy().run(work, i), range(2))) == [0, 1]
            assert pool.submit(work, 9).result() == 9  # without the context: a trace of its own
        thread = threading.Thread(target=contextvars.copy_context().run, args=(work, 5))
        thread.start()
        thread.join()
    assert lx.flush(timeout=20)
    spans = api.wait_spans(root.trace_id, 4)
    works = [s for s in spans if s["name"] == "work"]
    assert sorted(s["output"] for s in works) == [0, 1, 5]
    assert {s["parent_span_id"] for s in works} == {by_name(spans)["threads"]["span_id"]}


def test_update_trace_and_metadata(make_client: Callable[..., lynex.Lynex], api: Api) -> None:
    lx = make_client(environment="staging", release="1.2.3")
    with lx.trace("conv", metadata={"a": 1}) as root:
        root.update_trace(user_id="late-user", tags=["x", "y"])
        with lx.span("step", metadata={"b": 2}, session_id="own-session"):
            pass
    assert lx.flush(timeout=20)
    spans = by_name(api.wait_spans(root.trace_id, 2))
    assert spans["conv"]["attributes"]["metadata"] == {"a": 1}
    assert spans["step"]["attributes"]["metadata"] == {"b": 2}
    assert spans["step"]["user_id"] == "late-user" and spans["step"]["tags"] == ["x", "y"]
    assert spans["step"]["session_id"] == "own-session"
    assert (spans["conv"]["environment"], spans["conv"]["release"]) == ("staging", "1.2.3")


def test_observe_without_configuration_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, no project: the decorated code runs as if undecorated (recording is off, with one warning)."""
    import lynex._client as client_module

    monkeypatch.setattr(client_module, "_default", None)
    monkeypatch.delenv("LYNEX_API_KEY", raising=False)
    monkeypatch.delenv("LYNEX_PROJECT", raising=False)

    @lynex.observe
    def add(a: int, b: int) -> int:
        return a + b

    assert add(1, 2) == 3
    assert not lynex.get_client().enabled


def test_observe_records_with_the_default_client(make_client: Callable[..., lynex.Lynex], api: Api) -> None:
    lx = make_client()
    assert lynex.get_client() is lx  # the clients of earlier tests were shut down: this one took their place

    @lynex.observe(name="by-default")
    def work() -> str:
        span = lynex.current_span()
        assert span is not None
        return span.trace_id

    trace_id = work()
    assert lx.flush(timeout=20)
    assert [s["name"] for s in api.wait_spans(trace_id, 1)] == ["by-default"]
