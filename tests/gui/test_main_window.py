"""The window end to end with the tiny model: add, index, search, preview, cancel, close."""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage
from PySide6.QtWidgets import QFileDialog, QMessageBox

from desktop_search.gui.library import FailedFilesDialog
from desktop_search.gui.results import HTML_ROLE, MORE_ROLE, RESULT_ROLE
from desktop_search.gui.search_controller import SearchAnswer
from desktop_search.settings import Settings
from tests.conftest import make_pdf
from tests.gui.conftest import INDEX_TIMEOUT_MS, index_folder, search, workers_stopped


def test_window_basics(make_window):
    w = make_window()
    assert w.windowTitle() == "Desktop Search"
    assert w.focusWidget() is w.search_bar.field
    assert w.results.currentWidget() is w.results.placeholder


def test_add_folder_through_dialog_then_index(qtbot, make_window, library, monkeypatch):
    w = make_window()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(library)))
    progress = []
    w.controller.index.worker.progress.connect(lambda p: progress.append(p.phase))
    with qtbot.waitSignal(w.index_finished, timeout=INDEX_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(w.library.add_button, Qt.MouseButton.LeftButton)
    report = blocker.args[0]
    assert report.added == 3 and len(report.failed) == 1
    assert "indexing" in progress and progress[-1] == "done"

    def counts():
        item = w.library.tree.topLevelItem(0)
        return w.library.folders(), item and (item.text(1), item.text(2))

    # Counts refresh during the run too; the last refresh has the final ones.
    qtbot.waitUntil(lambda: counts() == ([str(library)], ("3", "1")), timeout=10_000)
    qtbot.waitUntil(lambda: w.status_bar.counts_label.text().startswith("3 documents"), timeout=10_000)
    assert not w.progress_panel.isVisible() and not w.indexing


def test_search_shows_cards_with_page_or_chapter(qtbot, make_window, library):
    w = make_window()
    index_folder(qtbot, w, library)
    n = search(qtbot, w, "mitochondria powerhouse")
    cards = [w.results.cards.item(i) for i in range(w.results.cards.count()) if not w.results.cards.item(i).isHidden()]
    assert n > 0 and len(cards) == n
    results = [item.data(RESULT_ROLE) for item in cards]
    assert all(r.page is not None or r.section for r in results)
    # Keyword matching (hybrid) puts the page that says it first, on its page.
    top = results[0]
    assert top.path.endswith("biology notes.pdf") and top.page == 2
    assert "mitochondria" in top.text.lower()
    html = w.results.cards.item(0).data(Qt.ItemDataRole.UserRole + 2)
    assert "p. 2" in html and "biology notes.pdf" in html and "background-color" in html  # highlighted word
    # An EPUB hit carries its chapter.
    search(qtbot, w, "compost soil nutrients")
    epub = w.results.cards.item(0).data(RESULT_ROLE)
    assert epub.path.endswith("garden.epub") and epub.section == "Soil"


def test_keyboard_navigation_and_preview(qtbot, make_window, library):
    w = make_window()
    index_folder(qtbot, w, library)
    assert search(qtbot, w, "volcanoes magma crust") >= 2
    qtbot.keyClick(w.search_bar.field, Qt.Key.Key_Down)  # into the list: the first card is current
    first = w.current_result()
    qtbot.keyClick(w.results.cards, Qt.Key.Key_Down)  # the second card (further passages are hidden)
    assert w.focusWidget() is w.results.cards and w.current_result().document_id != first.document_id
    shown = w.current_result()
    qtbot.waitUntil(lambda: w.preview.result is shown, timeout=10_000)
    preview_text = w.preview.text.toPlainText()
    assert " ".join(shown.text.split())[:40] in " ".join(preview_text.split())
    assert os.path.basename(shown.path) in w.preview.header.text()
    assert w.preview.copy_button.isEnabled()
    w.preview.copy_passage()
    from PySide6.QtGui import QGuiApplication

    copied = QGuiApplication.clipboard().text()
    assert os.path.basename(shown.path) in copied and shown.location in copied
    qtbot.keyClick(w.results.cards, Qt.Key.Key_Escape)
    assert w.focusWidget() is w.search_bar.field


def test_preview_shows_neighbouring_passages(qtbot, make_window, tmp_path):
    folder = tmp_path / "long"
    folder.mkdir()
    words = " ".join(f"word{i}" for i in range(600))  # several chunks on one page
    make_pdf(folder / "long.pdf", [words[:1200], words[1200:2400], "zebra giraffe savanna " + words[2400:3000]])
    w = make_window()
    index_folder(qtbot, w, folder)
    search(qtbot, w, "zebra giraffe savanna")
    hit = w.current_result()
    qtbot.waitUntil(lambda: w.preview.result is hit, timeout=10_000)
    text = " ".join(w.preview.text.toPlainText().split())
    assert "zebra giraffe savanna" in text
    assert len(text) > len(" ".join(hit.text.split()))  # the neighbours are there too
    assert "p. 2" in text or "p. 3" in text  # page changes are marked


def test_ctrl_return_opens_the_hit_at_its_page_in_the_viewer(qtbot, make_window, library, tmp_path, monkeypatch):
    record = tmp_path / "viewer-args.txt"
    script = tmp_path / "viewer.sh"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\n')
    script.chmod(0o755)
    monkeypatch.setenv("DESKTOP_SEARCH_VIEWER", f"'{script}' --page %p %f")
    w = make_window()
    index_folder(qtbot, w, library)
    search(qtbot, w, "mitochondria powerhouse")
    hit = w.current_result()
    assert hit.page == 2
    w.activateWindow()
    with qtbot.waitSignal(w.opened, timeout=10_000):
        qtbot.keyClick(w.search_bar.field, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(record.exists, timeout=10_000)
    qtbot.waitUntil(lambda: len(record.read_text().splitlines()) == 3, timeout=10_000)
    assert record.read_text().splitlines() == ["--page", "2", hit.path]
    # The card's Open button and a double click open the selected passage the same way.
    record.unlink()
    qtbot.waitUntil(lambda: w.preview.result is not None, timeout=10_000)
    with qtbot.waitSignal(w.opened, timeout=10_000):
        qtbot.mouseClick(w.preview.open_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: record.exists() and len(record.read_text().splitlines()) == 3, timeout=10_000)
    assert record.read_text().splitlines()[1:] == ["2", hit.path]
    with qtbot.waitSignal(w.opened, timeout=10_000):
        w.results.cards.itemDoubleClicked.emit(w.results.cards.currentItem())


def test_a_viewer_that_cannot_take_the_page_is_said_once(qtbot, make_window, library, monkeypatch):
    from desktop_search.gui import viewer, window_controller

    monkeypatch.delenv("DESKTOP_SEARCH_VIEWER", raising=False)
    monkeypatch.setattr(viewer, "default_prefix", lambda _p: ("someviewer",))
    launched = []
    monkeypatch.setattr(window_controller, "launch", lambda command: launched.append(command) or True)  # type: ignore[func-returns-value]  # note, then succeed
    w = make_window()
    index_folder(qtbot, w, library)
    search(qtbot, w, "mitochondria powerhouse")
    w.open_current()
    w.open_current()
    assert [c.argv for c in launched] == [("someviewer", w.current_result().path)] * 2
    assert w.banner_text().count("someviewer cannot be told where to open") == 1


def test_a_card_carries_the_further_passages_of_its_document(qtbot, make_window, tmp_path):
    folder = tmp_path / "book"
    folder.mkdir()
    make_pdf(folder / "volcano book.pdf", ["Volcanoes erupt lava and ash.", "Nothing about mountains here.",
                                           "Old volcanoes sleep for centuries before they erupt."], title="Volcano Book")
    make_pdf(folder / "other.pdf", ["Gardening in spring."])
    w = make_window()
    index_folder(qtbot, w, folder)
    w.apply_settings(Settings(model=w.settings.model, device="cpu", search_mode="keyword"))
    assert search(qtbot, w, "volcanoes erupt") == 1  # one document
    card = w.results.cards.item(0)
    more = card.data(MORE_ROLE)
    assert more == 1 and w.results.cards.item(1).isHidden()
    assert "1 more passage" in card.data(HTML_ROLE)
    passages = [w.results.cards.item(i).data(RESULT_ROLE) for i in range(w.results.cards.count())]
    assert {r.page for r in passages} == {1, 3} and len({r.document_id for r in passages}) == 1
    # → shows the further passage, with its page; selecting it previews it; ← hides it again.
    w.results.cards.setFocus()
    qtbot.keyClick(w.results.cards, Qt.Key.Key_Right)
    assert not w.results.cards.item(1).isHidden() and "p. " in w.results.cards.item(1).data(HTML_ROLE)
    qtbot.keyClick(w.results.cards, Qt.Key.Key_Down)
    assert w.current_result() is passages[1]
    qtbot.waitUntil(lambda: w.preview.result is passages[1], timeout=10_000)
    qtbot.keyClick(w.results.cards, Qt.Key.Key_Left)
    assert w.results.cards.item(1).isHidden() and w.results.cards.currentRow() == 0


def pdf_folder(folder: Path, n: int) -> Path:
    """``n`` one-page PDFs, each about its own topic."""
    folder.mkdir()
    for i in range(n):
        make_pdf(folder / f"doc{i:02d}.pdf", [f"Document number {i} talks about topic {i}."])
    return folder


def test_cancel_mid_index_keeps_what_was_done(qtbot, make_window, tmp_path):
    folder = pdf_folder(tmp_path / "many", 12)
    w = make_window()

    def cancel_when_scanning(p):
        if p.phase == "scanning":
            w.cancel_indexing()

    w.controller.index.worker.progress.connect(cancel_when_scanning)
    report = index_folder(qtbot, w, folder)
    w.controller.index.worker.progress.disconnect(cancel_when_scanning)
    assert report.cancelled
    assert 0 < report.added < 12
    # Nothing done is lost, and the next update finishes the rest.
    with qtbot.waitSignal(w.index_finished, timeout=INDEX_TIMEOUT_MS) as blocker:
        w.request_update()
    again = blocker.args[0]
    assert not again.cancelled and again.added == 12 - report.added and again.unchanged == report.added


def test_pause_holds_the_run_until_resumed(qtbot, make_window, library):
    w = make_window()
    paused_at = []

    def pause_on_scan(p):
        if p.phase == "scanning":
            w.progress_panel.pause_button.setChecked(True)
            paused_at.append(True)

    w.controller.index.worker.progress.connect(pause_on_scan)
    finished: list[object] = []
    w.index_finished.connect(finished.append)
    w.add_folders([str(library)])
    qtbot.waitUntil(lambda: bool(paused_at), timeout=INDEX_TIMEOUT_MS)
    w.controller.index.worker.progress.disconnect(pause_on_scan)
    qtbot.wait(1500)  # paused: the run must not finish by itself
    assert not finished and w.indexing
    assert w.progress_panel.pause_button.text() == "&Resume" and w.controller.index.paused
    with qtbot.waitSignal(w.index_finished, timeout=INDEX_TIMEOUT_MS) as blocker:
        w.progress_panel.pause_button.setChecked(False)
    assert blocker.args[0].added == 3


def test_search_while_indexing_sees_committed_work(qtbot, make_window, library, tmp_path):
    w = make_window()
    index_folder(qtbot, w, library)
    more = tmp_path / "more"
    more.mkdir()
    for i in range(10):
        make_pdf(more / f"extra{i}.pdf", [f"Quasar number {i} emits radio waves."])
    w.controller.index.worker._get_indexer().options.batch_chunks = 1  # commit after every file

    def pause_after_first_commit(p):  # on the worker thread, so the run holds right here
        if p.phase == "indexing" and p.files_done < p.files_total:
            w.controller.index.flags.pause.set()

    w.controller.index.worker.progress.connect(pause_after_first_commit, Qt.ConnectionType.DirectConnection)
    w.add_folders([str(more)])
    qtbot.waitUntil(w.controller.index.flags.pause.is_set, timeout=INDEX_TIMEOUT_MS)
    w.controller.index.worker.progress.disconnect(pause_after_first_commit)
    # Mid-run: the earlier documents and the ones committed so far are searchable.
    assert search(qtbot, w, "mitochondria") > 0
    search(qtbot, w, "quasar radio")
    found = {w.results.cards.item(i).data(RESULT_ROLE).path for i in range(w.results.cards.count())}
    assert w.indexing and 0 < len([p for p in found if "extra" in p]) < 10
    with qtbot.waitSignal(w.index_finished, timeout=INDEX_TIMEOUT_MS) as blocker:
        w.set_paused(False)
    assert blocker.args[0].added == 10
    search(qtbot, w, "quasar radio")
    found = {w.results.cards.item(i).data(RESULT_ROLE).path for i in range(w.results.cards.count())}
    assert len(found & {str(p) for p in more.iterdir()}) == 10


def test_search_before_model_ready_is_busy_then_shows_results(qtbot, data_dir, settings, library):
    """A window over an existing index; the first search is busy until an answer comes."""
    from desktop_search.gui.main_window import MainWindow
    from desktop_search.index.indexer import Indexer, IndexOptions

    Indexer(data_dir, IndexOptions(model=settings.model, device="cpu")).run([str(library)])
    settings.save(data_dir.settings)
    w = MainWindow(data_dir, settings)
    qtbot.addWidget(w)
    w.show()
    w.search_bar.field.setText("volcanoes")
    w.run_search()  # before the window has even been exposed: the model cannot be ready
    assert w.search_bar.busy.isVisibleTo(w) and "loading" in w.results.placeholder.text()
    with qtbot.waitSignal(w.results_shown, timeout=INDEX_TIMEOUT_MS) as blocker:
        pass
    assert blocker.args[0] > 0 and not w.search_bar.busy.isVisibleTo(w)
    qtbot.waitUntil(lambda: w.status_bar.device_label.text().startswith("Device: CPU"), timeout=INDEX_TIMEOUT_MS)
    assert "tiny-bert" in w.status_bar.model_label.text()
    w.close()
    assert workers_stopped(w)


def test_a_query_while_the_vectors_load_is_answered_by_keyword_then_asked_again(qtbot, data_dir, settings, library,
                                                                                  monkeypatch):
    """A big library's vectors and model take seconds to load: a query meanwhile is answered by keyword at
    once, and asked again once they are in, so its hybrid answer replaces the keyword one."""
    from desktop_search.gui.main_window import MainWindow
    from desktop_search.index.indexer import Indexer, IndexOptions
    from desktop_search.search.searcher import Searcher

    Indexer(data_dir, IndexOptions(model=settings.model, device="cpu")).run([str(library)])
    gate = threading.Event()
    load_dense = Searcher.load_dense

    def slow_load(self: Searcher) -> None:
        gate.wait(INDEX_TIMEOUT_MS / 1000)
        load_dense(self)

    monkeypatch.setattr(Searcher, "load_dense", slow_load)
    settings.save(data_dir.settings)
    w = MainWindow(data_dir, settings)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    answers: list[SearchAnswer] = []
    w.controller.search.answered.connect(answers.append)
    with qtbot.waitSignal(w.results_shown, timeout=INDEX_TIMEOUT_MS) as blocker:
        w.search_bar.field.setText("volcanoes magma")
        w.run_search()
    assert blocker.args[0] > 0
    assert answers[-1].keyword_only and "by keyword" in w.statusBar().currentMessage()
    with qtbot.waitSignal(w.results_shown, timeout=INDEX_TIMEOUT_MS):
        gate.set()
    assert not answers[-1].keyword_only and answers[-1].request.query == "volcanoes magma"
    assert w.controller.search.model_info is not None
    w.close()
    assert workers_stopped(w)


def test_every_thread_ends_after_close(qtbot, make_window, library):
    before = {t.ident for t in threading.enumerate()}
    w = make_window(show=True)
    index_folder(qtbot, w, library)
    search(qtbot, w, "light energy")
    w.close()
    assert workers_stopped(w)
    qtbot.waitUntil(lambda: not [t for t in threading.enumerate() if t.ident not in before and t.is_alive()
                                 and not t.daemon], timeout=10_000)


def test_close_while_indexing_stops_the_worker(qtbot, make_window, tmp_path):
    folder = pdf_folder(tmp_path / "many", 8)
    w = make_window()
    started = []
    w.controller.index.worker.progress.connect(lambda p: started.append(p.phase))
    w.add_folders([str(folder)])
    qtbot.waitUntil(lambda: "scanning" in started, timeout=INDEX_TIMEOUT_MS)
    w.close()
    assert workers_stopped(w)


def test_window_with_results_renders_to_a_non_blank_png(qtbot, make_window, library, tmp_path):
    w = make_window()
    w.resize(1100, 700)
    index_folder(qtbot, w, library)
    search(qtbot, w, "photosynthesis light")
    qtbot.waitUntil(lambda: w.preview.result is not None, timeout=10_000)
    path = tmp_path / "window.png"
    assert w.grab().save(str(path))
    image = QImage(str(path))
    assert image.width() >= 1000 and image.height() >= 600
    # Pixel variance over a grid of samples: a blank or one-colour image has none.
    values = [QImageGray(image, x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)]
    mean = sum(values) / len(values)
    variance = sum((v - mean) ** 2 for v in values) / len(values)
    assert variance > 100, variance
    # The results column itself has content, not just the chrome.
    cards = w.results.cards.grab().toImage()
    card_values = [QImageGray(cards, x, y) for x in range(0, cards.width(), 5) for y in range(0, min(cards.height(), 200), 3)]
    assert len(set(card_values)) > 10


def QImageGray(image: QImage, x: int, y: int) -> int:  # noqa: N802 - reads like a Qt helper
    c = image.pixelColor(x, y)
    return (c.red() * 299 + c.green() * 587 + c.blue() * 114) // 1000


def test_failed_files_view_lists_reasons(qtbot, make_window, library):
    w = make_window()
    index_folder(qtbot, w, library)
    qtbot.waitUntil(lambda: bool(w.controller.info.failed), timeout=10_000)
    dialog = FailedFilesDialog(w.controller.info.failed, w.controller.info.warnings, w)
    qtbot.addWidget(dialog)
    rows = [(dialog.tree.topLevelItem(i).text(0), dialog.tree.topLevelItem(i).text(1))  # type: ignore[union-attr]  # i < count
            for i in range(dialog.tree.topLevelItemCount())]
    assert len(rows) == 1
    assert rows[0][0].endswith("broken.pdf") and rows[0][1]  # a reason a person can read


def test_remove_folder(qtbot, make_window, library, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes))
    w = make_window()
    index_folder(qtbot, w, library)
    with qtbot.waitSignal(w.index_finished, timeout=INDEX_TIMEOUT_MS):
        w.remove_folder(str(library))
    qtbot.waitUntil(lambda: w.library.folders() == [] and w.status_bar.counts_label.text().startswith("0 documents"),
                    timeout=10_000)
    assert search(qtbot, w, "mitochondria") == 0


def test_rebuild_reindexes_everything(qtbot, make_window, library, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes))
    w = make_window()
    index_folder(qtbot, w, library)
    with qtbot.waitSignal(w.index_finished, timeout=INDEX_TIMEOUT_MS) as blocker:
        w.rebuild()
    assert blocker.args[0].added == 3
    assert search(qtbot, w, "mitochondria") > 0


def test_dropping_a_folder_adds_it(qtbot, make_window, library):
    w = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(library))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(w.index_finished, timeout=INDEX_TIMEOUT_MS) as blocker:
        w.dropEvent(event)
    assert event.isAccepted() and blocker.args[0].added == 3


def test_worker_errors_become_messages(qtbot, make_window, library, monkeypatch):
    w = make_window()
    # The environment's fault: shown as it is.
    w.apply_settings(Settings(model="/nonexistent/model-folder", device="cpu"))
    with qtbot.waitSignal(w.index_finished, timeout=INDEX_TIMEOUT_MS):
        w.add_folders([str(library)])
    assert "/nonexistent/model-folder" in w.banner_text() and "does not exist" in w.banner_text()
    # A bug: a generic message that points at the log, and the window lives on.
    from desktop_search.index import indexer as indexing

    def boom(*_a, **_k):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(indexing.Indexer, "run", boom)
    with qtbot.waitSignal(w.index_finished, timeout=INDEX_TIMEOUT_MS) as blocker:
        w.request_update()
    assert blocker.args[0] is None
    assert "Something went wrong" in w.banner_text() and "simulated bug" not in w.banner_text()
    assert not w.indexing and w.library.update_button.isEnabled()


def test_settings_persist_and_search_as_you_type(qtbot, make_window, library, data_dir):
    w = make_window()
    index_folder(qtbot, w, library)
    new = Settings(model=w.settings.model, device="cpu", top_k=1, search_as_you_type=True)
    w.apply_settings(new)
    assert Settings.load(data_dir.settings) == new
    with qtbot.waitSignal(w.results_shown, timeout=INDEX_TIMEOUT_MS) as blocker:
        qtbot.keyClicks(w.search_bar.field, "tectonics")  # no Enter
    assert blocker.args[0] == 1


def test_new_file_in_a_watched_folder_is_indexed(qtbot, make_window, library):
    w = make_window()
    index_folder(qtbot, w, library)
    qtbot.waitUntil(lambda: str(library) in w.controller.watcher.directories(), timeout=10_000)
    with qtbot.waitSignal(w.index_finished, timeout=INDEX_TIMEOUT_MS) as blocker:
        make_pdf(library / "new arrival.pdf", ["Penguins huddle together in the Antarctic winter."])
    assert blocker.args[0].added == 1
    n = search(qtbot, w, "penguins antarctic")
    assert w.results.cards.item(0).data(RESULT_ROLE).path.endswith("new arrival.pdf") and n > 0
    # Deleting is noticed too.
    with qtbot.waitSignal(w.index_finished, timeout=INDEX_TIMEOUT_MS) as blocker:
        os.unlink(library / "new arrival.pdf")
    assert blocker.args[0].deleted == 1


def test_periodic_rescan_catches_in_place_edits(qtbot, make_window, library):
    w = make_window()
    index_folder(qtbot, w, library)
    qtbot.waitUntil(lambda: str(library) in w.controller.watcher.directories(), timeout=10_000)
    w.controller.watcher.removePaths(w.controller.watcher.directories())  # only the safety net is left
    w.controller.rescan_timer.setInterval(500)
    shutil.copy(library / "geology.pdf", library / "copy.pdf")
    with qtbot.waitSignal(w.index_finished, timeout=INDEX_TIMEOUT_MS) as blocker:
        pass
    report = blocker.args[0]
    assert report.added + report.moved == 1


def test_pdf_page_is_rendered_with_the_passage_marked(qtbot, make_window, library):
    preview_mod = pytest.importorskip("desktop_search.gui.preview")
    if not preview_mod.HAVE_QTPDF:
        # Without Qt PDF the page tab must say what is missing, not break.
        w = make_window()
        index_folder(qtbot, w, library)
        search(qtbot, w, "mitochondria")
        qtbot.waitUntil(lambda: w.preview.result is not None, timeout=10_000)
        assert "PySide6-Pdf" in w.preview.page_label.text()
        return
    w = make_window()
    index_folder(qtbot, w, library)
    search(qtbot, w, "mitochondria powerhouse")
    qtbot.waitUntil(lambda: w.preview.result is not None, timeout=10_000)
    assert w.preview.result.page == 2
    with qtbot.waitSignal(w.preview.pdf.rendered, timeout=30_000) as blocker:
        w.preview.tabs.setCurrentWidget(w.preview.page_scroll)
    image = blocker.args[0]
    assert not image.isNull() and image.width() > 200
    assert image.pixelColor(3, 3).lightness() > 240  # white paper, whatever the palette
    assert w.preview.pdf.page_index == 1
    page_text = w.preview.pdf.document.getAllText(1).text()
    assert preview_mod.find_passage(page_text, w.preview.result.text) is not None
    # The mark is there: some pixels are tinted yellow (more red+green than blue).
    yellow = sum(1 for x in range(0, image.width(), 4) for y in range(0, image.height(), 4)
                 if (c := image.pixelColor(x, y)).blue() < c.red() - 40 and c.blue() < c.green() - 40)
    assert yellow > 50
    assert not w.preview.page_label.pixmap().isNull()


def test_filter_row_limits_results_and_is_kept(qtbot, make_window, library, tmp_path, data_dir):
    other = tmp_path / "other"
    other.mkdir()
    make_pdf(other / "volcano atlas.pdf", ["Volcanoes of the world and their magma."])
    w = make_window()
    index_folder(qtbot, w, library)
    index_folder(qtbot, w, other)
    qtbot.waitUntil(lambda: w.search_bar.folder_filter.findData(str(other)) > 0, timeout=10_000)
    search(qtbot, w, "volcanoes magma")

    def paths():
        return {w.results.cards.item(i).data(RESULT_ROLE).path for i in range(w.results.cards.count())}

    assert any(p.startswith(str(other)) for p in paths()) and any(p.startswith(str(library)) for p in paths())
    with qtbot.waitSignal(w.results_shown, timeout=INDEX_TIMEOUT_MS):
        w.set_filters(folder=str(other))  # a new filter searches again
    assert paths() and all(p.startswith(str(other) + os.sep) for p in paths())
    with qtbot.waitSignal(w.results_shown, timeout=INDEX_TIMEOUT_MS):
        w.set_filters(kind="epub")
    assert paths() and all(p.endswith(".epub") for p in paths())
    assert Settings.load(data_dir.settings).filter_kinds == ["epub"]
    w.set_filters(folder=str(other), kind="pdf")
    w.close()
    # A new window starts with the saved filters.
    from desktop_search.gui.main_window import MainWindow

    again = MainWindow(data_dir, Settings.load(data_dir.settings))
    qtbot.addWidget(again)
    assert again.search_bar.folder_filter.currentData() == str(other) and again.search_bar.kind_filter.currentData() == "pdf"
    again.close()


def test_more_like_this_searches_near_the_passage(qtbot, make_window, library):
    w = make_window()
    index_folder(qtbot, w, library)
    search(qtbot, w, "mitochondria powerhouse")
    source = w.current_result()
    qtbot.waitUntil(lambda: w.preview.result is source, timeout=10_000)
    with qtbot.waitSignal(w.results_shown, timeout=INDEX_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(w.preview.similar_button, Qt.MouseButton.LeftButton)
    shown = [w.results.cards.item(i).data(RESULT_ROLE) for i in range(w.results.cards.count())]
    assert blocker.args[0] > 0 and shown
    assert source.chunk_id not in {r.chunk_id for r in shown}
    assert "more like" in w.search_bar.similar_label.text()


def test_patterns_show_what_they_exclude_and_apply_at_the_update(qtbot, make_window, library):
    from PySide6.QtCore import QTimer

    w = make_window()
    index_folder(qtbot, w, library)
    qtbot.waitUntil(lambda: w.library.folders() == [str(library)], timeout=10_000)
    w.library.tree.topLevelItem(0).setSelected(True)
    seen = {}

    def edit():
        d = w.library.patterns_dialog
        d.exclude.setPlainText("geology*\n*.epub")

        def counted():
            rows = {d.counts.topLevelItem(i).text(0): d.counts.topLevelItem(i).text(1)
                    for i in range(d.counts.topLevelItemCount())}
            return rows == {"exclude geology*": "excludes 1", "exclude *.epub": "excludes 1"}

        qtbot.waitUntil(counted, timeout=20_000)
        seen["summary"] = d.summary.text()
        d.accept()

    QTimer.singleShot(0, edit)
    with qtbot.waitSignal(w.index_finished, timeout=INDEX_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(w.library.patterns_button, Qt.MouseButton.LeftButton)
    assert seen["summary"].startswith("2 of 4")  # biology notes and broken.pdf remain
    assert blocker.args[0].deleted >= 2
    qtbot.waitUntil(lambda: w.library.folder_info(str(library)).exclude == ("geology*", "*.epub"), timeout=10_000)
    search(qtbot, w, "tectonics compost")
    assert {os.path.basename(w.results.cards.item(i).data(RESULT_ROLE).path) for i in range(w.results.cards.count())} == \
        {"biology notes.pdf"}
