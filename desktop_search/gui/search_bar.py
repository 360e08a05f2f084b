"""The search bar: the query field with its Search button, and the filters row under it.

A view: it says what the user asks for (search now, the filters changed,
go down to the results, open the selected passage) and shows what it is
told (a search on its way, the library's folders); it runs nothing itself.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget

from desktop_search.settings import Settings

TYPE_PAUSE_MS = 350  # search-as-you-type waits for this pause in typing
ALL = ""  # the filter combos' "everything" entry
KINDS = (("All types", ALL), ("PDF", "pdf"), ("EPUB", "epub"))


def is_open_key(event: QKeyEvent) -> bool:
    """Ctrl+Return (or the keypad's Enter): open the selected passage, wherever the focus is."""
    return (event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier))


def _label(text: str, buddy: QWidget) -> QLabel:
    """A label whose mnemonic focuses ``buddy``."""
    label = QLabel(text)
    label.setBuddy(buddy)
    return label


class SearchBar(QWidget):
    search_requested = Signal()  # Enter, the Search button, or a pause in typing
    filters_changed = Signal()  # a folder or file type was chosen
    results_wanted = Signal()  # Down from the field: on to the result cards
    open_requested = Signal()  # Ctrl+Return: open the selected passage

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search_as_you_type = settings.search_as_you_type
        self.field = QLineEdit()
        self.field.setPlaceholderText("Ask a question or type keywords, then press Enter")
        self.field.setClearButtonEnabled(True)
        self.field.returnPressed.connect(self.search_requested)
        self.field.textChanged.connect(self._on_text_changed)
        self.field.installEventFilter(self)
        self.button = QPushButton("Search")
        self.button.clicked.connect(self.search_requested)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(90)
        self.busy.setTextVisible(False)
        self.busy.hide()
        self._type_timer = QTimer(self, singleShot=True, interval=TYPE_PAUSE_MS)
        self._type_timer.timeout.connect(self.search_requested)
        top = QHBoxLayout()
        top.addWidget(self.field, 1)
        top.addWidget(self.busy)
        top.addWidget(self.button)

        # Filters: a folder of the library and a file type, kept in the settings.
        self.folder_filter = QComboBox()
        self.folder_filter.setToolTip("Only results from this library folder")
        self.folder_filter.setMinimumContentsLength(24)
        self.folder_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.kind_filter = QComboBox()
        self.kind_filter.setToolTip("Only results of this file type")
        for text, kind in KINDS:
            self.kind_filter.addItem(text, kind)
        kinds = settings.filter_kinds
        self.kind_filter.setCurrentIndex(max(0, self.kind_filter.findData(kinds[0] if len(kinds) == 1 else ALL)))
        self._fill_folders([], settings.filter_folders[0] if settings.filter_folders else ALL)
        self.folder_filter.activated.connect(self.filters_changed)
        self.kind_filter.activated.connect(self.filters_changed)
        filters = QHBoxLayout()
        filters.addWidget(_label("&Folder:", buddy=self.folder_filter))
        filters.addWidget(self.folder_filter, 1)
        filters.addWidget(_label("&Type:", buddy=self.kind_filter))
        filters.addWidget(self.kind_filter)
        self.similar_label = QLabel()
        filters.addWidget(self.similar_label)
        filters.addStretch(1)

        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addLayout(top)
        col.addLayout(filters)

    # -- the query --------------------------------------------------------------------

    def query(self) -> str:
        return self.field.text().strip()

    def take_query(self) -> str:
        """The query to run now; a search-as-you-type still waiting is dropped, as this one covers it."""
        self.cancel_pending()
        return self.query()

    def set_search_as_you_type(self, on: bool) -> None:
        self.search_as_you_type = on

    def cancel_pending(self) -> None:
        self._type_timer.stop()

    def focus_query(self) -> None:
        self.field.setFocus()
        self.field.selectAll()

    def show_searching(self, similar: str = "") -> None:
        """A search is on its way; ``similar`` names the passage a "more like this" search is near."""
        self.similar_label.setText(f"· {similar}" if similar else "")
        self.busy.show()

    def show_done(self) -> None:
        self.busy.hide()

    def _on_text_changed(self, text: str) -> None:
        if self.search_as_you_type and text.strip():
            self._type_timer.start()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if obj is self.field and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            if is_open_key(event):
                self.open_requested.emit()  # the selected result is what opens, from the field too
                return True
            if event.key() == Qt.Key.Key_Down:
                self.results_wanted.emit()
                return True
        return super().eventFilter(obj, event)

    # -- the filters --------------------------------------------------------------------

    def filters(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(folders, kinds) to search in; empty means all."""
        folder, kind = self.folder_filter.currentData(), self.kind_filter.currentData()
        return ((folder,) if folder else ()), ((kind,) if kind else ())

    def set_filters(self, folder: str = ALL, kind: str = ALL) -> None:
        """Choose the filters as the combos would (and say so, as they do)."""
        if folder and self.folder_filter.findData(folder) < 0:
            self.folder_filter.addItem(folder, folder)
        self.folder_filter.setCurrentIndex(max(0, self.folder_filter.findData(folder)))
        self.kind_filter.setCurrentIndex(max(0, self.kind_filter.findData(kind)))
        self.filters_changed.emit()

    def set_folders(self, folders: list[str]) -> None:
        """The library's folders to choose from; the chosen one stays (even while the library loads)."""
        self._fill_folders(folders, self.folder_filter.currentData())

    def _fill_folders(self, folders: list[str], wanted: str) -> None:
        self.folder_filter.clear()
        self.folder_filter.addItem("All folders", ALL)
        for f in sorted(set(folders) | ({wanted} - {ALL})):
            self.folder_filter.addItem(f, f)
        self.folder_filter.setCurrentIndex(max(0, self.folder_filter.findData(wanted)))
