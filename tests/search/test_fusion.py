"""Fusing the dense and keyword rankings: reciprocal rank, convex, per document or per passage."""
from __future__ import annotations

import pytest

from desktop_search.search.fusion import FusionSettings, fuse, rrf


def test_rrf() -> None:
    fused = rrf([[(1, 0.9), (2, 0.8)], [(2, 5.0), (3, 4.0)]])
    assert [cid for cid, _ in fused] == [2, 1, 3]


def test_fuse_document_level_groups_passages() -> None:
    # Chunks 1-3 are one document (10), chunk 4 another (20), chunk 5 a third (30).
    doc_of = {1: 10, 2: 10, 3: 10, 4: 20, 5: 30}
    dense = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6)]
    keyword = [(4, 9.0), (5, 8.0), (1, 1.0)]
    doc_level = fuse([dense, keyword], [0.5, 0.5], doc_of, FusionSettings(method="rrf", level="document"))
    order = [doc_of[c] for c, _ in doc_level]
    # Document 20 is first in keyword and second in dense: it wins at document level.
    assert order[0] == 20
    # Passages of one document stay together, best first.
    assert [c for c, _ in doc_level if doc_of[c] == 10] == [1, 2, 3]
    chunk_level = fuse([dense, keyword], [0.5, 0.5], doc_of, FusionSettings(method="rrf", level="chunk"))
    assert chunk_level[0][0] == 1  # rank 1 + rank 3 beats rank 4 + rank 1 passage by passage
    assert rrf([dense, keyword])[0][0] == 1


def test_fuse_convex_uses_normalised_scores() -> None:
    doc_of = {1: 1, 2: 2, 3: 3}
    dense = [(1, 0.50), (2, 0.49), (3, 0.10)]
    keyword = [(2, 20.0), (1, 2.0), (3, 1.0)]
    fused = fuse([dense, keyword], [0.5, 0.5], doc_of, FusionSettings(method="convex"))
    assert [c for c, _ in fused] == [2, 1, 3]
    assert fused[0][1] == pytest.approx(0.5 * (0.39 / 0.40) + 0.5 * 1.0)
    # All weight on dense reproduces the dense order.
    dense_only = fuse([dense, keyword], [1.0, 0.0], doc_of, FusionSettings(method="convex"))
    assert [c for c, _ in dense_only] == [1, 2, 3]


def test_fusion_settings_parse() -> None:
    s = FusionSettings.parse("method=convex,dense_weight=0.7,pool=300,stopwords=false")
    assert (s.method, s.dense_weight, s.pool, s.stopwords) == ("convex", 0.7, 300, False)
    assert FusionSettings.parse("") == FusionSettings()
    with pytest.raises(Exception, match="Unknown fusion setting"):
        FusionSettings.parse("colour=blue")


def test_cjk_queries_fuse_with_their_own_settings() -> None:
    from desktop_search.language import Lang

    base = FusionSettings.parse("cjk_level=chunk,cjk_dense_weight=0.8,dense_weight=0.4")
    assert base.for_query(Lang.LATIN) is base and base.for_query(None) is base
    for lang in (Lang.JAPANESE, Lang.CHINESE, Lang.KOREAN):
        cjk = base.for_query(lang)
        assert (cjk.level, cjk.dense_weight, cjk.pool) == ("chunk", 0.8, base.pool)

