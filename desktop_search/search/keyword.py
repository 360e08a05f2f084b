"""The keyword leg: bm25 over the store's full-text indexes.

Whole words first (FTS5, English stemmed); when no whole word matches, or
the query is Chinese, Japanese or Korean, the trigram index finds words
inside longer ones and the n-gram index the one- and two-character CJK
words. A new keyword signal (another field weighted, another index) is a
method here, so the searcher's mode logic does not change.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from desktop_search.search.fusion import FusionSettings
from desktop_search.search.query import CJK, ParsedQuery, fts_match, fts_quote, trigram_terms
from desktop_search.storage import Store


@dataclass(frozen=True)
class KeywordHits:
    """A keyword ranking (chunk id, bm25 score; best first) and the passages holding the whole query."""

    ranking: list[tuple[int, float]]
    exact: frozenset[int] = field(default_factory=frozenset)


class KeywordLeg:
    """Ranks passages by bm25 for a parsed query."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def search(self, q: ParsedQuery, k: int, fusion: FusionSettings) -> KeywordHits:
        """Up to ``k`` bm25 hits, and (``fusion.exact_first``) the passages that hold the whole query as a phrase."""
        if not CJK.search(q.text):
            match = fts_match(q, stopwords=fusion.stopwords)
            hits = self.store.keyword_search(match, k) if match else []
            if hits:
                exact: frozenset[int] = frozenset()
                if fusion.exact_first and not q.phrases and len(q.words) >= 4:
                    exact = frozenset(cid for cid, _ in self.store.keyword_search(fts_quote(" ".join(q.words)), k))
                return KeywordHits(hits, exact)
            # No whole word matched: look for the words inside longer ones
            # (German compounds, partial words) with the substring index.
        return KeywordHits(self._substrings(q, k))

    def _substrings(self, q: ParsedQuery, k: int) -> list[tuple[int, float]]:
        """bm25 over the trigram index, plus the n-gram index for CJK words under three characters."""
        match = fts_match(q, trigram=True)
        hits = self.store.keyword_search(match, k, trigram=True) if match else []
        short = trigram_terms(q)[1]
        if short:
            # Both bm25 scores count: a passage with the long words and the short ones ranks first.
            total = dict(hits)
            for cid, score in self.store.gram_search(short, k):
                total[cid] = total.get(cid, 0.0) + score
            hits = sorted(total.items(), key=lambda cs: cs[1], reverse=True)[:k]
        return hits
