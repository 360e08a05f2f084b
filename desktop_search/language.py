"""Which writing system a text is in, and CJK helpers for keyword search.

Detection counts letters by Unicode block: cheap enough to run on every
document at index time and on every query. It tells scripts apart, which is
what decides whether an embedding model can read a text (an English-only
model turns Japanese into ``[UNK]`` and Hangul into jamo); it does not tell
English from German.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from enum import Enum

# What counts as a word, in queries, keyword search, highlighting and the vocabulary.
WORD = re.compile(r"\w+", re.UNICODE)
# The longest word the vocabulary keeps: German's long compounds (Rindfleischetikettierungs-
# überwachungsaufgabenübertragungsgesetz, 63 letters) fit.
VOCAB_WORD_MAX = 64


class Lang(str, Enum):
    """A writing system (and, for CJK, the language it implies); stored per document."""

    LATIN = "latin"
    JAPANESE = "ja"
    CHINESE = "zh"
    KOREAN = "ko"
    CYRILLIC = "cyrillic"
    OTHER = "other"  # Greek, Arabic, Hebrew, Thai, Devanagari, ...

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Lang.LATIN: "Latin-script", Lang.JAPANESE: "Japanese", Lang.CHINESE: "Chinese", Lang.KOREAN: "Korean",
    Lang.CYRILLIC: "Cyrillic-script", Lang.OTHER: "non-Latin",
}

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
# Characters written without spaces between words (or, for Hangul, words
# short enough that particles glued to them matter): indexed as 1- and 2-grams.
CJK_CHARS = _HAN + _KANA + _HANGUL
_CJK_RUN = re.compile(f"[{CJK_CHARS}]+")
_HANGUL_RUN = re.compile(f"^[{_HANGUL}]+$")
_KANA_CHAR = re.compile(f"[{_KANA}]")
_HANGUL_CHAR = re.compile(f"[{_HANGUL}]")
_BLOCKS = [
    (re.compile(f"[{_HAN}]"), "han"),
    (_KANA_CHAR, "kana"),
    (_HANGUL_CHAR, "hangul"),
    (re.compile("[A-Za-z\u00c0-\u024f]"), "latin"),
    (re.compile("[\u0400-\u04ff]"), "cyrillic"),
]
_SAMPLE = 20000  # characters looked at per document

# Korean particles (josa) that attach to the word before them, longest first,
# so "하현우가" and "하현우는" both also search for "하현우".
KOREAN_PARTICLES = tuple(sorted(
    "은 는 이 가 을 를 의 에 로 와 과 도 만 나 랑 에서 에게 한테 께서 으로 부터 까지 마저 조차 처럼 보다 이나 이며 "
    "라는 라고 하고 이랑 에서는 에서도 에게는 으로는 으로도 까지는 부터는 "
    "이라는 이라고 에서부터 으로부터 로부터 에게서 한테서 께서는"
    .split(), key=len, reverse=True))


def letter_counts(text: str) -> Counter[str]:
    """Letters per block (``other``: letters of none), counted in C (filter, findall): a loop over the
    characters took 15-30 ms per document, which an upgrade telling thousands of documents' language waits for."""
    letters = "".join(filter(str.isalpha, text))
    counts = Counter({name: len(pattern.findall(letters)) for pattern, name in _BLOCKS})
    counts["other"] = len(letters) - sum(counts.values())  # the blocks do not overlap
    return +counts  # without the blocks it has no letter of


def detect(text: str) -> Lang | None:
    """The main writing system of ``text`` (None when it has no letters)."""
    counts = letter_counts(text[:_SAMPLE])
    if not counts:
        return None
    cjk = counts["han"] + counts["kana"]
    if counts["hangul"] >= max(cjk, counts["latin"], counts["other"], counts["cyrillic"]):
        return Lang.KOREAN
    # Kanji-heavy Japanese still has kana in every sentence; Chinese has none.
    if cjk >= max(counts["latin"], counts["other"], counts["cyrillic"]):
        return Lang.JAPANESE if counts["kana"] * 10 >= cjk else Lang.CHINESE
    name = max(("latin", "cyrillic", "other"), key=lambda n: counts[n])
    return Lang(name)


def detect_query(text: str) -> Lang | None:
    """The language of a query: any kana makes it Japanese, any Hangul Korean.

    A Japanese question often names things in Latin letters
    ("Freebaseが終了した年は"), which outnumber its own characters; kana and
    Hangul appear only in a sentence of that language. Han characters alone
    decide nothing (Japanese and Chinese share them), so the rest is
    :func:`detect`'s majority.
    """
    if _KANA_CHAR.search(text):
        return Lang.JAPANESE
    if _HANGUL_CHAR.search(text):
        return Lang.KOREAN
    return detect(text)


def has_cjk(text: str | None) -> bool:
    """Whether ``text`` holds a CJK character: such passages go into the trigram index (schema.FTS_DDL).

    Its triggers decide by it on insert and on delete alike, so changing what it
    answers for stored text takes a storage format that rebuilds that index.
    """
    return text is not None and not text.isascii() and _CJK_RUN.search(text) is not None


def cjk_grams(text: str | None) -> str:
    """Every CJK character and character pair, space-separated, for the n-gram index.

    The trigram index cannot match one- or two-character words (東京, 本,
    Korean stems like 신씨); this index makes them a lookup instead of a scan.
    """
    if not text or text.isascii():  # most passages: no regex pass over them
        return ""
    out: list[str] = []
    for m in _CJK_RUN.finditer(text.lower()):
        run = m.group()
        out.extend(run)
        out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return " ".join(out)


def substring_words(texts: Iterable[str]) -> set[str]:
    """The distinct lower-cased words of ``texts`` that a search for part of a word can find.

    Words of three characters or more (the trigram index's shortest match)
    and at most ``VOCAB_WORD_MAX`` (longer runs are hashes, encoded data or
    glued-together text, not words anyone types part of), without CJK
    characters (passages with those are in the trigram index themselves):
    what the vocabulary table keeps (schema.FTS_DDL).
    """
    found: set[str] = set()
    for text in texts:
        found.update(WORD.findall(text.lower()))
    return {w for w in found if 3 <= len(w) <= VOCAB_WORD_MAX and not has_cjk(w)}


def korean_stem(word: str) -> str | None:
    """``word`` without a trailing particle (하현우가 -> 하현우), or None if it has none."""
    if not _HANGUL_RUN.match(word):
        return None
    for particle in KOREAN_PARTICLES:
        if len(word) > len(particle) and word.endswith(particle):
            return word[: -len(particle)]
    return None
