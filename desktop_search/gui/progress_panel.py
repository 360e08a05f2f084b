"""The indexing progress panel: a bar, a line of figures, Pause and Cancel.

It renders what the :class:`~desktop_search.gui.controller.IndexController`
reports and turns its buttons into requests; it decides nothing itself.
"""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from desktop_search.index.progress import Phase, Progress

PHASE_TEXT = {
    Phase.SCANNING: "Looking for new and changed files…",
    Phase.LOADING_MODEL: "Loading the model…",
    Phase.SAVING: "Saving the index…",
}


class ProgressPanel(QFrame):
    pause_toggled = Signal(bool)
    cancel_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setFormat("%v / %m files")
        self.label = QLabel()
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pause_button = QPushButton("&Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self.pause_toggled)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_clicked)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.pause_button)
        row.addWidget(self.cancel_button)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addLayout(row)
        col.addWidget(self.label)
        self._paused = False
        self.hide()

    def start(self, text: str = "Starting…", visible: bool = True) -> None:
        """A new run: buttons live again; shown at once unless the run was automatic."""
        self.set_paused(False)
        self.bar.setRange(0, 0)
        self.label.setText(text)
        self.label.setToolTip("")
        self.cancel_button.setEnabled(True)
        self.pause_button.setEnabled(True)
        if visible:
            self.show()

    def set_paused(self, paused: bool) -> None:
        """Mirror the controller's state (the button's own clicks arrive here too)."""
        self._paused = paused
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(paused)
        self.pause_button.blockSignals(False)
        self.pause_button.setText("&Resume" if paused else "&Pause")

    def show_progress(self, p: Progress) -> None:
        if p.phase == Phase.INDEXING:
            self.show()
            self.bar.setRange(0, max(p.files_total, 1))
            self.bar.setValue(p.files_done)
            current = f" · {os.path.basename(p.current)}" if p.current else ""
            paused = "Paused · " if self._paused else ""
            ocr = f" · {p.ocr_pages} pages by OCR ({p.ocr_pages_per_s:.1f}/s)" if p.ocr_pages else ""
            self.label.setText(f"{paused}{p.counts()}{ocr}{current}")  # files read and passages embedded
            self.label.setToolTip(p.current or "")
        elif p.phase in PHASE_TEXT:
            if p.phase == Phase.LOADING_MODEL:
                self.show()
            self.bar.setRange(0, 0)
            self.label.setText(PHASE_TEXT[p.phase])

    def stopping(self) -> None:
        self.cancel_button.setEnabled(False)
        self.pause_button.setEnabled(False)
        self.label.setText("Stopping after the current file… (what is done is kept)")
