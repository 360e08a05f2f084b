"""Result cards: the HTML of a passage card, and the delegate that paints it.

Cards are painted by a delegate over a plain QListWidget rather than built
from widgets, so a hundred results cost nothing and the list keeps Qt's own
keyboard navigation and selection colours (dark palettes included).
"""
from __future__ import annotations

import html
import os
import re
from typing import TYPE_CHECKING

from PySide6.QtCore import QAbstractItemModel, QEvent, QModelIndex, QPersistentModelIndex, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QAbstractTextDocumentLayout, QMouseEvent, QPainter, QPalette, QTextDocument
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

if TYPE_CHECKING:
    from desktop_search.search.results import SearchResult

RESULT_ROLE = Qt.ItemDataRole.UserRole + 1  # the SearchResult (passage) an item shows
HTML_ROLE = Qt.ItemDataRole.UserRole + 2
DOC_ROLE = Qt.ItemDataRole.UserRole + 3  # the document's rank: a card and its further passages share it
MORE_ROLE = Qt.ItemDataRole.UserRole + 4  # on a card: how many further passages it carries
SNIPPET_CHARS = 260  # about three lines in a card of ordinary width
HIGHLIGHT_STYLE = "background-color:#ffd54f;color:#000000"


def _term_pattern(terms: list[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    # Match word starts, so "protein" also marks "proteins".
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(t) for t in terms) + r")\w*", re.IGNORECASE)


def highlight_html(text: str, terms: list[str], style: str = HIGHLIGHT_STYLE) -> str:
    """Escape ``text`` for HTML and mark the query's words in it."""
    pattern = _term_pattern(terms)
    if pattern is None:
        return html.escape(text)
    out: list[str] = []
    pos = 0
    for m in pattern.finditer(text):
        out.append(html.escape(text[pos : m.start()]))
        out.append(f'<span style="{style}">{html.escape(m.group(0))}</span>')
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def snippet(text: str, terms: list[str], width: int = SNIPPET_CHARS) -> str:
    """About ``width`` characters of ``text`` around the first query word, on word boundaries."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    pattern = _term_pattern(terms)
    m = pattern.search(text) if pattern else None
    start = 0 if m is None else max(0, m.start() - width // 4)
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 20 else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + width // 2 else end
    return ("… " if start else "") + text[start:end] + (" …" if end < len(text) else "")


def display_title(result: SearchResult) -> str:
    return result.title or os.path.splitext(os.path.basename(result.path))[0]


def card_html(result: SearchResult, terms: list[str], muted: str, more: int = 0, expanded: bool = False) -> str:
    """The rich text of one card: title, location and score, file and folder, the best passage,
    and a line saying how many further passages the document has (→ shows them)."""
    folder, name = os.path.split(result.path)
    more_line = ""
    if more:
        arrow, verb = ("▾", "hide") if expanded else ("▸", "show")
        plural = "s" if more > 1 else ""
        more_line = (f'<div style="color:{muted}">{arrow} {more} more passage{plural} in this document '
                     f"(click here or → / ← to {verb})</div>")
    return (
        f'<div><b>{html.escape(display_title(result))}</b>'
        f'&nbsp;&nbsp;<span style="color:{muted}">{html.escape(result.location)}'
        f'{"&nbsp;·&nbsp;read by OCR" if result.ocr else ""}'  # scanned page: the text may have misreadings
        f'&nbsp;·&nbsp;score {result.score:.3f}</span></div>'
        f'<div style="color:{muted}">{html.escape(name)} — {html.escape(folder)}</div>'
        f"<div>{highlight_html(snippet(result.text, terms), terms)}</div>"
        f"{more_line}"
    )


def passage_html(result: SearchResult, terms: list[str], muted: str) -> str:
    """A further passage of a document, under its card: where it is, and the passage."""
    return (
        f'<div style="margin-left:24px"><span style="color:{muted}">↳ {html.escape(result.location)}</span> '
        f"{highlight_html(snippet(result.text, terms, width=SNIPPET_CHARS * 2 // 3), terms)}</div>"
    )


def citation(result: SearchResult) -> str:
    """The passage with a citation, for the clipboard."""
    text = " ".join(result.text.split())
    where = result.location
    return f"“{text}”\n— {display_title(result)}, {os.path.basename(result.path)}, {where}"


class CardDelegate(QStyledItemDelegate):
    """Paints a card's HTML with the palette's colours, selection included.

    A click on the last line of a card that carries further passages emits
    ``more_clicked`` with the card's row.
    """

    PADDING = 8
    more_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc = QTextDocument()

    def editorEvent(self, event: QEvent, model: QAbstractItemModel, option: QStyleOptionViewItem,  # noqa: N802 - Qt override
                    index: QModelIndex | QPersistentModelIndex) -> bool:
        if (event.type() == QEvent.Type.MouseButtonRelease and isinstance(event, QMouseEvent)
                and index.data(MORE_ROLE)):
            line = option.fontMetrics.lineSpacing() * 1.5
            if event.position().y() >= option.rect.bottom() - self.PADDING - line:
                self.more_clicked.emit(index.row())
                return True
        return super().editorEvent(event, model, option, index)

    def _layout(self, html_text: str, width: int) -> QTextDocument:
        doc = self._doc
        doc.setDocumentMargin(0)
        doc.setHtml(html_text)
        doc.setTextWidth(max(100, width - 2 * self.PADDING))
        return doc

    def _width(self, option: QStyleOptionViewItem) -> int:
        view = self.parent()
        if isinstance(view, QWidget) and hasattr(view, "viewport"):
            return view.viewport().width()
        return option.rect.width() or 400

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:  # noqa: N802 - Qt override
        doc = self._layout(str(index.data(HTML_ROLE) or ""), self._width(option))
        return QSize(int(doc.idealWidth()) + 2 * self.PADDING, int(doc.size().height()) + 2 * self.PADDING)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        doc = self._layout(str(index.data(HTML_ROLE) or ""), opt.rect.width())
        ctx = QAbstractTextDocumentLayout.PaintContext()
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        ctx.palette.setColor(QPalette.ColorRole.Text, opt.palette.color(role))
        painter.save()
        painter.translate(opt.rect.left() + self.PADDING, opt.rect.top() + self.PADDING)
        painter.setClipRect(QRectF(0, 0, opt.rect.width() - self.PADDING, opt.rect.height()))
        doc.documentLayout().draw(painter, ctx)
        painter.restore()
        # A hairline between cards.
        painter.save()
        painter.setPen(opt.palette.color(QPalette.ColorRole.Mid))
        painter.drawLine(opt.rect.bottomLeft(), opt.rect.bottomRight())
        painter.restore()

