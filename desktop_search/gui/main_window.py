"""The main window: a frame that composes the views and wires them to the controller.

The views (search bar, results, preview, library, progress, banners) show
state and say what the user asks for; the
:class:`~desktop_search.gui.window_controller.WindowController` turns those
requests into background jobs, and their answers into the signals wired to
the views here. The window keeps the frame (splitter, dock, menus, status
bar), the dialogs that ask before a job starts, and the window-level events:
closing, dropped folders, and the first exposure, after which the background
work starts, so the window never waits for the model, SQLAlchemy or torch.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QMessageBox, QSplitter, QVBoxLayout, QWidget

from desktop_search.embed.models import multilingual_model_name
from desktop_search.gui.banner import MessageBanner
from desktop_search.gui.controller import JobOutcome
from desktop_search.gui.dialogs import AboutDialog, SettingsDialog
from desktop_search.gui.language_notice import LanguageNoticeBar
from desktop_search.gui.library import FailedFilesDialog, LibraryPanel
from desktop_search.gui.preview import PreviewPane
from desktop_search.gui.progress_panel import ProgressPanel
from desktop_search.gui.results_view import ResultsView
from desktop_search.gui.search_bar import ALL, SearchBar, is_open_key
from desktop_search.gui.search_controller import SearchAnswer
from desktop_search.gui.status_bar import StatusBar
from desktop_search.gui.window_controller import WindowController
from desktop_search.gui.workers import IndexJob, SearchRequest
from desktop_search.index.library_info import LibraryInfo
from desktop_search.paths import DataPaths
from desktop_search.settings import Settings

if TYPE_CHECKING:
    from desktop_search.search.results import SearchResult

logger = logging.getLogger(__name__)

TITLE = "Desktop Search"


class MainWindow(QMainWindow):
    # For tests and the start-up probe: emitted after the window has updated itself.
    first_exposed = Signal()
    model_ready = Signal(dict)
    results_shown = Signal(int)  # number of documents
    preview_shown = Signal()
    index_finished = Signal(object)  # IndexReport, or None after a removal or failure
    info_updated = Signal(object)  # LibraryInfo
    opened = Signal(object)  # the ViewerCommand a passage was opened with
    model_downloaded = Signal(str)  # the model's name, once it is on disk (and the user was asked)

    def __init__(self, paths: DataPaths, settings: Settings | None = None) -> None:
        super().__init__()
        self.paths = paths
        self.setWindowTitle(TITLE)
        self.setAcceptDrops(True)
        self.resize(1200, 760)
        self._exposed = False
        self.controller = WindowController(paths, settings if settings is not None else Settings.load(paths.settings), self)
        self.search_bar = SearchBar(self.settings)
        self.banner = MessageBanner()
        self.notice_bar = LanguageNoticeBar()
        self.results = ResultsView()
        self.preview = PreviewPane()
        self.progress_panel = ProgressPanel()
        self.library = LibraryPanel()
        self._build_frame()
        self._build_menus()
        self._wire_views()
        self._wire_controller()

    @property
    def settings(self) -> Settings:
        return self.controller.settings

    # -- building ----------------------------------------------------------------------

    def _build_frame(self) -> None:
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.results)
        self.splitter.addWidget(self.preview)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        central = QWidget()
        col = QVBoxLayout(central)
        for widget in (self.search_bar, self.banner, self.notice_bar):
            col.addWidget(widget)
        col.addWidget(self.splitter, 1)
        col.addWidget(self.progress_panel)
        self.setCentralWidget(central)

        self.library_dock = QDockWidget("Library", self)
        self.library_dock.setObjectName("library")
        self.library_dock.setWidget(self.library)
        self.library_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                                      | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.library_dock)
        self.resizeDocks([self.library_dock], [300], Qt.Orientation.Horizontal)

        self.status_bar = StatusBar()
        self.setStatusBar(self.status_bar)
        self.search_bar.field.setFocus()

    def _build_menus(self) -> None:
        def action(menu: Any, text: str, slot: Any, shortcut: Any = None) -> QAction:
            a = QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            a.triggered.connect(slot)
            menu.addAction(a)
            return a

        m = self.menuBar().addMenu("&File")
        action(m, "&Add folder…", self.add_folder_dialog, QKeySequence.StandardKey.Open)
        action(m, "&Update now", lambda: self.request_update(auto=False), QKeySequence.StandardKey.Refresh)
        action(m, "Re&build index…", self.rebuild)
        action(m, "&Failed files…", self.show_failed_files)
        m.addSeparator()
        action(m, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        m = self.menuBar().addMenu("&Edit")
        action(m, "&Copy passage with citation", self.preview.copy_passage, "Ctrl+Shift+C")
        self.open_action = action(m, "&Open at the passage's page", self.open_current, "Ctrl+Return")
        action(m, "&More like this", self.more_like_this, "Ctrl+M")
        action(m, "Show in &folder", self.preview.show_in_folder)
        m.addSeparator()
        action(m, "&Settings…", self.edit_settings, QKeySequence.StandardKey.Preferences)
        action(m, "&Get a multilingual model…", lambda: self.get_model(multilingual_model_name()))
        m = self.menuBar().addMenu("&View")
        m.addAction(self.library_dock.toggleViewAction())
        m = self.menuBar().addMenu("&Help")
        action(m, "&About Desktop Search", lambda: AboutDialog(self).exec())
        QShortcut(QKeySequence("Ctrl+L"), self, self.search_bar.focus_query)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self, self.search_bar.focus_query)
        QShortcut(QKeySequence("Ctrl+Enter"), self, self.open_current)  # the keypad's Enter

    def _wire_views(self) -> None:
        """What the user asks for in each view, to the window's requests."""
        bar, results, preview, library = self.search_bar, self.results, self.preview, self.library
        bar.search_requested.connect(self.run_search)
        bar.filters_changed.connect(self._on_filters_changed)
        bar.results_wanted.connect(results.enter)
        bar.open_requested.connect(self.open_current)
        results.current_changed.connect(self.controller.search.fetch_context)
        results.open_requested.connect(self.open_current)
        results.back_requested.connect(bar.focus_query)
        results.copy_requested.connect(preview.copy_passage)
        preview.message.connect(lambda m: self.statusBar().showMessage(m, 5000))
        preview.open_requested.connect(self.open_current)
        preview.similar_requested.connect(self.more_like_this)
        self.notice_bar.get_requested.connect(self.get_model)
        library.add_requested.connect(self.add_folder_dialog)
        library.remove_requested.connect(self.remove_folder)
        library.update_requested.connect(lambda: self.request_update(auto=False))
        library.rebuild_requested.connect(self.rebuild)
        library.failed_requested.connect(self.show_failed_files)
        library.patterns_changed.connect(self.set_patterns)
        library.counts_wanted.connect(self.controller.search.count_patterns)

    def _wire_controller(self) -> None:
        """The controller's reports, to the views that show them."""
        c, search, index, panel = self.controller, self.controller.search, self.controller.index, self.progress_panel
        c.status.connect(self.statusBar().showMessage)
        c.message.connect(self.show_message)
        c.info_ready.connect(self._show_info)
        c.settings_changed.connect(lambda s: self.search_bar.set_search_as_you_type(s.search_as_you_type))
        c.opened.connect(self.opened)
        search.searching.connect(self._on_searching)
        search.answered.connect(self._show_answer)
        search.context.connect(self._show_context)
        search.model_ready.connect(self.status_bar.show_model)
        search.model_ready.connect(self.model_ready)
        search.model_loading.connect(self.status_bar.show_model_loading)
        search.failed.connect(self._on_search_failed)
        search.notice.connect(self.notice_bar.show_notice)
        search.pattern_counts.connect(self.library.show_pattern_counts)
        panel.pause_toggled.connect(index.set_paused)
        panel.cancel_clicked.connect(index.cancel)
        index.paused_changed.connect(panel.set_paused)
        index.cancelling.connect(panel.stopping)
        index.progress.connect(panel.show_progress)
        index.started.connect(self._on_job_started)
        index.finished.connect(self._on_job_finished)
        c.download_worker.progress.connect(self.notice_bar.set_busy)
        c.download_worker.finished.connect(self._on_model_downloaded)
        c.download_worker.failed.connect(self._on_download_failed)

    # -- start-up: background work waits for the window ---------------------------------

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        handle = self.windowHandle()
        if not self._exposed and handle is not None:
            handle.installEventFilter(self)
            # Should the platform never report an exposure, start anyway.
            QTimer.singleShot(1500, self.controller.start)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Expose and obj is self.windowHandle() and not self._exposed:
            if obj.isExposed():
                self._exposed = True
                logger.info("Window first exposed")
                self.first_exposed.emit()
                # Let this first frame reach the screen before anything heavy starts.
                QTimer.singleShot(0, self.controller.start)
        elif event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent) and is_open_key(event):
            self.open_current()  # wherever the focus is, the selected result is what opens
            return True
        return super().eventFilter(obj, event)

    # -- searching ------------------------------------------------------------------------

    def run_search(self) -> None:
        query = self.search_bar.take_query()
        if query:
            self.controller.search.search(query, *self.search_bar.filters())

    def more_like_this(self) -> None:
        """Passages near the selected one's vector (the passage itself left out)."""
        result = self.current_result()
        if result is not None:
            self.controller.search.similar(result, *self.search_bar.filters())

    def _on_searching(self, request: SearchRequest, model_loading: bool) -> None:
        self.search_bar.show_searching(request.query if request.similar_to is not None else "")
        if model_loading and request.similar_to is None:
            self.results.show_placeholder("Searching… (keyword matches first: the model is still loading)")
        self.statusBar().showMessage("Searching…")

    def _show_answer(self, answer: SearchAnswer) -> None:
        self.search_bar.show_done()
        self.preview.clear()
        self.results.show_documents(answer.documents, answer.terms)
        if not answer.documents:
            self.results.show_placeholder(self.controller.no_results_text(answer.request))
        how = " by keyword (the model is still loading; its ranking follows)" if answer.keyword_only else ""
        self.statusBar().showMessage(
            f"{len(answer.documents)} documents for “{answer.request.query}”{how} in {answer.seconds:.2f} s", 10000)
        self.results_shown.emit(len(answer.documents))

    def _show_context(self, result: SearchResult, rows: list[dict[str, Any]], terms: list[str]) -> None:
        self.preview.show_result(result, rows, terms)
        self.preview_shown.emit()

    def _on_search_failed(self, message: str) -> None:
        self.search_bar.show_done()
        if self.results.showing_placeholder():
            self.results.show_placeholder("The search could not run; see the message above.")
        self.show_message(message)

    def current_result(self) -> SearchResult | None:
        return self.results.current_result()

    def expanded(self, row: int) -> bool:
        return self.results.expanded(row)

    def set_expanded(self, row: int, expanded: bool) -> None:
        """Show or hide the further passages of the document at ``row``."""
        self.results.set_expanded(row, expanded)

    def open_current(self) -> None:
        """Open the selected passage in the user's viewer, at its page or chapter where the viewer can."""
        self.controller.open_passage(self.current_result())

    def set_filters(self, folder: str = ALL, kind: str = ALL) -> None:
        """Choose the filters (as the combos would) and search again."""
        self.search_bar.set_filters(folder, kind)

    def _on_filters_changed(self) -> None:
        self.controller.set_filters(*self.search_bar.filters())
        if self.search_bar.query():
            self.run_search()

    # -- library and indexing -----------------------------------------------------------

    def add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the library", str(Path.home()))
        if folder:
            self.add_folders([folder])

    def add_folders(self, folders: list[str]) -> None:
        self.controller.add_folders(folders)

    def edit_patterns(self, folder: str) -> None:
        self.library.edit_patterns(folder)

    def set_patterns(self, folder: str, include: list[str], exclude: list[str]) -> None:
        self.controller.set_patterns(folder, include, exclude)

    def _ask(self, title: str, text: str) -> bool:
        """Yes or no, before a job that cannot be taken back."""
        return QMessageBox.question(self, title, text) == QMessageBox.StandardButton.Yes

    def remove_folder(self, folder: str) -> None:
        if self._ask("Remove folder", f"Take {folder} out of the library?\n\n"
                     "Its documents leave the index; the files themselves are not touched."):
            self.controller.remove_folder(folder)

    def rebuild(self) -> None:
        if self._ask("Rebuild the index", "Read and embed every document again? "
                     "This takes as long as the first indexing did."):
            self.controller.rebuild()

    def request_update(self, auto: bool = False) -> None:
        self.controller.request_update(auto)

    def cancel_indexing(self) -> None:
        self.controller.index.cancel()

    def set_paused(self, paused: bool) -> None:
        self.controller.index.set_paused(paused)

    @property
    def indexing(self) -> bool:
        return self.controller.indexing

    def _on_job_started(self, _job: IndexJob, auto: bool) -> None:
        self.library.set_indexing(True)
        self.progress_panel.start(visible=not auto)

    def _on_job_finished(self, outcome: JobOutcome) -> None:
        self.progress_panel.hide()
        self.library.set_indexing(self.controller.indexing)
        self.index_finished.emit(outcome.report)

    def _show_info(self, info: LibraryInfo) -> None:
        self.library.set_folders(info.folders)
        self.search_bar.set_folders([f.path for f in info.folders])
        self.status_bar.show_info(info)
        self.info_updated.emit(info)

    def show_failed_files(self) -> None:
        info = self.controller.info
        FailedFilesDialog(list(info.failed), list(info.warnings), self).exec()

    # -- drag and drop ----------------------------------------------------------------

    @staticmethod
    def _dropped_folders(event: QDragEnterEvent | QDropEvent) -> list[str]:
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and os.path.isdir(u.toLocalFile())]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if self._dropped_folders(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        folders = self._dropped_folders(event)
        if folders:
            event.acceptProposedAction()
            self.add_folders(folders)

    # -- settings, models, messages, closing -------------------------------------------------

    def edit_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self, suggested_model=multilingual_model_name())
        dialog.get_model_requested.connect(self.get_model)
        if dialog.exec():
            self.apply_settings(dialog.settings())

    def apply_settings(self, settings: Settings) -> None:
        self.controller.apply_settings(settings)

    def get_model(self, name: str) -> None:
        """Download catalogue model ``name`` in the background (from the notice or the Edit menu)."""
        if self.controller.download_model(name):
            self.notice_bar.set_busy(0, 0)
            self.notice_bar.show()
            self.statusBar().showMessage(f"Downloading {name}…")

    def _on_model_downloaded(self, name: str, folder: str) -> None:
        self.notice_bar.set_idle()
        self.statusBar().showMessage(f"{name} downloaded and verified.", 5000)
        rebuild = self._ask("Rebuild with the new model", f"{name} is ready. Rebuild the index with it now?\n\n"
                            "Every document is read and embedded again; this takes as long as the first indexing did.")
        self.controller.adopt_model(name, folder, rebuild)
        if rebuild:
            self.notice_bar.hide()
        self.model_downloaded.emit(name)

    def _on_download_failed(self, message: str) -> None:
        self.notice_bar.set_idle()
        self.show_message(message)

    def show_message(self, text: str) -> None:
        """Show ``text`` in the message banner, under the last few messages still shown."""
        self.banner.show_message(text)

    def banner_text(self) -> str:
        return self.banner.text()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop timers and workers; what the indexer committed is kept."""
        self.search_bar.cancel_pending()
        self.controller.shutdown()
