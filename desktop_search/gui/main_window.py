"""The main window: search field, filters, result cards, preview, library, indexing progress.

A view: the index controller (:mod:`desktop_search.gui.controller`) runs and
queues indexing jobs, the search worker answers queries, and the window only
sends them requests and renders what they send back. The workers start after
the window is first exposed, so the window never waits for the model,
SQLAlchemy or torch.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QFileSystemWatcher, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_search.embed.models import multilingual_model_name
from desktop_search.gui.banner import MessageBanner
from desktop_search.gui.controller import IndexController, JobOutcome
from desktop_search.gui.dialogs import AboutDialog, SettingsDialog
from desktop_search.gui.language_notice import LanguageNoticeBar, ModelDownloadWorker
from desktop_search.gui.library import FailedFilesDialog, LibraryPanel, PatternsDialog
from desktop_search.gui.preview import PreviewPane
from desktop_search.gui.progress_panel import ProgressPanel
from desktop_search.gui.results import (
    DOC_ROLE,
    HTML_ROLE,
    MORE_ROLE,
    RESULT_ROLE,
    CardDelegate,
    card_html,
    passage_html,
)
from desktop_search.gui.viewer import Passage, launch, viewer_command
from desktop_search.gui.workers import (
    IndexJob,
    IndexWorker,
    JobKind,
    LatestRequest,
    RunFlags,
    SearchRequest,
    SearchWorker,
    start_thread,
    stop_thread,
)
from desktop_search.index.library_info import LibraryInfo
from desktop_search.index.progress import Phase, Progress
from desktop_search.paths import DataPaths
from desktop_search.search.terms import highlight_terms
from desktop_search.settings import Settings

logger = logging.getLogger(__name__)

TITLE = "Desktop Search"
TYPE_PAUSE_MS = 350  # search-as-you-type waits for this pause in typing
WATCH_SETTLE_MS = 2000  # let a copy into a watched folder finish before rescanning
RESCAN_INTERVAL_MS = 60_000  # the safety net for changes the watcher missed
INFO_INTERVAL_S = 2.0  # status bar counts refresh at most this often while indexing
ALL = ""  # the filter combos' "everything" entry
KINDS = (("All types", ALL), ("PDF", "pdf"), ("EPUB", "epub"))



def _label(text: str, buddy: QWidget) -> QLabel:
    """A label whose mnemonic focuses ``buddy``."""
    label = QLabel(text)
    label.setBuddy(buddy)
    return label

class MainWindow(QMainWindow):
    # For tests and the start-up probe: emitted after the window has updated itself.
    first_exposed = Signal()
    model_ready = Signal(dict)
    results_shown = Signal(int)  # number of documents
    preview_shown = Signal()
    index_finished = Signal(object)  # IndexReport, or None after a removal or failure
    info_updated = Signal(object)  # LibraryInfo
    opened = Signal(object)  # the ViewerCommand a passage was opened with

    # Requests to the search worker (queued: it lives on its own thread).
    _search_request = Signal(object)
    _context_request = Signal(int, object)
    _info_request = Signal(bool)
    _load_request = Signal()
    _reopen_request = Signal()
    _release_request = Signal()
    _search_settings = Signal(object)
    _count_request = Signal(str, list, list)
    _download_request = Signal(str)
    model_downloaded = Signal(str)  # the model's name, once it is on disk (and the user was asked)

    def __init__(self, paths: DataPaths, settings: Settings | None = None) -> None:
        super().__init__()
        self.paths = paths
        self.settings = settings if settings is not None else Settings.load(paths.settings)
        self.setWindowTitle(TITLE)
        self.setAcceptDrops(True)
        self.resize(1200, 760)

        self._latest = LatestRequest()  # the newest search; the worker skips older ones
        self._search_id = 0
        self._context_id = 0
        self._terms: list[str] = []  # the shown query's words, for highlighting
        self._search_started = 0.0
        self._model_info: dict[str, Any] | None = None  # None until the query model has loaded
        self._info = LibraryInfo()  # the library as last read
        self._last_info = 0.0  # when the counts were last refreshed during a run
        self._exposed = False
        self._background_started = False
        self._closed = False
        self._warned_no_page: set[str] = set()  # viewers already reported as not taking a page
        self.patterns_dialog: PatternsDialog | None = None  # while one is open
        self._downloading = False

        self._build_ui()
        self._build_menus()
        self._start_workers()

        self._type_timer = QTimer(self, singleShot=True, interval=TYPE_PAUSE_MS)
        self._type_timer.timeout.connect(self.run_search)
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._on_directory_changed)
        self._watch_timer = QTimer(self, singleShot=True, interval=WATCH_SETTLE_MS)
        self._watch_timer.timeout.connect(lambda: self.request_update(auto=True))
        self.rescan_timer = QTimer(self, interval=RESCAN_INTERVAL_MS)
        self.rescan_timer.timeout.connect(lambda: self.request_update(auto=True))

    # -- building ----------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.search_field = QLineEdit()
        self.search_field.setPlaceholderText("Ask a question or type keywords, then press Enter")
        self.search_field.setClearButtonEnabled(True)
        self.search_field.returnPressed.connect(self.run_search)
        self.search_field.textChanged.connect(self._on_text_changed)
        self.search_field.installEventFilter(self)
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.run_search)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(90)
        self.busy.setTextVisible(False)
        self.busy.hide()
        top = QHBoxLayout()
        top.addWidget(self.search_field, 1)
        top.addWidget(self.busy)
        top.addWidget(self.search_button)

        # Filters: a folder of the library and a file type, kept in the settings.
        self.folder_filter = QComboBox()
        self.folder_filter.setToolTip("Only results from this library folder")
        self.folder_filter.setMinimumContentsLength(24)
        self.folder_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.kind_filter = QComboBox()
        self.kind_filter.setToolTip("Only results of this file type")
        for text, kind in KINDS:
            self.kind_filter.addItem(text, kind)
        kinds = self.settings.filter_kinds
        self.kind_filter.setCurrentIndex(max(0, self.kind_filter.findData(kinds[0] if len(kinds) == 1 else ALL)))
        self._fill_folder_filter([])
        self.folder_filter.activated.connect(self._on_filter_changed)
        self.kind_filter.activated.connect(self._on_filter_changed)
        filters = QHBoxLayout()
        filters.addWidget(_label("&Folder:", buddy=self.folder_filter))
        filters.addWidget(self.folder_filter, 1)
        filters.addWidget(_label("&Type:", buddy=self.kind_filter))
        filters.addWidget(self.kind_filter)
        self.similar_label = QLabel()
        filters.addWidget(self.similar_label)
        filters.addStretch(1)

        self.banner = MessageBanner()

        self.results = QListWidget()
        self.card_delegate = CardDelegate(self.results)
        self.card_delegate.more_clicked.connect(self._toggle_row)
        self.results.setItemDelegate(self.card_delegate)
        self.results.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.results.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.results.setWordWrap(True)
        self.results.setUniformItemSizes(False)
        self.results.currentItemChanged.connect(self._on_current_changed)
        self.results.itemDoubleClicked.connect(lambda _item: self.open_current())
        self.results.installEventFilter(self)
        self.placeholder = QLabel("Type a question and press Enter.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.results_stack = QStackedWidget()
        self.results_stack.addWidget(self.placeholder)
        self.results_stack.addWidget(self.results)

        self.preview = PreviewPane()
        self.preview.message.connect(lambda m: self.statusBar().showMessage(m, 5000))
        self.preview.open_requested.connect(self.open_current)
        self.preview.similar_requested.connect(self.more_like_this)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.results_stack)
        self.splitter.addWidget(self.preview)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)

        self.progress_panel = ProgressPanel()

        central = QWidget()
        col = QVBoxLayout(central)
        col.addLayout(top)
        col.addLayout(filters)
        col.addWidget(self.banner)
        self.notice_bar = LanguageNoticeBar()
        self.notice_bar.get_requested.connect(self.get_model)
        col.addWidget(self.notice_bar)
        col.addWidget(self.splitter, 1)
        col.addWidget(self.progress_panel)
        self.setCentralWidget(central)

        self.library = LibraryPanel()
        self.library.add_requested.connect(self.add_folder_dialog)
        self.library.remove_requested.connect(self.remove_folder)
        self.library.update_requested.connect(lambda: self.request_update(auto=False))
        self.library.rebuild_requested.connect(self.rebuild)
        self.library.failed_requested.connect(self.show_failed_files)
        self.library.patterns_requested.connect(self.edit_patterns)
        self.library_dock = QDockWidget("Library", self)
        self.library_dock.setObjectName("library")
        self.library_dock.setWidget(self.library)
        self.library_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                                      | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.library_dock)
        self.resizeDocks([self.library_dock], [300], Qt.Orientation.Horizontal)

        self.counts_label = QLabel("No documents yet")
        self.model_label = QLabel("Model: not loaded")
        self.device_label = QLabel("Device: –")
        bar = self.statusBar()
        for w in (self.counts_label, self.model_label, self.device_label):
            bar.addPermanentWidget(w)
        self.search_field.setFocus()

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
        QShortcut(QKeySequence("Ctrl+L"), self, self._focus_search)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self, self._focus_search)
        QShortcut(QKeySequence("Ctrl+Enter"), self, self.open_current)  # the keypad's Enter

    def _start_workers(self) -> None:
        self.index_flags = RunFlags()
        self.index_worker = IndexWorker(self.paths, self.settings, self.index_flags)
        self.controller = IndexController(self.index_worker, self.index_flags, self)
        self.index_thread = self.controller.worker_thread
        self.search_worker = SearchWorker(self.paths, self.settings, self._latest)
        self.search_thread = start_thread(self.search_worker, "desktop-search-search")
        c, sw = self.controller, self.search_worker
        c.started.connect(self._on_job_started)
        c.progress.connect(self._on_progress)
        c.finished.connect(self._on_job_finished)
        c.queued.connect(lambda _job: self.statusBar().showMessage(
            "Queued until the current indexing run finishes", 5000))
        c.paused_changed.connect(self.progress_panel.set_paused)
        c.cancelling.connect(self.progress_panel.stopping)
        c.release_requested.connect(sw.release)
        sw.released.connect(c.on_released)
        c.reopen_requested.connect(sw.reopen)
        self.progress_panel.pause_toggled.connect(c.set_paused)
        self.progress_panel.cancel_clicked.connect(c.cancel)
        self._search_request.connect(sw.search)
        self._context_request.connect(sw.fetch_context)
        self._info_request.connect(sw.refresh_info)
        self._load_request.connect(sw.load)
        self._reopen_request.connect(sw.reopen)
        self._search_settings.connect(sw.set_settings)
        self._count_request.connect(sw.count_patterns)
        sw.ready.connect(self._on_model_ready)
        sw.results.connect(self._on_results)
        sw.context.connect(self._on_context)
        sw.info.connect(self._on_info)
        sw.failed.connect(self._on_search_failed)
        sw.notice.connect(self.notice_bar.show_notice)
        self.download_worker = ModelDownloadWorker(self.paths.root)
        self.download_thread = start_thread(self.download_worker, "desktop-search-download")
        self._download_request.connect(self.download_worker.run)
        self.download_worker.progress.connect(self.notice_bar.set_busy)
        self.download_worker.finished.connect(self._on_model_downloaded)
        self.download_worker.failed.connect(self._on_download_failed)

    # -- start-up: background work waits for the window ---------------------------------

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        handle = self.windowHandle()
        if not self._exposed and handle is not None:
            handle.installEventFilter(self)
            # Should the platform never report an exposure, start anyway.
            QTimer.singleShot(1500, self._start_background)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Expose and obj is self.windowHandle() and not self._exposed:
            if obj.isExposed():
                self._exposed = True
                logger.info("Window first exposed")
                self.first_exposed.emit()
                # Let this first frame reach the screen before anything heavy starts.
                QTimer.singleShot(0, self._start_background)
        elif event.type() == QEvent.Type.KeyPress:
            return self._on_key(obj, event)
        return super().eventFilter(obj, event)

    def _start_background(self) -> None:
        if self._background_started or self._closed:
            return
        self._background_started = True
        self._info_request.emit(True)  # the library's counts first: they need no model
        self._load_request.emit()
        self.rescan_timer.start()

    # -- searching ------------------------------------------------------------------------

    def _on_text_changed(self, text: str) -> None:
        if self.settings.search_as_you_type and text.strip():
            self._type_timer.start()

    def _filters(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        folder, kind = self.folder_filter.currentData(), self.kind_filter.currentData()
        return ((folder,) if folder else ()), ((kind,) if kind else ())

    def run_search(self) -> None:
        self._type_timer.stop()
        query = self.search_field.text().strip()
        if not query:
            return
        self._terms = highlight_terms(query)
        self._send(query, None)

    def more_like_this(self) -> None:
        """Passages near the selected one's vector (the passage itself left out)."""
        result = self.current_result()
        if result is None:
            return
        self._terms = []
        self._send(f"more like {result.location} of {os.path.basename(result.path)}", result.chunk_id)

    def _send(self, query: str, similar_to: int | None) -> None:
        self._search_id = self._latest.next()
        folders, kinds = self._filters()
        self._search_started = time.monotonic()
        self.similar_label.setText(f"· {query}" if similar_to is not None else "")
        self.busy.show()
        if self._model_info is None and similar_to is None:
            self._show_placeholder("Searching… (the model is still loading; this happens once)")
        self.statusBar().showMessage("Searching…")
        self._search_request.emit(SearchRequest(
            id=self._search_id, query=query, top_k=self.settings.top_k, mode=self.settings.search_mode,
            folders=folders, kinds=kinds, similar_to=similar_to))

    def _on_results(self, request: SearchRequest, documents: list[Any]) -> None:
        if request.id != self._search_id:
            return
        self.busy.hide()
        elapsed = time.monotonic() - self._search_started
        self.results.clear()
        self.preview.clear()
        muted = self.palette().color(self.palette().ColorRole.PlaceholderText).name()
        for d in documents:
            more = len(d.passages) - 1
            for n, r in enumerate(d.passages):
                item = QListWidgetItem()
                item.setData(RESULT_ROLE, r)
                item.setData(DOC_ROLE, d.rank)
                if n == 0:
                    item.setData(MORE_ROLE, more)
                    item.setData(HTML_ROLE, card_html(r, self._terms, muted, more))
                else:
                    item.setData(HTML_ROLE, passage_html(r, self._terms, muted))
                item.setToolTip(f"{r.path}\n{r.location}")
                self.results.addItem(item)
                item.setHidden(n > 0)  # further passages: one click or → away
        if documents:
            self.results_stack.setCurrentWidget(self.results)
            self.results.setCurrentRow(0)
        elif not self._info.folders:
            self._show_placeholder("Nothing is indexed yet. Add a folder in the Library panel, or drop one here.")
        elif request.similar_to is not None:
            self._show_placeholder("No other passages are near this one.")
        else:
            self._show_placeholder(f"No passages found for “{request.query}”.")
        self.statusBar().showMessage(f"{len(documents)} documents for “{request.query}” in {elapsed:.2f} s", 10000)
        logger.info("%d documents in %.2f s", len(documents), elapsed)
        self.results_shown.emit(len(documents))

    # -- the cards: a document's card, and its further passages under it -------------------

    def _card_row(self, row: int) -> int:
        """The row of the card that ``row`` belongs to."""
        doc = self.results.item(row).data(DOC_ROLE)
        while row > 0 and self.results.item(row - 1).data(DOC_ROLE) == doc:
            row -= 1
        return row

    def expanded(self, row: int) -> bool:
        card = self._card_row(row)
        nxt = self.results.item(card + 1)
        return nxt is not None and nxt.data(DOC_ROLE) == self.results.item(card).data(DOC_ROLE) and not nxt.isHidden()

    def set_expanded(self, row: int, expanded: bool) -> None:
        """Show or hide the further passages of the document at ``row``."""
        card = self._card_row(row)
        item = self.results.item(card)
        more = item.data(MORE_ROLE) or 0
        if not more:
            return
        muted = self.palette().color(self.palette().ColorRole.PlaceholderText).name()
        item.setData(HTML_ROLE, card_html(item.data(RESULT_ROLE), self._terms, muted, more, expanded))
        for i in range(card + 1, card + 1 + more):
            self.results.item(i).setHidden(not expanded)
        if not expanded and self.results.currentRow() > card:
            self.results.setCurrentRow(card)

    def _toggle_row(self, row: int) -> None:
        self.set_expanded(row, not self.expanded(row))

    def _show_placeholder(self, text: str) -> None:
        self.placeholder.setText(text)
        self.results_stack.setCurrentWidget(self.placeholder)

    def _on_current_changed(self, current: QListWidgetItem | None, _previous: Any) -> None:
        if current is None:
            return
        self._context_id += 1
        self._context_request.emit(self._context_id, current.data(RESULT_ROLE))

    def _on_context(self, request: int, result: Any, rows: list[dict[str, Any]]) -> None:
        if request != self._context_id:
            return
        self.preview.show_result(result, rows, self._terms)
        self.preview_shown.emit()

    def current_result(self) -> Any:
        item = self.results.currentItem()
        return item.data(RESULT_ROLE) if item is not None else None

    def open_current(self) -> None:
        """Open the selected passage in the user's viewer, at its page or chapter where the viewer can."""
        r = self.current_result()
        if r is None:
            return
        command = viewer_command(Passage(r.path, r.page, r.page_label, r.section), self.settings.viewer)
        if not launch(command):
            self.show_message(f"Could not start {command.argv[0]} to open {r.path}.")
            return
        if not command.at_page and (r.page is not None or r.section) and command.viewer not in self._warned_no_page:
            self._warned_no_page.add(command.viewer)
            name = os.path.basename(r.path)
            if command.template:
                hint = "The viewer command has no %p for the page." if r.page is not None else \
                    "A viewer command can pass a page (%p), not an EPUB chapter."
            else:
                hint = "Set a viewer command with %f (file) and %p (page) in Settings."
            self.show_message(f"{command.viewer} cannot be told where to open, so {name} opens at its start "
                              f"(the passage is on {r.location}). {hint}")
        self.statusBar().showMessage(f"Opened {os.path.basename(r.path)} ({r.location})", 5000)
        self.opened.emit(command)

    def _focus_search(self) -> None:
        self.search_field.setFocus()
        self.search_field.selectAll()

    def _on_key(self, obj: QObject, event: Any) -> bool:
        """Down from the field goes to the results; Escape from the results goes back;
        → and ← show and hide a card's further passages; Ctrl+Return opens at the page."""
        key = event.key()
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and ctrl:
            self.open_current()  # from the field too: the selected result is what opens
            return True
        if obj is self.search_field and key == Qt.Key.Key_Down and self.results.count():
            self.results.setFocus()
            if self.results.currentRow() < 0:
                self.results.setCurrentRow(0)
            return True
        if obj is not self.results:
            return False
        if key == Qt.Key.Key_Escape:
            self._focus_search()
            return True
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.open_current()
            return True
        if key in (Qt.Key.Key_Right, Qt.Key.Key_Left) and self.results.currentRow() >= 0:
            self.set_expanded(self.results.currentRow(), key == Qt.Key.Key_Right)
            return True
        if event.matches(QKeySequence.StandardKey.Copy):
            self.preview.copy_passage()
            return True
        return False

    def _on_model_ready(self, info: dict[str, Any]) -> None:
        self._model_info = info
        self.model_label.setText(f"Model: {Path(info['model']).name}")
        self.model_label.setToolTip(info["model"])
        self.device_label.setText(f"Device: {info['device']}")
        self.model_ready.emit(info)

    def _on_search_failed(self, message: str) -> None:
        self.busy.hide()
        if self.results_stack.currentWidget() is self.placeholder:
            self._show_placeholder("The search could not run; see the message above.")
        self.show_message(message)

    # -- filters ----------------------------------------------------------------------

    def _fill_folder_filter(self, folders: list[str]) -> None:
        """The library's folders, the saved choice selected (kept even while the library loads)."""
        wanted = self.folder_filter.currentData() if self.folder_filter.count() else (
            self.settings.filter_folders[0] if self.settings.filter_folders else ALL)
        self.folder_filter.clear()
        self.folder_filter.addItem("All folders", ALL)
        for f in sorted(set(folders) | ({wanted} - {ALL})):
            self.folder_filter.addItem(f, f)
        self.folder_filter.setCurrentIndex(max(0, self.folder_filter.findData(wanted)))

    def set_filters(self, folder: str = ALL, kind: str = ALL) -> None:
        """Choose the filters (as the combos would) and search again."""
        if folder and self.folder_filter.findData(folder) < 0:
            self.folder_filter.addItem(folder, folder)
        self.folder_filter.setCurrentIndex(max(0, self.folder_filter.findData(folder)))
        self.kind_filter.setCurrentIndex(max(0, self.kind_filter.findData(kind)))
        self._on_filter_changed()

    def _on_filter_changed(self, *_args: Any) -> None:
        folders, kinds = self._filters()
        # A new Settings object: the workers hold the old one, and are never written into.
        self.settings = replace(self.settings, filter_folders=list(folders), filter_kinds=list(kinds))
        self._save_settings()
        if self.search_field.text().strip():
            self.run_search()

    # -- library and indexing -----------------------------------------------------------

    def add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the library", str(Path.home()))
        if folder:
            self.add_folders([folder])

    def add_folders(self, folders: list[str]) -> None:
        folders = [os.path.abspath(f) for f in folders if os.path.isdir(f)]
        if folders:
            self.controller.submit(IndexJob(JobKind.UPDATE, add=folders))

    def edit_patterns(self, folder: str) -> None:
        info = self.library.folder_info(folder)
        if info is None:
            return
        dialog = PatternsDialog(info, self)
        dialog.counts_wanted.connect(self._count_request)
        self.search_worker.pattern_counts.connect(dialog.show_counts)
        self.patterns_dialog = dialog  # for tests
        dialog.start()
        try:
            if dialog.exec():
                self.set_patterns(folder, *dialog.patterns())
        finally:
            self.search_worker.pattern_counts.disconnect(dialog.show_counts)
            self.patterns_dialog = None

    def set_patterns(self, folder: str, include: list[str], exclude: list[str]) -> None:
        """New include/exclude patterns for a folder: saved by an update run, which applies them."""
        self.controller.submit(IndexJob(JobKind.UPDATE, add=[folder], include=include, exclude=exclude))

    def remove_folder(self, folder: str) -> None:
        answer = QMessageBox.question(
            self, "Remove folder",
            f"Take {folder} out of the library?\n\nIts documents leave the index; the files themselves are not touched.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.controller.submit(IndexJob(JobKind.REMOVE, remove=folder))

    def rebuild(self) -> None:
        answer = QMessageBox.question(
            self, "Rebuild the index",
            "Read and embed every document again? This takes as long as the first indexing did.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.controller.submit(IndexJob(JobKind.REBUILD))

    def request_update(self, auto: bool = False) -> None:
        """Update now; automatic requests (watcher, timer) skip an empty library."""
        if auto and not self._info.folders:
            return
        self.controller.submit(IndexJob(JobKind.UPDATE), auto=auto)

    def cancel_indexing(self) -> None:
        self.controller.cancel()

    def set_paused(self, paused: bool) -> None:
        self.controller.set_paused(paused)

    @property
    def indexing(self) -> bool:
        return self.controller.busy

    def _on_job_started(self, _job: IndexJob, auto: bool) -> None:
        self.library.set_indexing(True)
        self.progress_panel.start(visible=not auto)

    def _on_progress(self, p: Progress) -> None:
        self.progress_panel.show_progress(p)
        if p.phase == Phase.INDEXING:
            now = time.monotonic()
            if now - self._last_info >= INFO_INTERVAL_S:
                self._last_info = now
                self._info_request.emit(False)  # counts grow as batches commit; search sees them too

    def _on_job_finished(self, outcome: JobOutcome) -> None:
        report = outcome.report
        if outcome.error is not None:
            if outcome.auto:
                self.statusBar().showMessage(outcome.error, 15000)
            else:
                self.show_message(outcome.error)
        elif report is not None:
            parts = [f"{report.added} new", f"{report.updated} changed", f"{report.deleted} removed"]
            if report.moved:
                parts.append(f"{report.moved} moved")
            summary = f"Indexed: {', '.join(parts)}; {len(report.failed)} failed; {report.chunks} passages"
            if report.cancelled:
                summary = "Indexing stopped: " + summary + ". Update again to finish."
            if not outcome.auto or report.added or report.updated or report.deleted or report.moved or report.failed:
                self.statusBar().showMessage(summary, 15000)
        self.progress_panel.hide()
        self.library.set_indexing(self.controller.busy)
        self._info_request.emit(True)
        self.index_finished.emit(report)

    def _on_info(self, info: LibraryInfo, dirs: list[str] | None) -> None:
        self._info = info
        self.library.set_folders(info.folders)
        self._fill_folder_filter([f.path for f in info.folders])
        text = f"{info.documents} documents · {info.chunks} passages"
        if info.embedded < info.chunks:  # keyword-searchable already; ranked by their words until embedded
            text += f" · {info.chunks - info.embedded} still being embedded"
        self.counts_label.setText(text + (f" · {len(info.failed)} failed" if info.failed else ""))
        if dirs is not None:
            self._watch(dirs)
        self.info_updated.emit(info)

    def _watch(self, dirs: list[str]) -> None:
        current = set(self.watcher.directories())
        wanted = set(dirs)
        if current - wanted:
            self.watcher.removePaths(sorted(current - wanted))
        if wanted - current:
            self.watcher.addPaths(sorted(wanted - current))

    def _on_directory_changed(self, path: str) -> None:
        logger.info("Change seen in %s", path)
        self._watch_timer.start()

    def show_failed_files(self) -> None:
        FailedFilesDialog(list(self._info.failed), list(self._info.warnings), self).exec()

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

    # -- settings, messages, closing -------------------------------------------------------

    def edit_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self, suggested_model=multilingual_model_name())
        dialog.get_model_requested.connect(self.get_model)
        if dialog.exec():
            self.apply_settings(dialog.settings())

    def _save_settings(self) -> None:
        try:
            self.settings.save(self.paths.settings)
        except OSError as exc:
            self.show_message(f"Could not save the settings: {exc}")

    def apply_settings(self, settings: Settings) -> None:
        model_changed = ((settings.model, settings.device, settings.precision)
                         != (self.settings.model, self.settings.device, self.settings.precision))
        self.settings = settings
        self._save_settings()
        self.controller.apply_settings(settings)
        self._search_settings.emit(settings)
        if model_changed:
            self._model_info = None
            self.model_label.setText("Model: loading…")
            self._reopen_request.emit()

    def get_model(self, name: str) -> None:
        """Download catalogue model ``name`` in the background (from the notice or the Edit menu)."""
        if self._downloading:
            return
        self._downloading = True
        self.notice_bar.set_busy(0, 0)
        self.notice_bar.show()
        self.statusBar().showMessage(f"Downloading {name}…")
        self._download_request.emit(name)

    def _on_model_downloaded(self, name: str, folder: str) -> None:
        self._downloading = False
        self.notice_bar.set_idle()
        self.statusBar().showMessage(f"{name} downloaded and verified.", 5000)
        settings = replace(self.settings, extra_models=[*self.settings.extra_models, folder]
                           if folder not in self.settings.extra_models else list(self.settings.extra_models))
        answer = QMessageBox.question(
            self, "Rebuild with the new model",
            f"{name} is ready. Rebuild the index with it now?\n\n"
            "Every document is read and embedded again; this takes as long as the first indexing did.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            settings.model = name
            self.apply_settings(settings)
            self.notice_bar.hide()
            self.controller.submit(IndexJob(JobKind.REBUILD))
        else:
            self.apply_settings(settings)
        self.model_downloaded.emit(name)

    def _on_download_failed(self, message: str) -> None:
        self._downloading = False
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
        if self._closed:
            return
        self._closed = True
        for t in (self._type_timer, self._watch_timer, self.rescan_timer):
            t.stop()
        if self.watcher.directories():
            self.watcher.removePaths(self.watcher.directories())
        self.controller.shutdown()
        stop_thread(self.search_thread)
        stop_thread(self.download_thread)
        self.search_worker.shutdown()
