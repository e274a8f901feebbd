"""The detectors, pure functions of a `Case`: each returns `(score 0-1, reasons)` or None (no opinion). A reason
is `code: excerpt` (`ungrounded_number: 4,200`), the excerpt at most `EXCERPT` characters of the answer.

- grounding: numbers, dates, quoted strings and capitalised names in the answer that no context holds (prompt,
  retrieved documents, tool results); run only when the call had a context to be grounded in (documents, tool
  results, or a prompt of `grounding_min_prompt_chars`), since a plain question's answer draws on the model;
- citations: `[n]` beyond the documents given, `(Source: X)` / `Source: X` and URLs that no document, source or
  prompt names;
- refusal: refusal markers (`refusal`) and uncertainty markers (`uncertainty`);
- completeness: an empty answer without tool calls (`empty`), a finish reason `length` (`truncated`);
- language: the answer's language guess differs from the question's (`language_mismatch`);
- json: the call asked for JSON (response_format, or the prompt's words) and the answer does not parse
  (`invalid_json`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import orjson

from lynex_detectors.case import LENGTH_REASONS, Case
from lynex_detectors.lang import guess

EXCERPT: Final = 60
MAX_REASONS: Final = 5  # per detector and span: the first ones are enough to see why
Result = tuple[float, list[str]] | None

# ---- grounding -----------------------------------------------------------------------------------------------
_MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|December|"
           "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec")  # fmt: skip
_DATE: Final = re.compile(
    rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b\d{{1,2}}/\d{{1,2}}/\d{{2,4}}\b"
    rf"|\b(?:{_MONTHS})\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}\b|\b\d{{1,2}} (?:{_MONTHS}) \d{{4}}\b"
    rf"|\b(?:{_MONTHS}) \d{{4}}\b"
)
_NUMBER: Final = re.compile(r"(?<![\w.\[])[$€£]?\d+(?:[,.]\d+)*(?:%| ?percent)?(?![\w\]])")
_QUOTE: Final = re.compile(r"[\"“”]([^\"“”\n]{4,120})[\"“”]")
_URL: Final = re.compile(r"https?://[^\s)\]>\"']+")
_NAME: Final = re.compile(r"\b[A-Z][a-zA-Z'’\-]+(?:\s+(?:of|de|von|van|the|and|&)?\s*[A-Z][a-zA-Z'’\-]+)*")
_COMMON: Final = frozenset(
    [
        "i",
        "a",
        "an",
        "the",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "in",
        "on",
        "at",
        "as",
        "of",
        "for",
        "to",
        "and",
        "or",
        "but",
        "if",
        "so",
        "yes",
        "no",
        "not",
        "my",
        "our",
        "your",
        "their",
        "we",
        "you",
        "he",
        "she",
        "they",
        "there",
        "here",
        "however",
        "therefore",
        "also",
        "based",
        "according",
        "sure",
        "sorry",
        "please",
        "note",
        "thanks",
        "thank",
        "hello",
        "hi",
        "dear",
        "overall",
        "first",
        "second",
        "third",
        "finally",
        "then",
        "next",
        "step",
        "summary",
        "answer",
        "question",
        "example",
        "for",
        "unfortunately",
        "certainly",
        "absolutely",
        "of",
        "course",
        "great",
        "good",
        "okay",
        "ok",
        "let",
        "here's",
        "it's",
        "i'm",
        "i'll",
        "i've",
        "i'd",
        "you're",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "source",
        "sources",
        "document",
        "documents",
        "context",
        "json",
        "true",
        "false",
        "null",
        "when",
        "what",
        "why",
        "how",
        "who",
        "which",
        "where",
        "while",
        "with",
        "without",
        "because",
        "although",
        "after",
        "before",
        "during",
        "each",
        "every",
        "all",
        "some",
        "many",
        "most",
        "one",
        "two",
        "three",
        "more",
        "less",
        "other",
        "another",
        "both",
        "either",
        "neither",
        "you'll",
        "we're",
        "they're",
        "see",
    ]
)
_DIGITS: Final = re.compile(r"[\d]+(?:[.,]\d+)*")
_ANY_DIGIT: Final = re.compile(r"\d")
_WORD_CHAR: Final = re.compile(r"\w")


def _sentence_start(prefix: str) -> bool:
    """Whether a word after `prefix` opens a sentence: nothing but punctuation before it, or `.!?:;` or a line break
    just before it. Looks at the prefix's end only (a regex search of the whole prefix per name was quadratic)."""
    body = prefix.rstrip()
    return not body or body[-1] in ".!?:;" or "\n" in prefix[len(body) :] or _WORD_CHAR.search(body) is None


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[“”\"'’`]", "", text).lower().split())


def _number_forms(context: str) -> set[str]:
    """Every number of the context, without thousands separators (`4,200` and `4200` are the same)."""
    return {m.replace(",", "") for m in _DIGITS.findall(context)}


def _number_key(found: str) -> str | None:
    digits = _DIGITS.search(found)
    if digits is None:
        return None
    value = digits.group().replace(",", "")
    return None if value.isdigit() and int(value) < 10 else value  # small counts are not facts worth a flag


def _names(answer: str) -> list[str]:
    """Capitalised names, without the common words a sentence starts with."""
    found = []
    for match in _NAME.finditer(answer):
        words = [w for w in re.split(r"\s+", match.group()) if w.lower().strip("'’") not in _COMMON]
        if len(words) == 1 and words[0] == match.group() and _sentence_start(answer[: match.start()]):
            continue  # one capitalised word opening a sentence is just a sentence's first word
        words = [w for w in words if (w[:1].isupper() and not w.isupper()) or (len(w) > 1 and w.isupper())]
        if words:
            found.append(" ".join(words))
    return found


def grounding(case: Case, min_prompt_chars: int) -> Result:
    if not case.answer or not (case.documents or case.tools or len(case.prompt) >= min_prompt_chars):
        return None
    answer = _URL.sub(" ", case.answer) if "://" in case.answer else case.answer
    claims: list[tuple[str, str]] = []
    if _ANY_DIGIT.search(answer):  # dates and numbers hold digits: most answers' regex passes are skipped
        for match in _DATE.finditer(answer):
            claims.append(("ungrounded_date", match.group()))
        dated = _DATE.sub(" ", answer)
        for match in _NUMBER.finditer(dated):
            claims.append(("ungrounded_number", match.group()))
    for match in _QUOTE.finditer(answer):
        claims.append(("ungrounded_quote", match.group(1)))
    for name in _names(_QUOTE.sub(" ", answer)):
        claims.append(("ungrounded_entity", name))
    if not claims:
        return None  # before the context is read: an answer without claims costs only the passes above
    context = "\n".join([case.prompt, *case.documents, *case.sources, *case.tools])
    lowered, numbers = _norm(context), _number_forms(context)
    words = set(re.findall(r"[\w'’\-]+", lowered))
    missing = [(code, text) for code, text in claims if not _grounded(code, text, lowered, numbers, words)]
    if not missing:
        return 0.0, []
    score = 0.5 + 0.5 * len(missing) / len(claims)
    return score, [f"{code}: {_excerpt(text)}" for code, text in missing[:MAX_REASONS]]


def _grounded(code: str, text: str, lowered: str, numbers: set[str], words: set[str]) -> bool:
    if code == "ungrounded_number":
        key = _number_key(text)
        return key is None or key in numbers
    if code == "ungrounded_date":
        if _norm(text) in lowered:
            return True
        parts = [p for p in _DIGITS.findall(text)]
        return bool(parts) and all(p.replace(",", "") in numbers for p in parts) and len(parts) > 1
    if code == "ungrounded_quote":
        return _norm(text) in lowered
    return all(_name_word_grounded(w, lowered, words) for w in text.split())


def _name_word_grounded(word: str, lowered: str, words: set[str]) -> bool:
    """A word of a name is grounded when the context holds it, compared as the context is (`_norm`: lowercase,
    apostrophes dropped), with or without a possessive `'s` on either side's copy of it."""
    bare = word.lower().strip("'’").removesuffix("'s").removesuffix("’s")
    return bare in words or _norm(word) in words or word.lower() in lowered or _norm(bare) + "s" in words


# ---- prefilters over whole columns (RE2, pyarrow.compute; batch.py) ----------------------------------------
# Each matches every answer (or prompt) on which its detector's Python could find something, and a few more: a row
# that no prefilter matches gets the detector's quiet result without any Python. They are supersets, not copies:
# RE2 has no lookarounds and its `\b` and `\s` are ASCII, so they use wider classes (Python's `\s` and str.isspace
# take the Unicode spaces below). Keep them in step with the patterns they stand for.
_SPACE_RE2: Final = r"\t\n\x0b\x0c\r\x1c-\x1f\x{85}\p{Z}"  # Python's Unicode whitespace
_NAME_WORD_RE2: Final = r"[A-Z][a-zA-Z'’\-]"
# grounding: a digit (dates, numbers), a quote, a URL (removed before names are read), a capitalised word after
# a word on the same line (not a sentence's first word) or two capitalised words in a row (a name at a start).
GROUNDING_RE2: Final = (
    rf"\p{{Nd}}|[\"“”]|://|[^.!?:;{_SPACE_RE2}][\t\x0b\x0c\r\x1c-\x1f\x{{85}}\p{{Z}}]*{_NAME_WORD_RE2}"
    rf"|{_NAME_WORD_RE2}+[{_SPACE_RE2}]+(?:of|de|von|van|the|and|&)?[{_SPACE_RE2}]*{_NAME_WORD_RE2}"
)
CITATIONS_RE2: Final = r"\[\p{Nd}{1,3}\]|(?i:source|reference|ref|see)s?:|://"
# filled below from _REFUSAL and _UNCERTAIN, lookahead dropped; Python's IGNORECASE also takes the Turkish İ and ı
# for an i, RE2's case folding does not: an answer holding one goes to the Python detector
REFUSAL_RE2: Final = "(?i:{}|{})|[\\x{{130}}\\x{{131}}]"
JSON_RE2: Final = r"(?i)json"
TRANSLATE_RE2: Final = r"(?i)translat|übersetz|tradu|in (?:english|german|french|spanish|italian|portuguese|dutch|" \
    r"chinese|japanese|russian|arabic)"  # fmt: skip


# ---- citations -----------------------------------------------------------------------------------------------
_BRACKET: Final = re.compile(r"\[(\d{1,3})\]")
_SOURCE: Final = re.compile(r"\(?\b(?:Source|Sources|Reference|Ref|See)s?:\s*([^)\n]{2,80})\)?", re.IGNORECASE)


def citations(case: Case) -> Result:
    if not case.answer:
        return None
    missing: list[str] = []
    cited = 0
    for match in _BRACKET.finditer(case.answer):
        cited += 1
        if not 1 <= int(match.group(1)) <= len(case.documents) and match.group() not in case.prompt:
            missing.append(match.group())
    known_text: list[str] = []  # the context, normalised on the first citation that needs it

    def known() -> str:
        if not known_text:
            known_text.append(_norm("\n".join([case.prompt, *case.documents, *case.sources, *case.tools])))
        return known_text[0]

    for match in _SOURCE.finditer(case.answer):
        cited += 1
        name = match.group(1).strip().rstrip(".")
        if _URL.match(name):
            continue  # the URL is checked below
        if _norm(name) not in known():
            missing.append(name)
    for match in _URL.finditer(case.answer) if "://" in case.answer else ():
        cited += 1
        url = match.group().rstrip(".,;")
        if _norm(url) not in known() and _norm(url.rstrip("/")) not in known():
            missing.append(url)
    if not cited:
        return None
    if not missing:
        return 0.0, []
    return 0.9, [f"unknown_citation: {_excerpt(m)}" for m in missing[:MAX_REASONS]]


# ---- refusal and uncertainty ---------------------------------------------------------------------------------
_REFUSAL: Final = re.compile(
    r"\b(?:I\s*(?:can(?:no|')t|cannot|am (?:not able|unable)|'m (?:not able|unable)|won'?t be able|must decline)"
    r"(?! (?:verify|confirm))|I'?m sorry,? but|I apologi[sz]e,? but|as an AI|as a language model"
    r"|I do not have access|I don'?t have access"
    r"|I(?: am|'m) not (?:allowed|permitted)|(?:this|that) request (?:violates|goes against)"
    r"|I'?m afraid I can'?t)\b",
    re.IGNORECASE,
)
_UNCERTAIN: Final = re.compile(
    r"\b(?:I'?m not (?:sure|certain)|I am not (?:sure|certain)|I don'?t know|I do not know|not entirely sure"
    r"|I(?: could| may|'d)? be wrong|I'?m unsure|I (?:do not|don'?t) have (?:enough|sufficient) information"
    r"|(?:it is|it's) unclear|I cannot (?:verify|confirm)|I can'?t (?:verify|confirm)|to the best of my knowledge"
    r"|I think,? but|possibly|probably not sure|I believe,? but)\b",
    re.IGNORECASE,
)


# Words every alternative of _REFUSAL / _UNCERTAIN holds (lowercase): an answer with none of them is not searched
# (a case-insensitive search of the alternation costs about 0.5 ms per answer of 1 KB). Keep them in step.
_REFUSAL_HINTS: Final = ("can", "unable", "not able", "won", "must decline", "sorry", "apologi", "as an ai",
                         "language model", "access", "not allowed", "not permitted", "request", "afraid")  # fmt: skip
REFUSAL_ANY_RE2: Final = REFUSAL_RE2.format(
    *(
        p.replace("(?! (?:verify|confirm))", "").replace(r"\s", f"[{_SPACE_RE2}]")
        for p in (_REFUSAL.pattern, _UNCERTAIN.pattern)
    )
)
_UNCERTAIN_HINTS: Final = ("not sure", "not certain", "know", "not entirely", "wrong", "unsure", "information",
                           "unclear", "verify", "confirm", "possibly", "i think", "i believe")  # fmt: skip


def refusal(case: Case, refusal_score: float, uncertainty_score: float) -> Result:
    if not case.answer:
        return None
    reasons: list[str] = []
    score = 0.0
    lowered = case.answer.lower()
    refused = _REFUSAL.search(case.answer) if any(h in lowered for h in _REFUSAL_HINTS) else None
    if refused:
        reasons.append(f"refusal: {_excerpt(_around(case.answer, refused))}")
        score = refusal_score
    unsure = _UNCERTAIN.search(case.answer) if any(h in lowered for h in _UNCERTAIN_HINTS) else None
    if unsure:
        reasons.append(f"uncertainty: {_excerpt(_around(case.answer, unsure))}")
        score = max(score, uncertainty_score)
    return score, reasons


def _around(text: str, match: re.Match[str]) -> str:
    return text[match.start() : match.start() + EXCERPT]


# ---- completeness, language, JSON ----------------------------------------------------------------------------
def completeness(case: Case, empty_score: float, truncated_score: float) -> Result:
    if case.answer is None:
        return None
    reasons: list[str] = []
    score = 0.0
    if not case.answer.strip() and not case.has_tool_calls:
        reasons.append("empty: no text in the answer")
        score = empty_score
    if case.finish_reason in LENGTH_REASONS:
        tail = case.answer.strip()[-EXCERPT:]
        reasons.append(f"truncated: …{tail}" if tail else "truncated: finish_reason length")
        score = max(score, truncated_score)
    return score, reasons


_TRANSLATE: Final = re.compile(r"\b(?:translat\w*|in (?:english|german|french|spanish|italian|portuguese|dutch|"
                               r"chinese|japanese|russian|arabic)|übersetz\w*|tradu\w*)\b")  # fmt: skip
_TRANSLATE_HINTS: Final = ("translat", "übersetz", "tradu", "in english", "in german", "in french", "in spanish",
                           "in italian", "in portuguese", "in dutch", "in chinese", "in japanese", "in russian",
                           "in arabic")  # fmt: skip
# (checked as substrings of the lowered prompt first: the regex runs only on the few prompts that hold one)


def language(case: Case, score: float) -> Result:
    if not case.answer or not case.question:
        return None
    lowered = case.prompt.lower()
    if any(hint in lowered for hint in _TRANSLATE_HINTS) and _TRANSLATE.search(lowered):
        return None
    asked = guess(case.question)
    said = guess(case.answer) if asked is not None else None
    if asked is None or said is None:
        return None
    if asked == said:
        return 0.0, []
    return score, [f"language_mismatch: asked in {asked}, answered in {said}"]


_JSON_ASK: Final = re.compile(
    r"\b(?:(?:respond|reply|answer|return|output|format|give|provide)\w*\b[^.\n]{0,40}\bJSON\b"
    r"|(?:in|as|valid|only|strict) JSON\b|JSON (?:object|array|only|format|schema))",
    re.IGNORECASE,
)
_FENCE: Final = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL | re.IGNORECASE)


def json_output(case: Case, score: float) -> Result:
    if case.answer is None or not (
        case.wants_json or ("json" in case.prompt.lower() and _JSON_ASK.search(case.prompt))
    ):
        return None
    text = case.answer.strip()
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return score, [f"invalid_json: {_excerpt(str(exc).split(':')[0])} in {_excerpt(body[:30]) or 'nothing'}"]
    return 0.0, []


@dataclass(frozen=True, slots=True)
class Detector:
    """A detector's name (in `attributes["lynex.detectors"]` and `[plugins.detectors] enabled`) and its codes."""

    name: str
    codes: tuple[str, ...]


DETECTORS: Final = (
    Detector("grounding", ("ungrounded_number", "ungrounded_date", "ungrounded_quote", "ungrounded_entity")),
    Detector("citations", ("unknown_citation",)),
    Detector("refusal", ("refusal", "uncertainty")),
    Detector("completeness", ("empty", "truncated")),
    Detector("language", ("language_mismatch",)),
    Detector("json", ("invalid_json",)),
)
NAMES: Final = tuple(d.name for d in DETECTORS)
CODES: Final = {code: d.name for d in DETECTORS for code in d.codes}
Check = Callable[[Case], Result]
