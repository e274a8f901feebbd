"""What the pipeline remembers of recent Langfuse observations, so an update sent in a later request can be
priced: the legacy SDKs send `model` with the create and `usage` with the update (`generation.end(...)`).

A bounded LRU keyed by (project, observation id), holding no content: trace id, kind, model and provider.
It is an optimisation, not a source of truth: after a restart it is empty (or refilled only by the replayed
WAL records), and an update whose create it has forgotten is stored without a computed cost rather than a
guessed one. The read-time fold (`fold`) still merges the update into its observation either way.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Hint:
    trace_id: str
    kind: str | None
    model: str | None
    provider: str | None


class ObservationHints:
    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, str], Hint] = OrderedDict()

    def get(self, project_id: str, observation_id: str) -> Hint | None:
        key = (project_id, observation_id)
        hint = self._items.get(key)
        if hint is not None:
            self._items.move_to_end(key)
        return hint

    def put(self, project_id: str, observation_id: str, hint: Hint) -> None:
        if self.capacity <= 0:
            return
        key = (project_id, observation_id)
        old = self._items.get(key)
        if old is not None:  # an update without model keeps the model its create named
            hint = Hint(
                hint.trace_id or old.trace_id, hint.kind or old.kind, hint.model or old.model,
                hint.provider or old.provider,
            )  # fmt: skip
        self._items[key] = hint
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
