"""A model that cannot read the library or the query: hybrid leans on keyword, and the user is told."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_search.cli import main
from desktop_search.embed.models import spec_from_folder
from desktop_search.language import Lang
from desktop_search.search.coverage import NoticeScope, library_notice, query_notice
from desktop_search.search.searcher import Searcher
from tests.conftest import make_epub

JAPANESE = [
    ("neko.epub", "猫は日本で人気がある動物である。犬も多く飼われている。"),
    ("tokyo.epub", "東京の人口は多い。首都機能が集まる都市である。"),
    ("kyoto.epub", "京都には多くの寺がある。観光客が訪れる古都である。"),
]


@pytest.fixture(scope="module")
def english_only(english_only_model: Path) -> Path:
    return english_only_model


@pytest.fixture(scope="module")
def japanese_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ja")
    for name, text in JAPANESE:
        make_epub(root / name, [("第1節", text)], title=name.split(".")[0])
    return root


def test_catalogue_languages_reach_the_model_spec(english_only: Path, tiny_model: Path) -> None:
    spec = spec_from_folder(english_only)
    assert spec.reads(Lang.LATIN) and not spec.reads(Lang.JAPANESE) and not spec.reads(Lang.KOREAN)
    assert spec.reads(None)
    assert spec_from_folder(tiny_model).reads(Lang.JAPANESE)  # unknown model: assumed to read everything


def test_notices_name_the_language_and_the_remedy(english_only: Path) -> None:
    spec = spec_from_folder(english_only)
    notice = library_notice(spec, {Lang.JAPANESE: 3, Lang.LATIN: 1, None: 5})
    assert notice is not None and notice.scope is NoticeScope.LIBRARY and notice.lang is Lang.JAPANESE
    assert "Japanese" in notice.message and "models get intfloat/multilingual-e5-small" in notice.message
    assert library_notice(spec, {Lang.JAPANESE: 1, Lang.LATIN: 1}) is None  # not most of it
    assert library_notice(spec, {}) is None
    assert (notice := query_notice(spec, ["신씨의 아들은 누구인가"])) is not None and notice.lang is Lang.KOREAN
    # kana: Japanese, Latin majority or not
    assert (notice := query_notice(spec, ["Freebaseが終了した年は"])) is not None and notice.lang is Lang.JAPANESE
    assert query_notice(spec, ["muscle pain"]) is None


def test_cli_says_it_once_on_stderr_and_hybrid_is_keyword(
    tmp_path: Path, english_only: Path, japanese_library: Path, capsys: pytest.CaptureFixture
) -> None:
    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--data-dir", str(tmp_path / "data"), "--model", str(english_only), "--device", "cpu", *args])
        out, err = capsys.readouterr()
        return code, out, err

    code, _out, err = run("index", "--no-progress", str(japanese_library))
    assert code == 0
    assert [line for line in err.splitlines() if line.startswith("Note:")] == [
        line for line in err.splitlines() if "Japanese" in line and "models get" in line
    ] != []
    code, out, err = run("search", "--json", "--per-document", "0", "東京の人口")
    notes = [line for line in err.splitlines() if line.startswith("Note:")]
    assert code == 0 and len(notes) == 1 and "Most of the library is Japanese" in notes[0]
    hybrid = [json.loads(line)["chunk_id"] for line in out.splitlines()]
    _code, out, err = run("search", "--json", "--per-document", "0", "--mode", "keyword", "東京の人口")
    assert hybrid == [json.loads(line)["chunk_id"] for line in out.splitlines()] != []
    assert "Note:" not in err
    # A Japanese question naming something in Latin letters is still Japanese: keyword too.
    mixed = "Tokyo Metropolis の人口"
    _code, out, _err = run("search", "--json", "--per-document", "0", mixed)
    hybrid = [json.loads(line)["chunk_id"] for line in out.splitlines()]
    _code, out, _err = run("search", "--json", "--per-document", "0", "--mode", "keyword", mixed)
    assert hybrid == [json.loads(line)["chunk_id"] for line in out.splitlines()] != []


def test_a_model_that_reads_the_text_fuses_as_before(tmp_path: Path, tiny_model: Path, japanese_library: Path) -> None:
    from desktop_search.index.indexer import Indexer, IndexOptions
    from desktop_search.paths import resolve_data_dir

    paths = resolve_data_dir(tmp_path / "data")
    Indexer(paths, IndexOptions(model=str(tiny_model), workers=1)).run([japanese_library])
    with Searcher(paths, model=str(tiny_model)) as s:
        assert s.language_notice(["人口"]) is None
        hybrid = s.search("東京の人口", mode="hybrid", per_document=0)
        keyword = s.search("東京の人口", mode="keyword", per_document=0)
        # The dense leg is in: every passage gets a result, not only those with the words.
        assert len(hybrid) > len(keyword)
