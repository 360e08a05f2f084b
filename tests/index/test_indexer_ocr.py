"""Scanned PDFs through the whole app: indexed by OCR, found by a word, marked as OCR; Tesseract missing."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.ingest.extract.scans import TextPage, render_grey, write_pdf
from tests.reliability.conftest import run_cli


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("tesseract") is None:
        pytest.fail("tesseract is not installed (.ci/run installs tesseract-ocr with eng, deu, jpn, kor)")
    root = tmp_path_factory.mktemp("ocr-lib")
    lib = root / "lib"
    lib.mkdir()
    scan = render_grey(write_pdf(root / "p2.pdf", [TextPage(["Photographed notes about otters", "and their holts."])]), 200)
    write_pdf(lib / "mixed.pdf", [TextPage(["A typed page about beavers."]), *scan])
    return lib


def no_tesseract_path(tmp_path: Path) -> str:
    """A PATH that holds no tesseract (the CLI runs as sys.executable, so it needs nothing from PATH)."""
    empty = tmp_path / "no-tesseract-bin"
    empty.mkdir(exist_ok=True)
    return str(empty)


def search(data: Path, model: Path, word: str) -> list[dict]:
    out = run_cli(data, model, "search", "--json", "--mode", "keyword", word)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def status(data: Path, model: Path) -> dict:
    out = run_cli(data, model, "status", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_scanned_page_is_found_on_its_page_and_marked_ocr(library: Path, tmp_path: Path, tiny_model: Path) -> None:
    data = tmp_path / "data"
    run = run_cli(data, tiny_model, "index", "--no-progress", "--ocr-languages", "eng", str(library))
    assert run.returncode == 0, run.stderr
    [hit] = search(data, tiny_model, "otters")
    assert (hit["page"], hit["ocr"]) == (2, True)
    [typed] = search(data, tiny_model, "beavers")
    assert (typed["page"], typed["ocr"]) == (1, False)


def test_no_ocr_leaves_the_scanned_page_unread(library: Path, tmp_path: Path, tiny_model: Path) -> None:
    data = tmp_path / "data"
    assert run_cli(data, tiny_model, "index", "--no-progress", "--no-ocr", str(library)).returncode == 0
    assert search(data, tiny_model, "otters") == []
    assert [h["page"] for h in search(data, tiny_model, "beavers")] == [1]


def test_a_language_pack_that_is_not_installed_is_refused(library: Path, tmp_path: Path, tiny_model: Path) -> None:
    run = run_cli(tmp_path / "data", tiny_model, "index", "--no-progress", "--ocr-languages", "eng+xyz", str(library))
    assert run.returncode != 0
    assert "OCR language pack(s) not installed: xyz" in run.stderr


def test_without_tesseract_a_scan_waits_for_it_and_is_read_once_it_is_there(tmp_path: Path, tiny_model: Path) -> None:
    if shutil.which("tesseract") is None:
        pytest.fail("tesseract is not installed (.ci/run installs tesseract-ocr with eng, deu, jpn, kor)")
    lib = tmp_path / "lib"
    lib.mkdir()
    scan = write_pdf(lib / "scan.pdf", render_grey(write_pdf(tmp_path / "src.pdf", [TextPage(["Weasels in the snow."])]), 200))
    data = tmp_path / "data"
    no_tesseract = no_tesseract_path(tmp_path)

    first = run_cli(data, tiny_model, "index", "--no-progress", str(lib), PATH=no_tesseract)

    assert first.returncode == 0, first.stderr
    [failed] = status(data, tiny_model)["failed"]
    assert failed["path"] == str(scan)
    assert failed["error"].startswith("no text layer: install Tesseract to read it (")
    assert "install Tesseract" in first.stdout
    # Still no Tesseract: nothing to retry, nothing changes.
    again = run_cli(data, tiny_model, "index", "--no-progress", PATH=no_tesseract)
    assert again.returncode == 0, again.stderr
    assert status(data, tiny_model)["failed"] == [failed]

    later = run_cli(data, tiny_model, "index", "--no-progress", "--ocr-languages", "eng")

    assert later.returncode == 0, later.stderr
    assert status(data, tiny_model)["failed"] == []
    [hit] = search(data, tiny_model, "weasels")
    assert (hit["path"], hit["page"], hit["ocr"]) == (str(scan), 1, True)


def test_without_tesseract_a_mixed_pdf_is_partly_read_then_read_whole_once_it_is_there(
        library: Path, tmp_path: Path, tiny_model: Path) -> None:
    data = tmp_path / "data"
    no_tesseract = no_tesseract_path(tmp_path)

    first = run_cli(data, tiny_model, "index", "--no-progress", str(library), PATH=no_tesseract)

    assert first.returncode == 0, first.stderr
    [partly] = status(data, tiny_model)["warnings"]
    assert partly["path"] == str(library / "mixed.pdf")
    assert "1 scanned pages need Tesseract to be read" in partly["error"]
    assert search(data, tiny_model, "otters") == []
    assert [h["page"] for h in search(data, tiny_model, "beavers")] == [1]
    again = run_cli(data, tiny_model, "index", "--no-progress", PATH=no_tesseract)
    assert again.returncode == 0, again.stderr
    assert status(data, tiny_model)["warnings"] == [partly]

    later = run_cli(data, tiny_model, "index", "--no-progress", "--ocr-languages", "eng")

    assert later.returncode == 0, later.stderr
    assert status(data, tiny_model)["warnings"] == []
    [hit] = search(data, tiny_model, "otters")
    assert (hit["page"], hit["ocr"]) == (2, True)
    assert [h["page"] for h in search(data, tiny_model, "beavers")] == [1]
    # Read whole now: a further run leaves it alone.
    assert run_cli(data, tiny_model, "index", "--no-progress", "--ocr-languages", "eng").returncode == 0
    assert [h["page"] for h in search(data, tiny_model, "otters")] == [2]
