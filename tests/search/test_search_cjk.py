"""Keyword search in Korean and Japanese: particles attached, one- and two-character words."""
from __future__ import annotations

from pathlib import Path

import pytest

from desktop_search.index.indexer import Indexer, IndexOptions
from desktop_search.paths import resolve_data_dir
from desktop_search.search.searcher import Searcher
from tests.conftest import make_epub

# Small synthetic Korean documents: the names carry other particles than the questions'.
KOREAN = {
    "singer.epub": [("가수", "하현우는 국카스텐의 보컬이다. 그는 2013년에 첫 정규 앨범을 냈다.")],
    "family.epub": [("가족", "신씨는 조선 시대의 양반 가문이다. 그 집안의 아들이 과거에 급제했다.")],
    "city.epub": [("도시", "부산에는 큰 항구가 있다. 해운대는 여름에 붐빈다.")],
}
JAPANESE = {
    "neko.epub": [("第1節", "猫は日本で人気がある動物である。")],
    "tokyo.epub": [("第1節", "東京の人口は多い。首都機能が集まる。")],
}


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path):
    root = tmp_path_factory.mktemp("cjk")
    for name, chapters in {**KOREAN, **JAPANESE}.items():
        make_epub(root / name, chapters, title=name.split(".")[0])
    paths = resolve_data_dir(tmp_path_factory.mktemp("data"))
    report = Indexer(paths, IndexOptions(model=str(tiny_model), workers=1)).run([root])
    assert not report.failed
    with Searcher(paths, model=str(tiny_model)) as s:
        yield s


def top(s: Searcher, query: str) -> str:
    results = s.search(query, mode="keyword", top_k=3)
    return Path(results[0].path).name if results else ""


@pytest.mark.parametrize("query, expected", [
    ("하현우가 부른 노래", "singer.epub"),  # 하현우가 -> 하현우, in 하현우는
    ("신씨의 아들은 누구인가", "family.epub"),  # 신씨의 -> 신씨 (two characters: the n-gram index)
    ("부산의 항구", "city.epub"),
])
def test_korean_words_match_with_other_particles_attached(searcher: Searcher, query: str, expected: str) -> None:
    assert top(searcher, query) == expected


@pytest.mark.parametrize("query, expected", [("猫", "neko.epub"), ("東京", "tokyo.epub"), ("人口", "tokyo.epub")])
def test_japanese_one_and_two_character_words(searcher: Searcher, query: str, expected: str) -> None:
    assert top(searcher, query) == expected
