"""Fuzzing Langfuse ingestion batches: any body is a 4xx, or a plan whose events are stored and decode in the pipeline.

The checks are `tests.fuzz_targets.langfuse` / `langfuse_doc` (shared with `bench/fuzz.py langfuse`).
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lynex_box.sources.langfuse import plan_batch
from tests import fuzz_targets

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEED = fuzz_targets.seeds("langfuse")[0]
TYPES = ["trace-create", "span-create", "span-update", "generation-create", "generation-update", "event-create",
         "observation-create", "observation-update", "score-create", "sdk-log", "bogus"]  # fmt: skip
BODY_KEYS = ["id", "traceId", "parentObservationId", "name", "model", "startTime", "endTime", "timestamp", "input",
             "output", "metadata", "usage", "usageDetails", "costDetails", "modelParameters", "level", "tags",
             "sessionId", "userId", "type", "value", "dataType", "version", "environment", "promptName"]  # fmt: skip

numbers = st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
scalars = st.none() | st.booleans() | numbers | st.text(max_size=8)
values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3))
ids = st.sampled_from(["t1", "o1", "o2", ""]) | values
bodies = st.dictionaries(st.sampled_from(BODY_KEYS), ids | values, max_size=8)
items = st.fixed_dictionaries(
    {}, optional={"id": ids, "type": st.sampled_from(TYPES) | values, "timestamp": values, "body": bodies | values}
)


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes(data: bytes) -> None:
    fuzz_targets.langfuse(data)


@FUZZ
@given(st.integers(0, len(SEED)), st.binary(min_size=1, max_size=6), st.integers(0, 6))
def test_mutated_valid_batches(position: int, patch: bytes, cut: int) -> None:
    fuzz_targets.langfuse(SEED[:position] + patch + SEED[position + cut :])


@FUZZ
@given(st.lists(items | values, max_size=6))
def test_batches_of_odd_events(batch: list[Any]) -> None:
    fuzz_targets.langfuse_doc({"batch": batch})


@FUZZ
@given(values)
def test_any_document(doc: Any) -> None:
    fuzz_targets.langfuse_doc(doc)


def test_unhashable_types_are_item_errors() -> None:
    plan = plan_batch({"batch": [{"id": "1", "type": {"a": 1}, "body": {}}, {"id": "2", "type": [], "body": {}}]})
    assert [e["id"] for e in plan.errors] == ["1", "2"] and not plan.events
    assert "is not one of" in orjson.dumps(plan.errors).decode()
