"""A small language guess from stop words and scripts, enough to tell that an answer is not in the question's
language. No model, no dependency: a text is guessed only when it has enough stop words of one language (or
enough letters of a non-Latin script), else the guess is None and no mismatch is reported.
"""

from __future__ import annotations

import re
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_STOP: Final = {
    "en": "the and is are was were of to in that it for with you this have not be on what how can do which there "
          "they from your would should could will does about",
    "de": "der die das und ist nicht ein eine ich sie es zu mit den dem auf für von wir ihr wie was sind auch "
          "bitte kann können wird werden",
    "fr": "le la les et est une des du que qui pas pour dans vous nous avec sur ce cette sont je il elle au aux "
          "comment quelle quel",
    "es": "el los las y es una que del por para con no se su como más pero son está qué cómo cuál usted puede "
          "hay muy mi puedo mis",
    "it": "il lo gli e è una che di per con non sono come più anche della questo questa cosa perché può gli",
    "pt": "o os as e é uma que do da dos das para com não em um se como mais são você está qual pode",
    "nl": "de het een en is van dat niet op te zijn met voor hoe wat ik je wij ook kan",
}  # fmt: skip
STOP_WORDS: Final = {lang: frozenset(words.split()) for lang, words in _STOP.items()}
_SCRIPTS: Final = (
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
)
_WORD: Final = re.compile(r"[^\W\d_]+", re.UNICODE)
_NON_LATIN: Final = re.compile(r"[\u0370-\u06ff\u0900-\u097f\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]")
_LANGS_OF: Final = {
    word: tuple(lang for lang, stop in STOP_WORDS.items() if word in stop)
    for stop in STOP_WORDS.values()
    for word in stop
}
MIN_HITS: Final = 3  # stop words of the winning language a text needs to be guessed
SAMPLE_CHARS: Final = 600  # the guess reads the text's start and end, this many characters in all


def guess(text: str) -> str | None:
    """The language of `text` (`en`, `de`, ..., `zh`), or None when too little says which. A long text is guessed
    from its start and end (`SAMPLE_CHARS`): its language shows there, and a guess costs the same for any length."""
    if len(text) > SAMPLE_CHARS:
        half = SAMPLE_CHARS // 2
        text = text[:half] + " " + text[-half:]
    words = _WORD.findall(text)
    letters = sum(map(len, words))
    if letters < 8:
        return None
    if _NON_LATIN.search(text):  # per-script counts only for texts that have such letters at all
        for lang, pattern in _SCRIPTS:
            if len(pattern.findall(text)) * 3 >= letters:  # a third of the letters in one script
                return "ja" if lang == "zh" and _SCRIPTS[1][1].search(text) else lang
    counts = dict.fromkeys(STOP_WORDS, 0)
    for word in words:
        for lang in _LANGS_OF.get(word.lower(), ()):
            counts[lang] += 1
    ranked = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)
    (best, hits), (_, second) = ranked[0], ranked[1]
    if hits < MIN_HITS or hits < second * 1.5:
        return None
    return best


# ---- the same guess over a whole column (batch.py) -----------------------------------------------------------
# ASCII texts (most) are guessed with Arrow kernels and numpy: one byte table lowercases letters and blanks the rest
# (in ASCII, `_WORD`'s letters are [a-zA-Z]), the words are split and looked up in the stop words at once, and the
# counts per text and language decide as `guess` does. Other texts go through `guess`.
_LANGS: Final = tuple(STOP_WORDS)
_ASCII_STOP: Final = sorted({w for stop in STOP_WORDS.values() for w in stop if w.isascii()})
_ASCII_COLUMNS: Final = [  # per language, the indices of its stop words in _ASCII_STOP
    np.array([i for i, w in enumerate(_ASCII_STOP) if w in STOP_WORDS[lang]], dtype=np.int64) for lang in _LANGS
]
_LETTERS: Final = bytes(b | 0x20 if 65 <= b <= 90 or 97 <= b <= 122 else 32 for b in range(256))


def guess_column(texts: pa.Array) -> list[str | None]:
    """`guess` of each text of a string array (None for a null)."""
    out: list[str | None] = [None] * len(texts)
    n = len(texts)
    if not n:
        return out
    if texts.offset or texts.null_count:
        texts = pa.concat_arrays([pc.fill_null(texts, "")])  # offsets from 0, no null slots
    ascii_ = pc.string_is_ascii(texts)
    others = pc.indices_nonzero(pc.invert(ascii_)).to_pylist()
    for i in others:
        out[i] = guess(texts[i].as_py())
    _, offsets, data = texts.buffers()
    off = np.frombuffer(offsets, dtype=np.int32, count=n + 1)
    body = bytearray(memoryview(data)[: int(off[-1])] if data is not None else b"").translate(_LETTERS)
    # the texts' samples in place: a long text's middle and each non-ASCII text blanked (spaces split words as the
    # sample's joining space does); lowercased letters, everything else a space
    lengths = np.diff(off)
    for i in np.flatnonzero(lengths > SAMPLE_CHARS).tolist():
        start, end = int(off[i]) + SAMPLE_CHARS // 2, int(off[i + 1]) - SAMPLE_CHARS // 2
        body[start:end] = b" " * (end - start)
    for i in others:
        body[int(off[i]) : int(off[i + 1])] = b" " * int(lengths[i])
    words = pa.StringArray.from_buffers(n, offsets, pa.py_buffer(body))
    for i, lang in enumerate(_guess_ascii(words)):
        if lang is not None:
            out[i] = lang
    return out


def _guess_ascii(words: pa.StringArray) -> list[str | None]:
    """The guess of each text of lowercase ASCII words and spaces."""
    n = len(words)
    split = pc.ascii_split_whitespace(words)
    bounds = split.offsets.to_numpy()
    flat = split.flatten()
    sizes = np.concatenate([[0], np.cumsum(pc.binary_length(flat).to_numpy(), dtype=np.int64)])
    letters = sizes[bounds[1:]] - sizes[bounds[:-1]]
    # each word's index in the stop words (len: none), counted per text and word, then per text and language
    found = pc.fill_null(pc.index_in(flat, value_set=_STOP_ARRAY), len(_ASCII_STOP)).to_numpy()
    parents = np.repeat(np.arange(n, dtype=np.int64), np.diff(bounds))
    width = len(_ASCII_STOP) + 1
    per_word = np.bincount(parents * width + found, minlength=n * width).reshape(n, width)
    counts = np.stack([per_word[:, columns].sum(axis=1) for columns in _ASCII_COLUMNS], axis=1)
    best = counts.argmax(axis=1)  # the first of equals, as `guess`'s stable sort
    ranked = np.sort(counts, axis=1)
    hits, second = ranked[:, -1], ranked[:, -2]
    ok = (letters >= 8) & (hits >= MIN_HITS) & (hits >= second * 1.5)
    return [_LANGS[b] if k else None for b, k in zip(best.tolist(), ok.tolist(), strict=True)]


_STOP_ARRAY: Final = pa.array(_ASCII_STOP, pa.string())
