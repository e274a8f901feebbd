"""What a monitor checks in an answer, and the check itself: pure code, no I/O.

An assertion is validated once when the monitor is saved (`parse_assertions`: fixed types, bounded values, regular
expressions compiled with a length limit) and applied to every run's `Answer` (`check`). Regular expressions are RE2
(`google-re2`, as PII patterns): a match runs in time linear in the text, so no pattern can hold a thread, and
backreferences and lookaround are refused when the monitor is saved. A detector's score (issue #20) is not
available yet: detectors (`lynex_detectors`) score spans in the pipeline, after a run is judged, so
`detector_score` is refused with a message saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import re2

from lynex_box.monitors import jsonpath

TYPES: Final = (
    "status", "latency", "json_path", "body_contains", "body_matches", "answer_contains", "answer_matches",
)  # fmt: skip
MODEL_ONLY: Final = ("answer_contains", "answer_matches")
MAX_ASSERTIONS: Final = 20
MAX_VALUE: Final = 4096
SHOWN: Final = 200  # characters of an actual value a failed assertion reports


class AssertionSpecError(ValueError):
    """An assertion a client sent that cannot be used; the message names it and what is allowed."""


@dataclass(frozen=True, slots=True)
class Assertion:
    type: str
    params: dict[str, Any]
    compiled: Any = field(default=None, compare=False)

    def public(self) -> dict[str, Any]:
        return {"type": self.type, **self.params}


@dataclass(frozen=True, slots=True)
class Answer:
    """What a run got: the HTTP status (None when no answer), latency, the body as text, and for a model
    endpoint the assistant's answer."""

    status: int | None
    latency_ms: float
    body: str = ""
    json: Any = jsonpath.MISSING
    answer: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    type: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "ok": self.ok, "detail": self.detail}


def _text(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE:
        raise AssertionSpecError(f"{where}.{key} must be a non-empty string of at most {MAX_VALUE} characters")
    return value


def _pattern(item: dict[str, Any], where: str, max_length: int) -> tuple[str, Any]:
    pattern = item.get("pattern")
    if not isinstance(pattern, str) or not pattern or len(pattern) > max_length:
        raise AssertionSpecError(f"{where}.pattern must be a regular expression of 1..{max_length} characters")
    options = re2.Options()
    options.log_errors = False
    try:
        return pattern, re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise AssertionSpecError(
            f"{where}.pattern {pattern!r} is not a valid RE2 expression ({detail}); hint: backreferences and "
            "lookaround are not supported, so that a match runs in linear time"
        ) from None


def _one(item: object, where: str, kind: str, max_pattern: int) -> Assertion:
    if not isinstance(item, dict):
        raise AssertionSpecError(f"{where} must be an object with a type")
    atype = item.get("type")
    if atype == "detector_score":
        raise AssertionSpecError(
            f"{where}: detector_score is not available yet (detectors score spans in the pipeline, after a run is "
            "judged); "
            "see docs/monitors.md"
        )
    if atype not in TYPES:
        raise AssertionSpecError(f"{where}.type must be one of {list(TYPES)}")
    if atype in MODEL_ONLY and kind != "model":
        raise AssertionSpecError(f"{where}: {atype} checks a model's answer; it needs target.type = model")
    allowed = {"type", *_KEYS[atype]}
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise AssertionSpecError(f"{where} has unknown keys {unknown}; allowed: {sorted(allowed)}")
    if atype == "status":
        code = item.get("equals")
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            raise AssertionSpecError(f"{where}.equals must be an HTTP status code (100..599)")
        return Assertion(atype, {"equals": code})
    if atype == "latency":
        limit = item.get("max_ms")
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0 < limit <= 3_600_000:
            raise AssertionSpecError(f"{where}.max_ms must be a number of milliseconds in (0, 3600000]")
        return Assertion(atype, {"max_ms": limit})
    if atype == "json_path":
        path = item.get("path")
        try:
            jsonpath.parse(path)
        except jsonpath.PathError as exc:
            raise AssertionSpecError(f"{where}.path: {exc}") from None
        if ("equals" in item) == ("exists" in item):
            raise AssertionSpecError(f"{where} needs exactly one of equals (any JSON value) or exists (true/false)")
        if "exists" in item and not isinstance(item["exists"], bool):
            raise AssertionSpecError(f"{where}.exists must be true or false")
        key = "equals" if "equals" in item else "exists"
        return Assertion(atype, {"path": path, key: item[key]})
    if atype in ("body_contains", "answer_contains"):
        return Assertion(atype, {"value": _text(item, "value", where)})
    pattern, compiled = _pattern(item, where, max_pattern)
    return Assertion(atype, {"pattern": pattern}, compiled)


_KEYS: Final = {
    "status": ("equals",),
    "latency": ("max_ms",),
    "json_path": ("path", "equals", "exists"),
    "body_contains": ("value",),
    "body_matches": ("pattern",),
    "answer_contains": ("value",),
    "answer_matches": ("pattern",),
}


def parse_assertions(raw: object, kind: str, max_pattern: int) -> tuple[Assertion, ...]:
    """The assertions of a monitor body (`kind` is its target type: http or model)."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_ASSERTIONS:
        raise AssertionSpecError(f"assertions must be a list of at most {MAX_ASSERTIONS} assertions")
    return tuple(_one(item, f"assertions[{i}]", kind, max_pattern) for i, item in enumerate(raw))


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


def _search(a: Assertion, text: str | None) -> Outcome:
    if text is None:
        return Outcome(a.type, False, "no text to match")
    found = a.compiled.search(text) is not None
    return Outcome(a.type, found, "matches" if found else f"no match for {a.params['pattern']!r}")


def _same(value: Any, expected: Any) -> bool:
    """JSON equality: 1 equals 1.0, but true never equals 1."""
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    if isinstance(value, (int, float)) and isinstance(expected, (int, float)):
        return value == expected
    return type(value) is type(expected) and bool(value == expected)


def check_one(a: Assertion, answer: Answer) -> Outcome:
    p = a.params
    if a.type == "status":
        ok = answer.status == p["equals"]
        return Outcome(a.type, ok, f"status {answer.status}" + ("" if ok else f", expected {p['equals']}"))
    if a.type == "latency":
        ok = answer.latency_ms <= p["max_ms"]
        return Outcome(a.type, ok, f"{answer.latency_ms:.0f} ms" + ("" if ok else f" > {p['max_ms']} ms"))
    if a.type == "json_path":
        if answer.json is jsonpath.MISSING:
            return Outcome(a.type, False, "the answer is not JSON")
        value = jsonpath.find(answer.json, jsonpath.parse(p["path"]))
        if "exists" in p:
            ok = (value is not jsonpath.MISSING) == p["exists"]
            return Outcome(a.type, ok, f"{p['path']} {'exists' if value is not jsonpath.MISSING else 'is missing'}")
        if value is jsonpath.MISSING:
            return Outcome(a.type, False, f"{p['path']} is missing")
        ok = _same(value, p["equals"])
        expected = "" if ok else f", expected {_short(p['equals'])}"
        return Outcome(a.type, ok, f"{p['path']} = {_short(value)}{expected}")
    if a.type == "body_contains":
        ok = p["value"] in answer.body
        return Outcome(a.type, ok, "found" if ok else f"body does not contain {_short(p['value'])!r}")
    if a.type == "answer_contains":
        ok = answer.answer is not None and p["value"] in answer.answer
        return Outcome(a.type, ok, "found" if ok else f"answer does not contain {_short(p['value'])!r}")
    if a.type == "body_matches":
        return _search(a, answer.body)
    return _search(a, answer.answer)


def check(assertions: tuple[Assertion, ...], answer: Answer) -> list[Outcome]:
    """Every assertion's outcome; without a `status` assertion, a status of 400 or more fails the run."""
    out = [check_one(a, answer) for a in assertions]
    if not any(a.type == "status" for a in assertions) and answer.status is not None:
        ok = answer.status < 400
        out.insert(0, Outcome("status", ok, f"status {answer.status}" + ("" if ok else ", expected < 400")))
    return out
