"""Is an answer supported by the documents it was given? A lexical heuristic, pure and without a model.

The answer is split into sentences (claims). A claim is **supported** when one document alone holds
- every number of the claim (digits, `1,200` = `1200`, `3.5`, `40%` = `40`),
- every named entity of the claim (a capitalised word that does not start the sentence, e.g. `Paris`, `Acme`), and
- at least `threshold` of its content words (words of 3+ letters that are not stop words, compared after a light
  stemming that drops plural and verb endings).
A sentence with fewer than `MIN_CONTENT_WORDS` content words and no number ("Sure!", "Here is what I found:") is
not a claim and is not counted.

Its limits (README.md): it sees words, not meaning. A paraphrase with other words, a translation or a computed
value (a sum, a date difference) reads as unsupported; a negation or a swapped relation built from the
documents' own words ("A acquired B" against "B acquired A", "is not" against "is") reads as supported; a claim
that combines two documents is unsupported; numbers must be written as in the documents ("1.2 million" is not
"1,200,000"). It never does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

MIN_CONTENT_WORDS: Final = 2

_STOP_TEXT: Final = """
a about above after again against all also am an and any are aren as at be because been before being below
between both but by can cannot could did do does doing down during each few for from further had has have having
he her here hers herself him himself his how however i if in into is it its itself just let me more most my
myself no nor not now of off on once only or other ought our ours ourselves out over own same she should so some
such than that the their theirs them themselves then there these they this those through to too under until up
very was we were what when where which while who whom why will with would yet you your yours yourself yourselves
according based answer context document documents following given information mentioned provided question says
stated text there's it's that's"""
STOP_WORDS: Final = frozenset(_STOP_TEXT.split())

# sentence ends: . ! ? followed by space and a capital, digit or quote; or a line break (lists, paragraphs)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n+")
_TOKEN = re.compile(r"\d[\d,]*(?:\.\d+)?%?|[A-Za-z\u00c0-\u024f][A-Za-z\u00c0-\u024f'\-]*")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")


@dataclass(frozen=True, slots=True)
class Claim:
    text: str
    words: frozenset[str]  # stemmed content words
    numbers: frozenset[str]
    entities: frozenset[str]  # stemmed, lower case


@dataclass(frozen=True, slots=True)
class Verdict:
    claims: int
    supported: int
    unsupported: list[str]  # the sentences, as written

    @property
    def fraction(self) -> float:
        return self.supported / self.claims if self.claims else 1.0


def stem(word: str) -> str:
    """A light stemmer: enough to match `cities`/`city`, `founded`/`founds`, `running`/`runs`."""
    w = word.lower().strip("'-")
    if w.endswith("'s"):
        w = w[:-2]
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not w.endswith("ss"):
            return w[: -len(suffix)] + keep
    return w


def _number(token: str) -> str:
    return token.replace(",", "").rstrip("%").rstrip(".")


def sentences(text: str) -> list[str]:
    """The sentences of `text`, list markers removed, empty ones dropped."""
    out = []
    for part in _SENTENCE_END.split(text):
        part = _BULLET.sub("", part).strip()
        if part:
            out.append(part)
    return out


def claim_of(sentence: str) -> Claim | None:
    """The claim a sentence makes, or None when it makes none worth checking."""
    words: set[str] = set()
    numbers: set[str] = set()
    entities: set[str] = set()
    for i, match in enumerate(_TOKEN.finditer(sentence)):
        token = match.group()
        if token[0].isdigit():
            numbers.add(_number(token))
            continue
        lower = token.lower()
        if lower in STOP_WORDS or len(lower) < 3:
            continue
        stemmed = stem(token)
        words.add(stemmed)
        if i > 0 and token[0].isupper():
            entities.add(stemmed)
    if len(words) < MIN_CONTENT_WORDS and not numbers:
        return None
    return Claim(sentence, frozenset(words), frozenset(numbers), frozenset(entities))


@dataclass(frozen=True, slots=True)
class Document:
    words: frozenset[str]
    numbers: frozenset[str]


def document_of(text: str) -> Document:
    words: set[str] = set()
    numbers: set[str] = set()
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token[0].isdigit():
            numbers.add(_number(token))
        else:
            words.add(stem(token))
    return Document(frozenset(words), frozenset(numbers))


def supports(doc: Document, claim: Claim, threshold: float) -> bool:
    if not claim.numbers <= doc.numbers or not claim.entities <= doc.words:
        return False
    if not claim.words:
        return True  # numbers only, all found
    return len(claim.words & doc.words) / len(claim.words) >= threshold


def verify(answer: str, documents: list[str], threshold: float) -> Verdict:
    """How many of the answer's claims some document supports, and the sentences none does."""
    docs = [document_of(text) for text in documents]
    claims = [c for c in (claim_of(s) for s in sentences(answer)) if c is not None]
    unsupported = [c.text for c in claims if not any(supports(d, c, threshold) for d in docs)]
    return Verdict(len(claims), len(claims) - len(unsupported), unsupported)
