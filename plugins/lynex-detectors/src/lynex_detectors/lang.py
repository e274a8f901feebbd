"""A small language guess from stop words and scripts, enough to tell that an answer is not in the question's
language. No model, no dependency: a text is guessed only when it has enough stop words of one language (or
enough letters of a non-Latin script), else the guess is None and no mismatch is reported.
"""

from __future__ import annotations

import re
from typing import Final

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
