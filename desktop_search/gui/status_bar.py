"""The status bar: passing messages on the left; the library's counts, the model and its device on the right."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from desktop_search.index.library_info import LibraryInfo


class StatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.counts_label = QLabel("No documents yet")
        self.model_label = QLabel("Model: not loaded")
        self.device_label = QLabel("Device: –")
        for label in (self.counts_label, self.model_label, self.device_label):
            self.addPermanentWidget(label)

    def show_info(self, info: LibraryInfo) -> None:
        text = f"{info.documents} documents · {info.chunks} passages"
        if info.embedded < info.chunks:  # keyword-searchable already; ranked by their words until embedded
            text += f" · {info.chunks - info.embedded} still being embedded"
        self.counts_label.setText(text + (f" · {len(info.failed)} failed" if info.failed else ""))

    def show_model(self, info: dict[str, Any]) -> None:
        """The query model has loaded: ``{"model": id, "device": name}``."""
        self.model_label.setText(f"Model: {Path(info['model']).name}")
        self.model_label.setToolTip(info["model"])
        self.device_label.setText(f"Device: {info['device']}")

    def show_model_loading(self) -> None:
        self.model_label.setText("Model: loading…")
