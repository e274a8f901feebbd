"""One project's compiled detectors: the prefilter over whole Arrow columns and the pass over the candidates.

`column` runs RE2 (google-re2, in C++) once over a whole text column with the union of every pattern; only
the values it flags (usually few) go through `text`, one `google-re2` pass with the patterns as an alternation,
whose callback checks each match (Luhn, mod-97, ...), counts its kind and returns the mask (redact) or the match
itself (detect). A value is never rebuilt in Python unless it holds a candidate. Must never do I/O.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import re2

from lynex_box.pii import detectors
from lynex_box.pii.policy import PiiPolicy, re2_options

# A mask already in the text, written by the request path ([pii] redact_in_request): counted, kept as it is (a
# value the last-resort byte pass replaced by `*`s is not counted).
_PADDED: Final = r"\[(?:EMAIL|CARD|IBAN|PHONE|IP|SSN|SECRET|CUSTOM:[a-z0-9_]{1,24})\]"
_CUSTOM_PREFIX: Final = "lynex_c"
Counts = Counter[str]


def _escape_key(key: str) -> str:
    return "".join("\\" + ch if not ch.isalnum() and ch != "_" else ch for ch in key)


class Scanner:
    """The detectors of one project's policy, compiled once (when the setting changes, not per batch)."""

    def __init__(self, policy: PiiPolicy, entropy_min_bits: float = 4.0, padded_masks: bool = False) -> None:
        self.policy = policy
        self.redact = policy.mode == "redact"
        custom = [(f"{_CUSTOM_PREFIX}{i}", p) for i, p in enumerate(policy.custom_patterns)]
        parts: list[tuple[str, str]] = [(name, p.pattern) for name, p in custom]
        if padded_masks:
            parts.append(("padded", _PADDED))
        parts.extend(detectors.BUILTIN)
        self.kinds: dict[str, str] = {name: f"custom:{p.name}" for name, p in custom}
        self.kinds.update({name: detectors.KIND_OF.get(name, name) for name, _ in detectors.BUILTIN})
        self.masks = {**detectors.MASKS, **{f"custom:{p.name}": f"[CUSTOM:{p.name}]" for p in policy.custom_patterns}}
        self.byte_masks = {kind: mask.encode() for kind, mask in self.masks.items()}
        self.names = [name for name, _ in parts]
        combined = "|".join(f"(?P<{name}>{pattern})" for name, pattern in parts)
        self.regex = re2.compile(combined, re2_options())
        self._combined = combined
        self._bytes_regex: Any = None
        self.group_name = {index: name for name, index in self.regex.groupindex.items() if name in self.names}
        self.checks: dict[str, Callable[[str, str, str], bool]] = detectors.checks(entropy_min_bits)
        self.prefilter = "|".join(f"(?:{detectors.PREFILTER.get(name, pattern)})" for name, pattern in parts)
        self.prefilter_regex = re2.compile(self.prefilter.encode(), re2_options())
        self.keys = frozenset(policy.masked_keys)
        keys = "|".join(_escape_key(k) for k in policy.masked_keys)
        self.key_filter = f'"(?:{keys})"' if keys else None

    def bytes_regex(self) -> Any:
        """The alternation compiled for bytes (the request path's), on first use."""
        if self._bytes_regex is None:
            self._bytes_regex = re2.compile(self._combined.encode(), re2_options())
        return self._bytes_regex

    # ------------------------------------------------------------------ one value
    def text(self, value: str, counts: Counts) -> str:
        """`value` with each checked match masked (redact) or left (detect); `counts` gets each match's kind.

        Matched as UTF-8 bytes: google-re2 then reports byte offsets as they are, instead of mapping them to
        characters for each match (several times slower on long texts)."""
        data = value.encode()
        regex = self.bytes_regex()
        masks = self.byte_masks

        def replace(m: Any) -> bytes:
            found: bytes = m.group(0)
            name = self.group_name.get(m.lastindex) or next(n for n in self.names if m.start(n) >= 0)
            start, end = m.start(), m.end()
            if name == "padded":
                counts[_kind_of_mask(found[: found.index(b"]") + 1].decode())] += 1
                return found
            check = self.checks.get(name)
            if check is not None:
                before, after = data[max(0, start - 1) : start].decode("latin-1"), data[end : end + 2].decode("latin-1")
                if not check(found.decode("utf-8", "replace"), before, after):
                    return found
            kind = self.kinds[name]
            counts[kind] += 1
            if not self.redact:
                return found
            return _keep_escape(data, start, found) + masks[kind]

        out: bytes = regex.sub(replace, data)
        return value if out == data else out.decode()

    def json_text(self, value: str, counts: Counts) -> str:
        """A JSON column's text (input, output, tool calls): `text`, unless a mask would make valid JSON invalid (a
        JSON number that looks like a card): then the document is parsed and each string and number scanned."""
        found: Counts = Counter()
        out = self.text(value, found)
        if out is not value and out != value:
            try:
                orjson.loads(out)
            except orjson.JSONDecodeError:
                try:
                    doc = orjson.loads(value)
                except orjson.JSONDecodeError:
                    pass  # not JSON to begin with: plain text
                else:
                    return orjson.dumps(self._walk(doc, counts, ())).decode()
        counts.update(found)
        return out

    def attributes(self, value: str, counts: Counts) -> str:
        """An attributes JSON text: the values of masked keys replaced, the rest scanned as `json_text`."""
        if self.keys and any(f'"{k}"' in value for k in self.keys):
            try:
                doc = orjson.loads(value)
            except orjson.JSONDecodeError:
                doc = None
            if doc is not None:
                walked = self._walk(doc, counts, self.keys)
                return orjson.dumps(walked).decode() if self.redact else value
        return self.json_text(value, counts)

    def _walk(self, doc: Any, counts: Counts, keys: frozenset[str] | tuple[()]) -> Any:
        """A parsed JSON document with each string (and number) scanned and the values of `keys` masked."""
        if isinstance(doc, str):
            return self.text(doc, counts)
        if isinstance(doc, dict):
            out = {}
            for key, value in doc.items():
                if key in keys:
                    counts["key"] += 1
                    out[key] = detectors.KEY_MASK if self.redact else value
                else:
                    out[key] = self._walk(value, counts, keys)
            return out
        if isinstance(doc, list):
            return [self._walk(item, counts, keys) for item in doc]
        if isinstance(doc, int | float) and not isinstance(doc, bool):
            number = str(doc)
            masked = self.text(number, counts)
            return doc if masked == number else masked
        return doc

    # ------------------------------------------------------------------ whole columns
    def candidates(self, arr: pa.Array) -> pa.Array:
        """Which values of `arr` hold a candidate of any pattern: one RE2 scan (google-re2, in C++) over all the
        values joined by newlines (in Arrow), each match's byte range mapped back to the values it covers. A match
        that runs over a separator flags every value it touches, so no value loses a match to its neighbour."""
        n = len(arr)
        if n == 0 or arr.null_count == n:
            return pa.array(np.zeros(n, dtype=bool))
        values = arr.cast(pa.binary()).fill_null(b"")
        joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, n], pa.int32()), values), b"\n")[0].as_py()
        flags = np.zeros(n, dtype=bool)
        lengths = pc.binary_length(values).to_numpy(zero_copy_only=False).astype(np.int64)
        starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1])).tolist()
        search, pos, size = self.prefilter_regex.search, 0, len(joined)
        while pos < size and (m := search(joined, pos)) is not None:
            start, end = m.start(), m.end()
            first = bisect_right(starts, start) - 1
            if start >= starts[first] + lengths[first]:  # a match that begins on a separator
                first += 1
            last = bisect_right(starts, max(end - 1, start)) - 1
            flags[first : last + 1] = True
            # the values flagged need no second look: go on at the next one (one match object per flagged value)
            pos = starts[last + 1] if last + 1 < n else size
        return pa.array(flags)

    def column(
        self,
        arr: pa.Array,
        rows: pa.Array | None,
        selected: pa.Array | None,
        counts: dict[int, Counts],
        attributes: bool = False,
        json: bool = False,
    ) -> pa.Array:
        """`arr` (strings) with its candidate values scanned; `rows` maps each value to its span's row (None: the
        same index), `selected` limits the scan to this project's values (None: all of them)."""
        candidates = self.candidates(arr)
        if attributes and self.key_filter is not None:
            candidates = pc.or_(candidates, pc.match_substring_regex(arr, self.key_filter))
        if selected is not None:
            candidates = pc.and_(candidates, selected)
        candidates = candidates.fill_null(False)
        found = pc.indices_nonzero(candidates)
        if len(found) == 0:
            return arr
        values = arr.take(found).to_pylist()
        positions = (found if rows is None else rows.take(found)).to_pylist()
        scan = self.attributes if attributes else self.json_text if json else self.text
        out = [scan(value, counts.setdefault(row, Counter())) for value, row in zip(values, positions, strict=True)]
        if not self.redact:
            return arr
        return pc.replace_with_mask(arr, candidates, pa.array(out, arr.type))


def _kind_of_mask(mask: str) -> str:
    inner = mask[1:-1]
    if inner.startswith("CUSTOM:"):
        return "custom:" + inner[7:]
    return "ip" if inner == "IP" else inner.lower()


def _keep_escape(value: bytes, start: int, found: bytes) -> bytes:
    """The head of a match that completes a JSON escape begun before it (`\\n`, `\\u00e9`): kept, so the mask
    never turns a valid JSON string into an invalid one."""
    run = 0
    while start - run - 1 >= 0 and value[start - run - 1] == 0x5C:  # a backslash
        run += 1
    if run % 2 == 0:
        return b""
    return found[:5] if found[:1] == b"u" else found[:1]
