"""The preview pane: the selected passage in its context, and the PDF page it is on.

The page image comes from Qt PDF (the ``PySide6-Pdf`` wheel) when it is
installed, rendered on Qt's own render thread; without it the pane says so
and shows the text alone.
"""
from __future__ import annotations

import html
import importlib.util
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QProcess, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QGuiApplication, QImage, QPainter, QPolygonF
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop_search.gui.results import citation, display_title, highlight_html
from desktop_search.ingest.chunking import strip_overlap
from desktop_search.search.terms import format_location

if TYPE_CHECKING:
    from desktop_search.search.results import SearchResult

logger = logging.getLogger(__name__)

# Qt PDF is a separate wheel, and is imported at the first PDF preview, not at start-up.
HAVE_QTPDF = importlib.util.find_spec("PySide6.QtPdf") is not None

NO_QTPDF_MESSAGE = "The page image needs Qt PDF: install the PySide6-Pdf package. The text is on the other tab."
HIT_STYLE = "background-color:rgba(255,213,79,0.22)"
PAGE_HIGHLIGHT = QColor(255, 213, 79, 110)


def context_html(result: SearchResult, rows: list[dict[str, Any]], terms: list[str]) -> str:
    """The hit with its neighbours, marked, with page or chapter changes noted."""
    parts: list[str] = []
    previous_text = ""
    where = None
    for row in rows or [{"ordinal": result.ordinal, "text": result.text, "page": result.page, "section": result.section}]:
        here = row.get("page") or row.get("section")
        if here is not None and here != where:
            label = format_location(row.get("page"), row.get("page_label"), row.get("section"))
            parts.append(f'<p style="color:gray;font-size:small">— {html.escape(label)} —</p>')
            where = here
            previous_text = ""  # chunks overlap only within a page or chapter
        text = strip_overlap(previous_text, row["text"])
        previous_text = row["text"]
        body = highlight_html(" ".join(text.split()), terms)
        if row.get("ordinal") == result.ordinal:
            parts.append(f'<p style="{HIT_STYLE}"><a name="hit"></a>{body}</p>')
        else:
            parts.append(f"<p>{body}</p>")
    return "".join(parts)


def _compact(text: str) -> tuple[str, list[int]]:
    """``text`` lower-cased without whitespace, with each kept character's original index."""
    chars, index = [], []
    for i, ch in enumerate(text):
        if not ch.isspace():
            chars.append(ch.lower())
            index.append(i)
    return "".join(chars), index


def find_passage(page_text: str, passage: str, probe: int = 60) -> tuple[int, int] | None:
    """Start and end of ``passage`` in ``page_text``, ignoring whitespace; None if absent.

    PDF text from two libraries differs in line breaks and spacing, so both
    ends are located separately from a whitespace-free probe.
    """
    hay, index = _compact(page_text)
    needle, _ = _compact(passage)
    if not hay or not needle:
        return None
    head = needle[:probe]
    start = hay.find(head)
    if start < 0:
        return None
    tail = needle[-probe:]
    end = hay.find(tail, start)
    end = end + len(tail) if end >= 0 else min(len(hay), start + len(needle))
    return index[start], index[end - 1] + 1


def show_in_folder(path: str) -> bool:
    """Reveal the file in the platform's file manager, selecting it where possible."""
    if sys.platform == "darwin":
        return QProcess.startDetached("open", ["-R", path])[0]
    if os.name == "nt":
        return QProcess.startDetached("explorer", ["/select,", os.path.normpath(path)])[0]
    try:
        from PySide6.QtDBus import QDBusConnection, QDBusInterface

        iface = QDBusInterface("org.freedesktop.FileManager1", "/org/freedesktop/FileManager1",
                               "org.freedesktop.FileManager1", QDBusConnection.sessionBus())
        if iface.isValid():
            reply = iface.call("ShowItems", [QUrl.fromLocalFile(path).toString()], "")
            if not reply.errorName():
                return True
    except ImportError:  # pragma: no cover - QtDBus is part of Essentials on Linux
        pass
    return QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(path)))


class PdfPage(QObject):
    """Renders one PDF page off the GUI thread and marks the passage on it."""

    rendered = Signal(QImage)

    def __init__(self, parent: QObject | None = None) -> None:
        from PySide6.QtPdf import QPdfDocument, QPdfPageRenderer

        super().__init__(parent)
        self.document = QPdfDocument(self)
        self.renderer = QPdfPageRenderer(self)
        self.renderer.setRenderMode(QPdfPageRenderer.RenderMode.MultiThreaded)
        self.renderer.setDocument(self.document)
        self.renderer.pageRendered.connect(self._on_rendered)
        self._path: str | None = None
        self._request: int | None = None
        self._passage = ""
        self.page_index = -1

    def show(self, path: str, page: int, passage: str, width_px: int) -> bool:
        """Ask for ``page`` (1-based) of ``path``; False if the file cannot be opened."""
        from PySide6.QtPdf import QPdfDocument, QPdfDocumentRenderOptions

        if path != self._path:
            self.document.close()
            self._path = path
            if self.document.load(path) != QPdfDocument.Error.None_:
                logger.info("Qt PDF cannot open %s: %s", path, self.document.error())
                self._path = None
                return False
        index = page - 1
        if not 0 <= index < self.document.pageCount():
            return False
        self.page_index, self._passage = index, passage
        points = self.document.pagePointSize(index)
        scale = width_px / max(points.width(), 1.0)
        size = QSize(int(points.width() * scale), int(points.height() * scale))
        self._request = self.renderer.requestPage(index, size, QPdfDocumentRenderOptions())
        return True

    def _on_rendered(self, page: int, _size: QSize, image: QImage, _options: Any, request: int) -> None:
        if request != self._request or page != self.page_index:
            return  # an older request
        self.rendered.emit(self.highlight(image))

    def highlight(self, image: QImage) -> QImage:
        """The page on white paper (PDF pages are transparent; dark palettes show
        through), with translucent marks over the passage's lines where Qt PDF finds them."""
        out = QImage(image.size(), QImage.Format.Format_ARGB32_Premultiplied)
        out.fill(Qt.GlobalColor.white)
        painter = QPainter(out)
        painter.drawImage(0, 0, image)
        selection = self.document.getAllText(self.page_index)
        span = find_passage(selection.text(), self._passage) if selection.isValid() else None
        if span is None:
            painter.end()
            return out
        bounds = self.document.getSelectionAtIndex(self.page_index, span[0], span[1] - span[0]).bounds()
        points = self.document.pagePointSize(self.page_index)
        scale = image.width() / max(points.width(), 1.0)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(PAGE_HIGHLIGHT)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Multiply)
        for poly in bounds:
            painter.drawPolygon(QPolygonF([p * scale for p in poly]))  # type: ignore[attr-defined]  # PySide6's stubs lack __iter__
        painter.end()
        return out


class PreviewPane(QWidget):
    """Header, actions, the passage in context, and the page image for PDFs."""

    message = Signal(str)  # for the status bar
    open_requested = Signal()  # open the passage in the viewer, at its page
    similar_requested = Signal()  # "more like this"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: SearchResult | None = None
        self.header = QLabel("Select a result to see it in context.")
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("&Open")
        self.open_button.setToolTip("Open the document at this page in your viewer (Ctrl+Return, or double-click)")
        self.similar_button = QPushButton("&More like this")
        self.similar_button.setToolTip("Passages close in meaning to this one (Ctrl+M)")
        self.folder_button = QPushButton("Show in &folder")
        self.copy_button = QPushButton("&Copy with citation")
        self.copy_button.setToolTip("Copy the passage with its file and page")
        for b in self._buttons():
            b.setEnabled(False)
        self.open_button.clicked.connect(self.open_requested)
        self.similar_button.clicked.connect(self.similar_requested)
        self.folder_button.clicked.connect(self.show_in_folder)
        self.copy_button.clicked.connect(self.copy_passage)

        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        self.page_label = QLabel()
        self.page_label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.page_label.setWordWrap(True)
        self.page_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.page_scroll = QScrollArea()
        self.page_scroll.setWidgetResizable(True)
        self.page_scroll.setWidget(self.page_label)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.text, "Passage in context")
        self.tabs.addTab(self.page_scroll, "Page")
        self.tabs.currentChanged.connect(lambda _i: self._request_page())

        self.pdf: PdfPage | None = None  # made at the first PDF preview

        actions = QHBoxLayout()
        for b in self._buttons():
            actions.addWidget(b)
        actions.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addLayout(actions)
        layout.addWidget(self.tabs, 1)

    def _buttons(self) -> tuple[QPushButton, ...]:
        return (self.open_button, self.similar_button, self.folder_button, self.copy_button)

    # -- showing a result ------------------------------------------------------------

    def clear(self) -> None:
        self.result = None
        self.header.setText("Select a result to see it in context.")
        self.text.clear()
        self.page_label.clear()
        for b in self._buttons():
            b.setEnabled(False)

    def show_result(self, result: SearchResult, rows: list[dict[str, Any]], terms: list[str]) -> None:
        self.result = result
        folder, name = os.path.split(result.path)
        author = f" — {html.escape(result.author)}" if result.author else ""
        self.header.setText(
            f"<b>{html.escape(display_title(result))}</b>{author}<br>"
            f"{html.escape(result.location)} · {html.escape(name)}<br>"
            f'<span style="color:gray">{html.escape(folder)}</span>'
        )
        self.text.setHtml(context_html(result, rows, terms))
        self.text.scrollToAnchor("hit")
        for b in self._buttons():
            b.setEnabled(True)
        self.page_label.clear()
        if result.page is None:
            self.page_label.setText("EPUB chapters have no page image; the text is on the other tab.")
        elif not HAVE_QTPDF:
            self.page_label.setText(NO_QTPDF_MESSAGE)
        else:
            if self.pdf is None:
                self.pdf = PdfPage(self)
                self.pdf.rendered.connect(self._on_page_rendered)
            self.page_label.setText("Rendering the page…")
            self._request_page()

    def _request_page(self) -> None:
        r = self.result
        if self.pdf is None or r is None or r.page is None or self.tabs.currentWidget() is not self.page_scroll:
            return
        width = max(300, self.page_scroll.viewport().width() - 8)
        ratio = self.devicePixelRatioF()
        if not self.pdf.show(r.path, r.page, r.text, int(width * ratio)):
            self.page_label.setText("Qt PDF cannot render this page.")

    def _on_page_rendered(self, image: QImage) -> None:
        from PySide6.QtGui import QPixmap

        pixmap = QPixmap.fromImage(image)
        pixmap.setDevicePixelRatio(self.devicePixelRatioF())
        self.page_label.setPixmap(pixmap)

    # -- actions -------------------------------------------------------------------

    def show_in_folder(self) -> None:
        if self.result is not None and not show_in_folder(self.result.path):
            self.message.emit(f"Could not show {self.result.path} in its folder")

    def copy_passage(self) -> None:
        if self.result is not None:
            QGuiApplication.clipboard().setText(citation(self.result))
            self.message.emit("Passage copied with its citation")
