"""Scanned PDFs through the whole app: indexed by OCR, found by a word, marked as OCR; Tesseract missing."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.extract.scans import TextPage, render_grey, write_pdf
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
