"""The platform alert tracker with a fake clock: fire after for_s, resolve after resolve_after_s, renotify, and
no notification for a value that flaps around its threshold."""

from __future__ import annotations

from collections.abc import Sequence

from lynex_box.alerts.platform.tracker import Timing, Track

T = Timing(for_s=60, resolve_after_s=30, renotify_s=600)


def state(track: Track) -> str:
    return track.state


def run(track: Track, steps: Sequence[tuple[float, bool | None]], timing: Timing = T) -> list[tuple[float, str]]:
    """Feed (time, holds) evaluations; the notifications sent, with their times."""
    out = []
    for now, holds in steps:
        event = track.step(holds, 1.0, now, timing)
        if event is not None:
            out.append((now, event))
    return out


def test_fires_once_the_condition_has_held_for_for_s_and_not_before() -> None:
    track = Track("wal_backlog")
    assert run(track, [(t, True) for t in range(0, 60, 10)]) == []  # held 50 s
    assert state(track) == "pending" and track.since == 0
    assert run(track, [(60, True), (70, True), (80, True)]) == [(60, "firing")]  # once, not at every evaluation
    assert state(track) == "firing"


def test_a_flapping_condition_never_fires() -> None:
    track = Track("http_5xx_rate")
    steps = [(t, t % 20 == 0) for t in range(0, 600, 10)]  # holds every other evaluation, for ten minutes
    assert run(track, steps) == []
    assert state(track) in ("ok", "pending")


def test_resolves_only_after_it_has_been_clear_for_resolve_after_s() -> None:
    track = Track("disk_free")
    assert run(track, [(0, True), (60, True)]) == [(60, "firing")]
    # clear for 20 s, then holds again: no resolution, no second firing
    assert run(track, [(70, False), (90, False), (100, True), (110, True)]) == []
    assert state(track) == "firing"
    assert run(track, [(120, False), (140, False), (150, False), (160, False)]) == [(150, "resolved")]
    assert state(track) == "ok" and track.resolved_at == 150 and track.since == 0  # the firing's start is kept


def test_renotifies_every_renotify_s_while_firing_and_never_with_zero() -> None:
    track = Track("read_only")
    steps = [(t, True) for t in range(0, 1400, 10)]
    assert run(track, steps) == [(60, "firing"), (660, "renotify"), (1260, "renotify")]
    quiet = Track("read_only")
    assert run(quiet, steps, Timing(60, 30, 0)) == [(60, "firing")]


def test_an_unknown_reading_changes_nothing() -> None:
    track = Track("query_latency")
    assert run(track, [(0, True), (30, None), (60, True)]) == [(60, "firing")]
    assert run(track, [(70, None), (200, None)]) == []  # no data for long: still firing, not resolved
    assert state(track) == "firing"


def test_for_s_zero_fires_at_the_first_evaluation_that_holds() -> None:
    track = Track("ingest_refused")
    assert run(track, [(0, False), (5, True)], Timing(0, 0, 0)) == [(5, "firing")]
    assert run(track, [(6, False)], Timing(0, 0, 0)) == [(6, "resolved")]
