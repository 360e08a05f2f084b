"""`desktop-search search` and `similar`: the --json contract, grouping by document, the text view."""
from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import PAGE_TWO


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_search_json_contract(cli, indexed: Path) -> None:
    code, out, _ = cli("search", PAGE_TWO, "--json", "--mode", "dense", "--top-k", "2", "--per-document", "1")
    assert code == 0
    rows = json_lines(out)
    assert [r["rank"] for r in rows] == [1, 2] and [r["doc_rank"] for r in rows] == [1, 2]
    top = rows[0]
    for key in ("rank", "score", "path", "title", "page", "section", "text"):
        assert key in top
    assert "query_id" not in top
    assert top["path"] == str(indexed / "statins.pdf") and Path(top["path"]).is_absolute()
    assert (top["title"], top["page"], top["section"], top["text"]) == ("Statins Review", 2, None, PAGE_TWO)
    assert isinstance(top["score"], float)


def test_search_rows_are_grouped_by_document(cli, indexed: Path) -> None:
    code, out, _ = cli("search", "statins", "--json", "--mode", "dense", "--top-k", "2")
    rows = json_lines(out)
    assert code == 0 and [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert len({r["doc_rank"] for r in rows}) == 2  # --top-k counts documents
    # The rows of one document are consecutive, in document order.
    doc_ranks = [r["doc_rank"] for r in rows]
    assert doc_ranks == sorted(doc_ranks)
    statins = [r for r in rows if r["path"].endswith("statins.pdf")]
    assert sorted(r["page"] for r in statins) == [1, 2]
    code, out, _ = cli("search", "statins", "--json", "--mode", "dense", "--per-document", "1")
    rows = json_lines(out)
    assert len(rows) == len({r["path"] for r in rows})
    # The text view shows the document once, its further passage under it with its page. Keyword mode:
    # only the two statins pages hold the word, so both rank first whatever the tiny random model says.
    code, out, _ = cli("search", "statins", "--mode", "keyword", "--top-k", "1")
    assert out.count("statins.pdf") == 1 and "    + p. " in out


def test_similar_from_a_page_or_a_chunk_id(cli, indexed: Path) -> None:
    code, out, _ = cli("search", PAGE_TWO, "--json", "--mode", "dense", "--top-k", "1", "--per-document", "1")
    chunk = json_lines(out)[0]["chunk_id"]
    code, out, _ = cli("similar", str(indexed / "statins.pdf"), "--page", "2", "--json", "--per-document", "0")
    by_page = json_lines(out)
    assert code == 0 and by_page and chunk not in {r["chunk_id"] for r in by_page}
    code, out, _ = cli("similar", "--chunk", str(chunk), "--json", "--per-document", "0")
    assert [r["chunk_id"] for r in json_lines(out)] == [r["chunk_id"] for r in by_page]
    code, _, err = cli("similar", str(indexed / "statins.pdf"), "--page", "7")
    assert code != 0 and "page 7" in err


def test_search_json_for_an_epub_has_a_section_and_null_page(cli, indexed: Path) -> None:
    code, out, _ = cli("search", "orchards", "--json", "--mode", "dense", "--type", "epub")
    rows = json_lines(out)
    assert code == 0 and rows
    assert all(r["page"] is None and r["section"] in ("Apples", "Pears") for r in rows)


def test_batch_queries_carry_their_ids(cli, indexed: Path, tmp_path: Path) -> None:
    qfile = tmp_path / "queries.jsonl"
    qfile.write_text(
        json.dumps({"id": "q-statins", "text": PAGE_TWO}) + "\n\n"
        + json.dumps({"id": 7, "text": "Sleep deprivation impairs memory consolidation."}) + "\n"
    )
    code, out, _ = cli("search", "--queries", str(qfile), "--json", "--mode", "dense", "--top-k", "1",
                       "--per-document", "1")
    rows = json_lines(out)
    assert code == 0
    assert [(r["query_id"], Path(r["path"]).name) for r in rows] == [("q-statins", "statins.pdf"), ("7", "sleep.pdf")]


def test_bad_queries_file_is_a_clear_error(cli, indexed: Path, tmp_path: Path) -> None:
    qfile = tmp_path / "bad.jsonl"
    qfile.write_text('{"text": "no id"}\n')
    code, _, err = cli("search", "--queries", str(qfile))
    assert code == 2 and "line 1" in err and "Traceback" not in err


def test_plain_search_output_shows_title_and_page(cli, indexed: Path) -> None:
    code, out, _ = cli("search", PAGE_TWO, "--mode", "dense", "--top-k", "1")
    assert code == 0
    assert "Statins Review  —  p. 2" in out and str(indexed / "statins.pdf") in out


def test_keyword_mode(cli, indexed: Path) -> None:
    code, out, _ = cli("search", "orchards", "--json", "--mode", "keyword")
    assert code == 0 and [r["section"] for r in json_lines(out)] == ["Apples"]


def test_search_before_indexing_says_what_to_do(cli) -> None:
    code, _, err = cli("search", "anything")
    assert code == 2 and "desktop-search index" in err


def test_precision_option_and_a_bad_precision_setting(cli, indexed: Path, tmp_path: Path) -> None:
    from desktop_search.paths import resolve_data_dir
    from desktop_search.settings import Settings

    code, out, _ = cli("--precision", "fp32", "search", "statins", "--json", "--mode", "dense")
    assert code == 0 and json_lines(out)
    Settings(precision="fp8").save(resolve_data_dir(tmp_path / "data").settings)  # a hand-edited file
    code, _, err = cli("search", "statins", "--mode", "dense")
    assert code == 2 and "Unknown precision 'fp8'" in err and "Traceback" not in err
    code, _, err = cli("--precision", "fp16", "search", "statins", "--mode", "dense")  # a GPU's precision, on a CPU
    assert code == 2 and "fp16 runs on NVIDIA GPUs" in err and "Traceback" not in err
    code, out, _ = cli("--precision", "int8", "search", "statins", "--json", "--mode", "dense")  # the option wins
    assert code == 0 and json_lines(out)
