"""The command line through ``desktop_search.cli.main``: commands, exit codes, --json contract."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_search.cli import main
from tests.conftest import make_epub, make_pdf

PAGE_TWO = "Muscle pain is a side effect of statins."


@pytest.fixture
def library(tmp_path: Path) -> Path:
    lib = tmp_path / "library"
    lib.mkdir()
    make_pdf(lib / "statins.pdf", ["Statins lower cholesterol.", PAGE_TWO], title="Statins Review")
    make_pdf(lib / "sleep.pdf", ["Sleep deprivation impairs memory consolidation."])
    make_epub(lib / "fruit.epub", [("Apples", "Apples grow on trees in orchards."), ("Pears", "Pears are sweet.")])
    (lib / "broken.pdf").write_bytes(b"this is not a pdf" * 40)
    return lib


@pytest.fixture
def cli(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture):
    data = tmp_path / "data"

    def run(*args: str, model: bool = True) -> tuple[int, str, str]:
        argv = ["--data-dir", str(data), *(["--model", str(tiny_model)] if model else []), "--device", "cpu", *args]
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def indexed(cli, library: Path):
    code, out, err = cli("index", str(library), "--max-tokens", "64", "--no-title-prefix")
    assert code == 0, err
    return library


def test_index_exits_zero_lists_failures_and_shows_progress(cli, library: Path) -> None:
    code, out, err = cli("index", str(library), "--max-tokens", "64")
    assert code == 0
    assert "Indexed 3 new, 0 changed, 0 moved, 0 removed, 0 unchanged; 1 failed" in out
    assert f"  {library / 'broken.pdf'}: not a valid PDF" in out
    assert "scanning" in err  # the progress display goes to stderr, not stdout
    code, out, _ = cli("index")
    assert code == 0 and "0 new, 0 changed, 0 moved, 0 removed, 4 unchanged" in out


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
    # The text view shows the document once, its further passage under it with its page.
    code, out, _ = cli("search", "statins", "--mode", "dense", "--top-k", "1")
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


def test_status_json(cli, indexed: Path) -> None:
    code, out, _ = cli("status", "--json")
    info = json.loads(out)
    assert code == 0
    assert info["documents"] == 3 and isinstance(info["chunks"], int) and info["chunks"] >= 4
    assert info["failed"] == [{"path": str(indexed / "broken.pdf"), "error": "not a valid PDF (damaged or wrong extension)"}]
    assert [f["path"] for f in info["folders"]] == [str(indexed)]
    assert info["model"] and info["device"]


def test_status_names_the_gpu_it_would_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["device"] == "NVIDIA H200"
    assert main([*data, "--device", "cuda", "status"]) == 0
    assert "Device:    NVIDIA H200\n" in capsys.readouterr().out


def test_status_text_before_anything_is_indexed(cli) -> None:
    code, out, _ = cli("status")
    assert code == 0 and "Documents: 0" in out and "(none yet)" in out


def test_remove_takes_the_folder_out(cli, indexed: Path) -> None:
    code, out, _ = cli("remove", str(indexed))
    assert code == 0 and "4 documents" in out
    code, out, _ = cli("status", "--json")
    info = json.loads(out)
    assert (info["documents"], info["chunks"], info["folders"]) == (0, 0, [])
    code, out, _ = cli("search", "statins", "--mode", "dense")
    assert code == 0 and "No results." in out


def test_remove_unknown_folder_is_a_clear_error(cli, indexed: Path, tmp_path: Path) -> None:
    code, _, err = cli("remove", str(tmp_path / "elsewhere"))
    assert code == 2 and "is not in the library" in err and str(indexed) in err


def test_search_before_indexing_says_what_to_do(cli) -> None:
    code, _, err = cli("search", "anything")
    assert code == 2 and "desktop-search index" in err


def test_index_of_a_missing_folder_is_a_clear_error(cli, tmp_path: Path) -> None:
    code, _, err = cli("index", str(tmp_path / "nope"))
    assert code == 2 and "is not a folder" in err and "Traceback" not in err


def test_other_model_is_refused(cli, indexed: Path, tmp_path: Path) -> None:
    from tests.conftest import build_tiny_model

    other = build_tiny_model(tmp_path / "other-model")
    code, _, err = cli("--model", str(other), "index")
    assert code == 2 and "--rebuild" in err


def test_bare_command_hands_over_to_the_window(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import desktop_search.gui.app as app

    calls = []
    monkeypatch.setattr(app, "main", lambda paths, on_shown=None: calls.append(paths.root) or 3)  # type: ignore[func-returns-value]  # note, then exit 3
    assert main(["--data-dir", str(tmp_path / "d")]) == 3
    assert calls == [tmp_path / "d"]


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ, DESKTOP_SEARCH_DATA_DIR=str(tmp_path / "env-data"))
    out = subprocess.run([sys.executable, "-m", "desktop_search", "status", "--json"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["data_dir"] == str(tmp_path / "env-data")


def test_bare_command_with_an_unusable_data_dir_says_why(tmp_path, capsys):
    """The window's entry reports a data dir it cannot create like every command does."""
    from desktop_search.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["--data-dir", str(blocker / "data")]) == 2
    assert "Cannot create the data folder" in capsys.readouterr().err


def test_precision_option_and_a_bad_precision_setting(cli, indexed: Path, tmp_path: Path) -> None:
    from desktop_search.paths import resolve_data_dir
    from desktop_search.settings import Settings

    code, out, _ = cli("--precision", "fp32", "search", "statins", "--json", "--mode", "dense")
    assert code == 0 and json_lines(out)
    Settings(precision="fp16").save(resolve_data_dir(tmp_path / "data").settings)  # a hand-edited file
    code, _, err = cli("search", "statins", "--mode", "dense")
    assert code == 2 and "Unknown precision 'fp16'" in err and "Traceback" not in err
    code, out, _ = cli("--precision", "bf16", "search", "statins", "--json", "--mode", "dense")  # the option wins
    assert code == 0 and json_lines(out)
