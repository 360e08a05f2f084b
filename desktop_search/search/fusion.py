"""Hybrid ranking: how the dense and keyword rankings are weighed and merged into one.

Each ranking contributes a share per passage (its reciprocal rank, or its
score scaled to 0..1); the weighted shares are summed, per passage or per
document. :class:`FusionSettings` holds every knob, so a new one (and the
benchmarks' ``--fusion`` spelling of it) is one field here.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from desktop_search.errors import UserFacingError
from desktop_search.language import Lang

RRF_K = 60
_CJK_LANGS = (Lang.JAPANESE, Lang.CHINESE, Lang.KOREAN)


@dataclass(frozen=True)
class FusionSettings:
    """How the searcher builds candidate lists and fuses them in hybrid mode.

    The defaults were tuned on the SciFact train split with
    ``benchmarks/retrieval_eval.py``; the test split only reports.
    """

    method: str = "convex"  # "convex" (min-max normalised scores) or "rrf" (reciprocal rank)
    level: str = "document"  # fuse each document's best passage, or raw passages ("chunk")
    rrf_k: float = RRF_K
    dense_weight: float = 0.5  # the dense ranking's share; keyword gets the rest
    # Passages asked of each ranking (at least 4 x top_k). 500 and function
    # words dropped from keyword queries: SciFact train hybrid nDCG@10 0.7412
    # against 0.7394 for 1000 with them kept, at 63 queries/s against 23
    # (a word in every passage makes bm25 score every passage).
    pool: int = 500
    stopwords: bool = True
    exact_first: bool = True  # passages holding the whole query as a phrase rank first
    # Queries in Chinese, Japanese or Korean, with a model that reads them:
    # tuned on the JSQuAD library (benchmarks/multilingual_eval.py), where
    # passage-level fusion with more trust in dense lifted hybrid above both
    # legs; the settings above (SciFact, English) are left as they were.
    cjk_level: str = "chunk"
    cjk_dense_weight: float = 0.7

    def for_query(self, lang: Lang | None) -> FusionSettings:
        """The settings to fuse a query in ``lang`` with."""
        if lang in _CJK_LANGS:
            return replace(self, level=self.cjk_level, dense_weight=self.cjk_dense_weight)
        return self

    @classmethod
    def parse(cls, spec: str) -> FusionSettings:
        """``"method=convex,dense_weight=0.6"`` -> settings (for benchmarks and tuning)."""
        kinds = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, _, raw = part.partition("=")
            if key not in kinds:
                raise UserFacingError(f"Unknown fusion setting {key!r}; known: {', '.join(kinds)}.")
            kind = kinds[key]
            if kind == "bool":
                values[key] = raw.lower() in ("1", "true", "yes", "on")
            elif kind in ("int", "float"):
                values[key] = float(raw) if kind == "float" else int(raw)
            else:
                values[key] = raw
        return cls(**values)


def _contributions(ranking: Sequence[tuple[Any, float]], fusion: FusionSettings) -> dict[Any, float]:
    """Each item's share from one ranking: 1/(k+rank), or its score scaled to 0..1."""
    if fusion.method == "rrf":
        return {key: 1.0 / (fusion.rrf_k + rank + 1) for rank, (key, _s) in enumerate(ranking)}
    if fusion.method != "convex":
        raise UserFacingError(f"Unknown fusion method {fusion.method!r}; use rrf or convex.")
    if not ranking:
        return {}
    scores = [s for _, s in ranking]
    lo, hi = min(scores), max(scores)
    span = hi - lo
    return {key: (s - lo) / span if span > 0 else 1.0 for key, s in ranking}


def _best_per_document(ranking: Sequence[tuple[int, float]], doc_of: dict[int, int]) -> list[tuple[int, float]]:
    """(document id, score of its best passage), in the ranking's order."""
    out: dict[int, float] = {}
    for cid, score in ranking:
        doc = doc_of.get(cid)
        if doc is not None and doc not in out:
            out[doc] = score
    return list(out.items())


def fuse(
    rankings: Sequence[Sequence[tuple[int, float]]],
    weights: Sequence[float],
    doc_of: dict[int, int],
    fusion: FusionSettings,
    keyword_only: frozenset[int] = frozenset(),
) -> list[tuple[int, float]]:
    """Weighted fusion of rankings of chunk ids, best first (see :func:`fuse_levels`)."""
    return fuse_levels(rankings, weights, doc_of, fusion, keyword_only)[0]


def fuse_levels(
    rankings: Sequence[Sequence[tuple[int, float]]],
    weights: Sequence[float],
    doc_of: dict[int, int],
    fusion: FusionSettings,
    keyword_only: frozenset[int] = frozenset(),
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(the fused ranking at ``fusion.level``, the passages' own fused ranking), from one pass.

    Weighted fusion of rankings of chunk ids, best first.

    At document level each ranking first shrinks to one entry per document
    (its best passage), so a document with many middling passages cannot
    outvote one with a single good one; passages are then ordered by their
    document's fused score, and within a document by their own.

    ``keyword_only`` are passages with no vector yet: they score their share
    of the last ranking (keyword) alone, not marked down for missing from
    the others; so are documents that have such a passage and no dense hit.
    """
    def combine(lists: Sequence[Sequence[tuple[Any, float]]], solo: set[Any] | frozenset[Any]) -> dict[Any, float]:
        total: dict[Any, float] = {}
        shares = [_contributions(ranking, fusion) for ranking in lists]
        for share, weight in zip(shares, weights, strict=True):
            for key, value in share.items():
                total[key] = total.get(key, 0.0) + weight * value
        for key in solo:
            if key in shares[-1]:
                total[key] = shares[-1][key]
        return total

    by_chunk = combine(rankings, keyword_only)
    own = sorted(by_chunk.items(), key=lambda kv: kv[1], reverse=True)
    if fusion.level == "chunk":
        return own, own
    solo_docs: set[int] = set()
    if keyword_only:
        with_vectors = {doc_of.get(cid) for ranking in rankings[:-1] for cid, _ in ranking}
        solo_docs = {doc_of[cid] for cid in keyword_only if cid in doc_of} - with_vectors
    by_doc = combine([_best_per_document(r, doc_of) for r in rankings], solo_docs)
    keyed = [(cid, by_doc[doc_of[cid]], s) for cid, s in by_chunk.items() if cid in doc_of]
    keyed.sort(key=lambda t: (t[1], t[2]), reverse=True)
    return [(cid, doc_score) for cid, doc_score, _s in keyed], own


def rrf(rankings: Sequence[Sequence[tuple[int, float]]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Plain reciprocal rank fusion of several rankings of chunk ids."""
    fusion = FusionSettings(method="rrf", level="chunk", rrf_k=k)
    return fuse(rankings, [1.0] * len(rankings), {}, fusion)
