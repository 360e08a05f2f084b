"""The language notice and getting a multilingual model from the window.

When the library or a query is in a script the model does not read, a bar
names the remedy with a button that downloads the suggested model (in a
worker thread, with progress) and then asks before rebuilding the index.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QProgressBar, QPushButton, QWidget

from desktop_search.errors import UserFacingError
from desktop_search.gui.banner import DismissableBar

logger = logging.getLogger(__name__)


class ModelDownloadWorker(QObject):
    """Runs :func:`desktop_search.embed.download.download_model` off the GUI thread."""

    progress = Signal(int, int)  # files done, files in all
    finished = Signal(str, str)  # model name, its folder
    failed = Signal(str)

    def __init__(self, data_root: Path) -> None:
        super().__init__()
        self.data_root = data_root

    @Slot(str)
    def run(self, name: str) -> None:
        from desktop_search.embed.download import download_model

        try:
            folder = download_model(name, self.data_root, progress=lambda done, total: self.progress.emit(done, total))
        except UserFacingError as exc:
            self.failed.emit(str(exc))
            return
        except Exception:  # a bug: logged with its traceback, reported, never a crash
            logger.exception("Unexpected error while downloading %s", name)
            self.failed.emit(f"Downloading {name} failed unexpectedly; see the log.")
            return
        self.finished.emit(name, str(folder))


class LanguageNoticeBar(DismissableBar):
    """'Most of the library is Japanese text, which … does not read' + [Get MODEL]."""

    get_requested = Signal(str)  # the model to download

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._suggested = ""
        self.get_button = QPushButton()
        self.get_button.clicked.connect(lambda: self.get_requested.emit(self._suggested))
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(120)
        self.progress.hide()
        self.add_before_close(self.progress, self.get_button)
        self._key: Any = None
        self._dismissed: set[Any] = set()

    def show_notice(self, notice: Any) -> None:
        """Show a :class:`~desktop_search.search.coverage.LanguageNotice`, or hide the bar for None."""
        key = (notice.scope, notice.lang, notice.model) if notice is not None else None
        if notice is None or key in self._dismissed:
            if notice is None and not self.progress.isVisible():
                self.hide()
            return
        self._suggested, self._key = notice.suggested, key
        what = "Most of the library" if notice.scope.value == "library" else "This search"
        self.label.setText(
            f"{what} is {notice.lang.label} text, which the model {notice.model} does not read: "
            f"results come from keyword search only. A multilingual model reads it."
        )
        self.get_button.setText(f"Get {notice.suggested.split('/')[-1]}…")
        self.show()

    def dismiss(self) -> None:
        self._dismissed.add(self._key)
        super().dismiss()

    def set_busy(self, done: int, total: int) -> None:
        self.get_button.setEnabled(False)
        self.progress.setRange(0, max(total, 0))
        self.progress.setValue(done)
        self.progress.show()

    def set_idle(self) -> None:
        self.get_button.setEnabled(True)
        self.progress.hide()
