"""Query parsing and the FTS5 match expressions built from it (no index needed)."""
from __future__ import annotations

from desktop_search.search.query import fts_match, parse_query, trigram_terms


def test_query_parsing() -> None:
    q = parse_query('statins "muscle pain" ﬁsh')
    assert q.phrases == ("muscle pain",)
    assert q.words == ("statins", "muscle", "pain", "fish")
    assert fts_match(q) == '("statins" OR "muscle" OR "pain" OR "fish") AND "muscle pain"'


def test_fts_match_construction() -> None:
    q = parse_query('what is the "inner membrane" for')
    assert fts_match(q) == '("inner" OR "membrane") AND "inner membrane"'
    assert (fts_match(q, stopwords=False) or "").startswith('("what" OR "is" OR "the"')
    assert fts_match(parse_query("the of")) == '"the" OR "of"'
    long, short = trigram_terms(parse_query("東京大学 猫 abc"))
    assert long == ("東京大", "京大学", "abc") and short == ("猫",)


def test_korean_query_terms_include_particle_free_stems() -> None:
    long, short = trigram_terms(parse_query("신씨의 하현우가"))
    assert "신씨" in short and "하현우" in long
