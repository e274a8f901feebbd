"""When a node hands a segment over to cross-node compaction (cluster mode, docs/format/cluster.md "Cross-node
compaction"): the one rule both sides of the hand-off read, so that an owner and the `compaction` lease holder
never both rewrite one segment.

A segment is *handed off* once it is a flush's output (level 0) created at least `[cluster] compactable_after_s`
ago. The owner's publisher marks such a segment `compactable: true` in its manifest; from then on only the
`compaction` lease holder merges it. The owner's own passes keep off it: they refuse any rewrite of it that writes
new rows (compaction, a retention or deletion rewrite, repricing), and may only drop it whole or move it unchanged.
The owner's side applies the rule `HANDOFF_MARGIN_S` early, so that a local rewrite planned just before the
threshold cannot be committed after the publisher marked its input. Pure.
"""

from __future__ import annotations

from lynex_box.meta.catalog import SegmentEntry

US = 1_000_000
HANDOFF_MARGIN_S = 5.0  # at most: a local swap commits well within this after reading its clock


def margin_s(after_s: float) -> float:
    """How much earlier than `after_s` the owner's own passes keep off a segment."""
    return min(HANDOFF_MARGIN_S, after_s / 2)


def handed_off(entry: SegmentEntry, now_us: int, after_s: float | None) -> bool:
    """Whether `entry` is handed off at `now_us` (`after_s` None: cluster compaction is off)."""
    return after_s is not None and entry.level == 0 and entry.created_at <= now_us - int(after_s * US)


def kept_off(entry: SegmentEntry, now_us: int, after_s: float | None) -> bool:
    """Whether the owner's own passes must not rewrite `entry` (handed off, or about to be)."""
    return after_s is not None and handed_off(entry, now_us + int(margin_s(after_s) * US), after_s)
