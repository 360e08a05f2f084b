"""The keyword leg: bm25 over the store's full-text indexes.

Whole words first (FTS5, English stemmed). When no whole word matches, the
vocabulary finds the words that hold the query's words (German compounds,
partial words), and those are searched as whole words. A Chinese, Japanese
or Korean query goes to the trigram index (passages with CJK text) and the
n-gram index (one- and two-character CJK words), and its other words to
the word index. A new keyword signal (another field weighted, another index) is a
method here, so the searcher's mode logic does not change.

A big library's top-k index (:mod:`~desktop_search.storage.topk_index`), when
it is current, answers "any of these words" in place of FTS5: the same bm25
ranking in form, without scoring every passage that holds a common word.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from desktop_search.language import has_cjk
from desktop_search.search.fusion import FusionSettings
from desktop_search.search.query import CJK, ParsedQuery, fts_match, fts_quote, keyword_terms, trigram_terms
from desktop_search.storage import Store
from desktop_search.storage.topk_index import TopKReader

EXPANSIONS = 64  # vocabulary words that one piece of a word may stand for in a search


@dataclass(frozen=True)
class KeywordHits:
    """A keyword ranking (chunk id, bm25 score; best first) and the passages holding the whole query."""

    ranking: list[tuple[int, float]]
    exact: frozenset[int] = field(default_factory=frozenset)


class KeywordLeg:
    """Ranks passages by bm25 for a parsed query."""

    def __init__(self, store: Store, topk: TopKReader | None = None) -> None:
        self.store = store
        self.topk = topk

    def search(self, q: ParsedQuery, k: int, fusion: FusionSettings) -> KeywordHits:
        """Up to ``k`` bm25 hits, and (``fusion.exact_first``) the passages that hold the whole query as a phrase."""
        if not CJK.search(q.text):
            if q.phrases:
                match = fts_match(q, stopwords=fusion.stopwords)
                hits = self.store.keyword_search(match, k) if match else []
            else:
                hits = self._any_word(keyword_terms(q, fusion.stopwords), k)
            if hits:
                exact: frozenset[int] = frozenset()
                if fusion.exact_first and not q.phrases and len(q.words) >= 4:
                    exact = frozenset(cid for cid, _ in self.store.keyword_search(fts_quote(" ".join(q.words)), k))
                return KeywordHits(hits, exact)
            # No whole word matched: look for the words inside longer ones.
            return KeywordHits(self._inside_words(q, k))
        return KeywordHits(self._substrings(q, k))

    def _inside_words(self, q: ParsedQuery, k: int) -> list[tuple[int, float]]:
        """bm25 over the word index for the vocabulary's words that hold a query word ("schiff" ->
        "dampfschiffahrt"): up to ``EXPANSIONS`` words each, the shortest (the closest) first."""
        found: dict[str, None] = {}
        for piece in trigram_terms(q)[0]:
            found.update(dict.fromkeys(self.store.words_containing(fts_quote(piece), EXPANSIONS)))
        return self._any_word(list(found), k)

    def _any_word(self, words: Sequence[str], k: int) -> list[tuple[int, float]]:
        """bm25 of the passages holding any of ``words``: from the top-k index when it is current, else FTS5."""
        if not words:
            return []
        index = self.topk.current(self.store) if self.topk is not None else None
        hits = index.search(words, k) if index is not None else None
        if hits is None:
            hits = self.store.keyword_search(" OR ".join(fts_quote(w) for w in words), k)
        return hits

    def _substrings(self, q: ParsedQuery, k: int) -> list[tuple[int, float]]:
        """bm25 over the trigram index, plus the n-gram index for CJK words under three characters, plus
        the word index for the query's other words (a passage without CJK text is not in the other two)."""
        match = fts_match(q, trigram=True)
        hits = self.store.keyword_search(match, k, trigram=True) if match else []
        long, short = trigram_terms(q)
        total = dict(hits)
        if short:
            # Both bm25 scores count: a passage with the long words and the short ones ranks first.
            for cid, score in self.store.gram_search(short, k):
                total[cid] = total.get(cid, 0.0) + score
        other = [w for w in long if not has_cjk(w)]  # as the trigram index's triggers decide for a passage
        if other:
            # Only passages the CJK indexes did not find: a CJK passage with the word has its trigrams counted.
            for cid, score in self.store.keyword_search(" OR ".join(fts_quote(w) for w in other), k):
                total.setdefault(cid, score)
        return sorted(total.items(), key=lambda cs: cs[1], reverse=True)[:k]
