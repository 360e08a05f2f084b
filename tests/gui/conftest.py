"""GUI fixtures: a small library, a window over a temp data dir with the tiny model."""
from __future__ import annotations

from pathlib import Path

import pytest

from desktop_search.gui.search_controller import SearchAnswer
from tests.conftest import make_epub, make_pdf

INDEX_TIMEOUT_MS = 120_000

PAGES = [
    "Photosynthesis converts light energy into chemical energy in plants.\nChlorophyll absorbs red and blue light.",
    "The mitochondria is the powerhouse of the cell.\nIt produces ATP through respiration.",
    "Volcanoes erupt when magma rises through the crust of the earth.",
]


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """Two PDFs (three pages each at most), one EPUB and one broken PDF."""
    folder = tmp_path / "library"
    folder.mkdir()
    make_pdf(folder / "biology notes.pdf", PAGES, title="Biology Notes")
    make_pdf(folder / "geology.pdf", ["Plate tectonics moves continents slowly.", PAGES[2]], title="Geology")
    make_epub(folder / "garden.epub", [("Soil", "Compost feeds the soil with nutrients.\n\nWorms help too."),
                                       ("Light", "Tomatoes need plenty of sunlight and warmth.")], title="Garden Book")
    (folder / "broken.pdf").write_bytes(b"this is not a pdf at all")
    return folder


@pytest.fixture
def settings(tiny_model: Path):
    from desktop_search.settings import Settings

    return Settings(model=str(tiny_model), device="cpu", top_k=10)


@pytest.fixture
def make_window(qtbot, data_dir, settings):
    """Build (and afterwards close) main windows; closing must stop every worker thread."""
    from desktop_search.gui.main_window import MainWindow

    windows = []

    def make(show: bool = True) -> MainWindow:
        settings.save(data_dir.settings)
        w = MainWindow(data_dir, settings)
        qtbot.addWidget(w)
        windows.append(w)
        if show:
            w.show()
            qtbot.waitExposed(w)
        return w

    yield make
    for w in windows:
        w.close()
        assert workers_stopped(w)


def workers_stopped(window) -> bool:
    """Both worker threads have ended (as they must once the window is closed)."""
    return window.controller.index.worker_thread.isFinished() and window.controller.search.worker_thread.isFinished()


def index_folder(qtbot, window, folder: Path):
    """Add ``folder`` as the dialog would, and wait for the run's report."""
    with qtbot.waitSignal(window.index_finished, timeout=INDEX_TIMEOUT_MS) as blocker:
        window.add_folders([str(folder)])
    return blocker.args[0]


def search(qtbot, window, query: str) -> int:
    """Type ``query`` and press Enter: the number of documents of the answer, once the model ranks it.

    An answer given by keyword while the vectors and the model load is passed over: the window asks
    again when they are in, and that answer replaces it.
    """
    answers: list[SearchAnswer] = []
    window.controller.search.answered.connect(answers.append)
    try:
        window.search_bar.field.setText(query)
        qtbot.keyClick(window.search_bar.field, "\r")
        qtbot.waitUntil(lambda: bool(answers) and not answers[-1].keyword_only, timeout=INDEX_TIMEOUT_MS)
    finally:
        window.controller.search.answered.disconnect(answers.append)
    return len(answers[-1].documents)  # the window showed it first: its slot was connected first
