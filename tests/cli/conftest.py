"""The CLI's fixtures: a small library, a `cli` runner over ``desktop_search.cli.main``, and the library indexed."""
from __future__ import annotations

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


@pytest.fixture
def indexed(cli, library: Path):
    code, out, err = cli("index", str(library), "--max-tokens", "64", "--no-title-prefix")
    assert code == 0, err
    return library
