"""The results view: a card per document, its further passages folded under it, or a line saying why none.

A view: it renders the documents it is given (painted by
:class:`~desktop_search.gui.results.CardDelegate`), keeps the keyboard
navigation of the list, and says what the user asks for (a passage selected,
opened, copied; back to the query); it fetches and opens nothing itself.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QStackedWidget, QWidget

from desktop_search.gui.results import DOC_ROLE, HTML_ROLE, MORE_ROLE, RESULT_ROLE, CardDelegate, card_html, passage_html

if TYPE_CHECKING:
    from desktop_search.search.results import DocumentResult, SearchResult


class ResultsView(QStackedWidget):
    current_changed = Signal(object)  # the SearchResult now selected
    open_requested = Signal()  # open the selected passage in the viewer
    back_requested = Signal()  # Escape: back to the query
    copy_requested = Signal()  # the copy key: the selected passage with its citation

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._terms: list[str] = []  # the shown query's words, for highlighting
        self.cards = QListWidget()
        self.card_delegate = CardDelegate(self.cards)
        self.card_delegate.more_clicked.connect(self.toggle)
        self.cards.setItemDelegate(self.card_delegate)
        self.cards.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.cards.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.cards.setWordWrap(True)
        self.cards.setUniformItemSizes(False)
        self.cards.currentItemChanged.connect(self._on_current_changed)
        self.cards.itemDoubleClicked.connect(lambda _item: self.open_requested.emit())
        self.cards.installEventFilter(self)
        self.placeholder = QLabel("Type a question and press Enter.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.addWidget(self.placeholder)
        self.addWidget(self.cards)

    def _muted(self) -> str:
        return self.palette().color(self.palette().ColorRole.PlaceholderText).name()

    # -- what is shown ---------------------------------------------------------------------

    def show_documents(self, documents: list[DocumentResult], terms: list[str]) -> None:
        """A card per document, the first one selected; the further passages hidden under their card."""
        self._terms = terms
        self.cards.clear()
        muted = self._muted()
        for d in documents:
            more = len(d.passages) - 1
            for n, r in enumerate(d.passages):
                item = QListWidgetItem()
                item.setData(RESULT_ROLE, r)
                item.setData(DOC_ROLE, d.rank)
                if n == 0:
                    item.setData(MORE_ROLE, more)
                    item.setData(HTML_ROLE, card_html(r, terms, muted, more))
                else:
                    item.setData(HTML_ROLE, passage_html(r, terms, muted))
                item.setToolTip(f"{r.path}\n{r.location}")
                self.cards.addItem(item)
                item.setHidden(n > 0)  # further passages: one click or → away
        if documents:
            self.setCurrentWidget(self.cards)
            self.cards.setCurrentRow(0)

    def show_placeholder(self, text: str) -> None:
        self.placeholder.setText(text)
        self.setCurrentWidget(self.placeholder)

    def showing_placeholder(self) -> bool:
        return self.currentWidget() is self.placeholder

    def current_result(self) -> SearchResult | None:
        item = self.cards.currentItem()
        return item.data(RESULT_ROLE) if item is not None else None

    def enter(self) -> None:
        """Move the focus into the list, the first card selected if none is."""
        if not self.cards.count():
            return
        self.cards.setFocus()
        if self.cards.currentRow() < 0:
            self.cards.setCurrentRow(0)

    # -- a document's card, and its further passages under it ---------------------------------

    def _card_row(self, row: int) -> int:
        """The row of the card that ``row`` belongs to."""
        doc = self.cards.item(row).data(DOC_ROLE)
        while row > 0 and self.cards.item(row - 1).data(DOC_ROLE) == doc:
            row -= 1
        return row

    def expanded(self, row: int) -> bool:
        card = self._card_row(row)
        nxt = self.cards.item(card + 1)
        return nxt is not None and nxt.data(DOC_ROLE) == self.cards.item(card).data(DOC_ROLE) and not nxt.isHidden()

    def set_expanded(self, row: int, expanded: bool) -> None:
        """Show or hide the further passages of the document at ``row``."""
        card = self._card_row(row)
        item = self.cards.item(card)
        more = item.data(MORE_ROLE) or 0
        if not more:
            return
        item.setData(HTML_ROLE, card_html(item.data(RESULT_ROLE), self._terms, self._muted(), more, expanded))
        for i in range(card + 1, card + 1 + more):
            self.cards.item(i).setHidden(not expanded)
        if not expanded and self.cards.currentRow() > card:
            self.cards.setCurrentRow(card)

    def toggle(self, row: int) -> None:
        self.set_expanded(row, not self.expanded(row))

    # -- what the user does -------------------------------------------------------------------

    def _on_current_changed(self, current: QListWidgetItem | None, _previous: Any) -> None:
        if current is not None:
            self.current_changed.emit(current.data(RESULT_ROLE))

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if obj is self.cards and event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            return self._on_key(event)
        return super().eventFilter(obj, event)

    def _on_key(self, event: QKeyEvent) -> bool:
        """Escape goes back to the query; Return opens; → and ← show and hide a card's further passages."""
        key = event.key()
        if key == Qt.Key.Key_Escape:
            self.back_requested.emit()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.open_requested.emit()  # with Ctrl too: the selected passage at its page
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_Left) and self.cards.currentRow() >= 0:
            self.set_expanded(self.cards.currentRow(), key == Qt.Key.Key_Right)
        elif event.matches(QKeySequence.StandardKey.Copy):
            self.copy_requested.emit()
        else:
            return False
        return True
