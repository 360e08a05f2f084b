"""Writing-system detection and the CJK helpers keyword search builds on."""
from __future__ import annotations

import pytest

from desktop_search.language import Lang, cjk_grams, detect, korean_stem


@pytest.mark.parametrize("text, lang", [
    ("Statins lower cholesterol and may cause muscle pain.", Lang.LATIN),
    ("Die Straßenbahn fährt über die Brücke.", Lang.LATIN),
    ("オイルショックの影響で、良質の紙が不足した。", Lang.JAPANESE),
    ("東京大学の研究者は量子計算機を発表した", Lang.JAPANESE),  # kanji-heavy, but with kana
    ("量子计算机的研究取得了新进展", Lang.CHINESE),
    ("하현우가 노래를 불렀다. 신씨의 아들은 누구인가?", Lang.KOREAN),
    ("Москва — столица России.", Lang.CYRILLIC),
    ("Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.", Lang.OTHER),
    ("ISO 9001を1990年に発行した。", Lang.JAPANESE),  # a few Latin letters in Japanese text
    ("12345 !!!", None),
])
def test_detect_names_the_main_writing_system(text: str, lang: Lang | None) -> None:
    assert detect(text) == lang


def test_letters_are_counted_by_block_as_one_by_one() -> None:
    import random
    from collections import Counter

    from desktop_search.language import _BLOCKS, letter_counts

    rng = random.Random(0)
    # Letters of every block and none, and non-letters inside the blocks' ranges (×, ÷, ゛, ・).
    alphabet = "aZé×÷ßЖж猫東京ーひカ゛・한국αΩ1 .、。" + chr(0x24F) + chr(0x250)
    for _ in range(300):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 60)))
        one_by_one = Counter(next((n for pattern, n in _BLOCKS if pattern.match(ch)), "other")
                             for ch in text if ch.isalpha())
        assert letter_counts(text) == one_by_one, text


def test_cjk_grams_are_characters_and_pairs_of_cjk_runs_only() -> None:
    assert cjk_grams("東京 is 大都市") == "東 京 東京 大 都 市 大都 都市"
    assert cjk_grams("English only") == ""
    assert cjk_grams(None) == ""


@pytest.mark.parametrize("word, stem", [
    ("하현우가", "하현우"), ("신씨의", "신씨"), ("서울에서", "서울"), ("학교로부터", "학교"),
    ("노래", None), ("가", None), ("東京", None), ("word", None),
])
def test_korean_stem_drops_one_trailing_particle(word: str, stem: str | None) -> None:
    assert korean_stem(word) == stem


def test_a_query_with_kana_or_hangul_is_japanese_or_korean_whatever_else_it_holds() -> None:
    from desktop_search.language import detect_query

    # More Latin letters than Japanese ones: by majority this would be a Latin query.
    assert detect("Freebaseが終了した年は") == Lang.LATIN
    assert detect_query("Freebaseが終了した年は") == Lang.JAPANESE
    assert detect_query("Python 리스트의 사용법") == Lang.KOREAN
    # Han alone decides nothing; plain queries keep the majority rule.
    assert detect_query("GPU computing 価格") == Lang.LATIN
    assert detect_query("北京的人口") == Lang.CHINESE
    assert detect_query("statins and muscle pain") == Lang.LATIN
    assert detect_query("123") is None
