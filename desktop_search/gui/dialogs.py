"""Settings and About dialogs."""
from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_search import __version__
from desktop_search.settings import Settings

DEVICES = ("auto", "cpu", "cuda", "mps")


class SettingsDialog(QDialog):
    """Edits a copy of the settings; :meth:`settings` returns the edited copy."""

    get_model_requested = Signal(str)  # a catalogue model the user asked to download

    def __init__(self, settings: Settings, parent: QWidget | None = None, suggested_model: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._original = settings
        self.model = QLineEdit(settings.model or "")
        self.model.setPlaceholderText("default model (from the catalogue)")
        self.model.setToolTip("A model folder, or a model name from the catalogue or the Hugging Face cache")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(browse)
        if suggested_model:
            # The remedy for libraries in languages the default model cannot read, one click away.
            get = QPushButton(f"Get {suggested_model.split('/')[-1]}…")
            get.setToolTip(f"Download {suggested_model} (multilingual) from the Hugging Face Hub into the data folder")
            get.clicked.connect(lambda: self._get_model(suggested_model))
            model_row.addWidget(get)
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        if settings.device not in DEVICES:
            self.device.addItem(settings.device)
        self.device.setCurrentText(settings.device)
        from desktop_search.embed.engine import Engine, Precision

        self.engine = QComboBox()
        self.engine.addItems([e.value for e in Engine])
        self.engine.setCurrentText(settings.engine)
        self.engine.setToolTip("What runs the model. auto: the fastest here. onnx: ONNX Runtime, on the CPU. "
                               "torch: NVIDIA and Apple GPUs, and bf16 on processors that compute it natively; "
                               "needs the torch extra (pip install 'desktop-search[torch]')")
        self.precision = QComboBox()
        self.precision.addItems([p.value for p in Precision])
        self.precision.setCurrentText(settings.precision)
        self.precision.setToolTip("auto: the fastest that keeps results as good here, or an existing index's own. "
                                  "int8: ONNX Runtime on the CPU; bf16: torch on processors that compute it "
                                  "natively; fp16: torch on NVIDIA GPUs; fp32: anywhere")
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 200)
        self.top_k.setValue(settings.top_k)
        self.as_you_type = QCheckBox("Search as I type (after a short pause)")
        self.as_you_type.setChecked(settings.search_as_you_type)
        self.viewer = QLineEdit(settings.viewer)
        self.viewer.setPlaceholderText("the system's default viewer, at the page where it can")
        self.viewer.setToolTip("A command that opens a file at a page: %f is the file, %p the page, "
                               "for example: okular -p %p %f")
        self.ocr = QCheckBox("Read scanned pages with Tesseract (OCR)")
        self.ocr.setChecked(settings.ocr)
        self.ocr_languages = QLineEdit(settings.ocr_languages or "")
        self.ocr_languages.setPlaceholderText("the system language's pack, plus English")
        self.ocr_languages.setToolTip("Tesseract language packs joined by +, for example eng+jpn+kor")
        self.ocr_languages.setEnabled(settings.ocr)
        self.ocr.toggled.connect(self.ocr_languages.setEnabled)
        note = QLabel("A different model only works with an index built with it: rebuild the library after changing it.")
        note.setWordWrap(True)

        form = QFormLayout()
        form.addRow("&Model:", model_row)
        form.addRow("&Device:", self.device)
        form.addRow("&Engine:", self.engine)
        form.addRow("&Precision:", self.precision)
        form.addRow("&Results:", self.top_k)
        form.addRow("", self.as_you_type)
        form.addRow("&Viewer command:", self.viewer)
        form.addRow("", self.ocr)
        form.addRow("OCR &languages:", self.ocr_languages)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def _get_model(self, name: str) -> None:
        """Ask for the download and close, keeping the edits; the window asks before rebuilding."""
        self.get_model_requested.emit(name)
        self.accept()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder", self.model.text())
        if folder:
            self.model.setText(folder)

    def settings(self) -> Settings:
        return dataclasses.replace(
            self._original,
            model=self.model.text().strip() or None,
            device=self.device.currentText(),
            precision=self.precision.currentText(),
            engine=self.engine.currentText(),
            top_k=self.top_k.value(),
            search_as_you_type=self.as_you_type.isChecked(),
            viewer=self.viewer.text().strip(),
            ocr=self.ocr.isChecked(),
            ocr_languages=self.ocr_languages.text().strip() or None,
        )


def about_text() -> str:
    return (
        f"<h3>Desktop Search {__version__}</h3>"
        "<p>Ask questions of your PDFs and EPUBs and get the passages that answer them, "
        "with the page or chapter they are on.</p>"
        "<p>Everything runs on this computer: your documents and your questions never leave it.</p>"
    )


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Desktop Search")
        label = QLabel(about_text())
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.RichText)
        icon = QLabel()
        if parent is not None and not parent.windowIcon().isNull():
            icon.setPixmap(parent.windowIcon().pixmap(64, 64))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(label, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(buttons)
