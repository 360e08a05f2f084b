"""From the text typed to what each leg searches with: parsed words and phrases, FTS5 MATCH expressions.

Cheap to import (no SQLAlchemy, hnswlib or torch): benchmarks and tests
build match expressions without opening an index.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from desktop_search.language import CJK_CHARS, korean_stem
from desktop_search.search.terms import STOPWORDS, WORD

_PHRASE = re.compile(r'"([^"]+)"')
CJK = re.compile(f"[{CJK_CHARS}]")  # a query with one of these is searched by substring, not by whole words
_CJK_RUN = re.compile(f"[{CJK_CHARS}]+")


@dataclass(frozen=True)
class ParsedQuery:
    text: str  # the query without quote marks, for embedding
    phrases: tuple[str, ...]  # "quoted phrases" that must match exactly
    words: tuple[str, ...]


def parse_query(query: str) -> ParsedQuery:
    query = unicodedata.normalize("NFKC", query).strip()
    phrases = tuple(p.strip() for p in _PHRASE.findall(query) if p.strip())
    return ParsedQuery(text=query.replace('"', " ").strip(), phrases=phrases, words=tuple(WORD.findall(query.lower())))


def fts_quote(s: str) -> str:
    """``s`` as one FTS5 string (a phrase), whatever quote marks it holds."""
    return '"' + s.replace('"', '""') + '"'


def keyword_terms(q: ParsedQuery, stopwords: bool = True) -> tuple[str, ...]:
    """The words worth matching: distinct, stopwords dropped unless nothing else is left."""
    words = q.words
    if stopwords:
        words = tuple(w for w in words if w not in STOPWORDS) or words
    return tuple(dict.fromkeys(words))


def trigram_terms(q: ParsedQuery) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(terms for the trigram index, CJK terms too short for it).

    Runs of CJK characters have no spaces between words, so a long run is cut
    into overlapping three-character pieces and bm25 ranks passages by how
    many of them they contain; one- and two-character runs go to the n-gram
    index. A Korean word also searches for its stem without the particle
    (신씨의 -> 신씨), so the same name with another particle matches.
    """
    long: list[str] = []
    short: list[str] = []

    def add(run: str) -> None:
        if len(run) < 3:
            short.append(run)
        else:
            long.extend(run[i : i + 3] for i in range(len(run) - 2))

    for word in q.words:
        pos = 0
        for m in _CJK_RUN.finditer(word):
            latin = word[pos : m.start()]
            if len(latin) >= 3:
                long.append(latin)
            run = m.group()
            add(run)
            stem = korean_stem(run)
            if stem:
                add(stem)
            pos = m.end()
        if len(word) - pos >= 3:
            long.append(word[pos:])
    return tuple(dict.fromkeys(long)), tuple(dict.fromkeys(short))


def fts_match(q: ParsedQuery, trigram: bool = False, stopwords: bool = True) -> str | None:
    """An FTS5 MATCH expression: any term (bm25 ranks), all quoted phrases."""
    if trigram:
        terms = trigram_terms(q)[0]
        phrases = tuple(p for p in q.phrases if len(p) >= 3)
    else:
        terms = keyword_terms(q, stopwords)
        phrases = q.phrases
    ors = " OR ".join(fts_quote(w) for w in terms)
    ands = " AND ".join(fts_quote(p) for p in phrases)
    if ands and ors:
        return f"({ors}) AND {ands}"
    return ands or ors or None
