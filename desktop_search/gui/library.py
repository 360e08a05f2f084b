"""The library panel (folders with their counts) and the failed-files view."""
from __future__ import annotations

import logging
import os
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTreeWidget, QTreeWidgetItem,
    QVBoxLayout, QWidget,
)

logger = logging.getLogger(__name__)


class LibraryPanel(QWidget):
    """Folders and what happened to their files; the buttons only emit requests."""

    add_requested = Signal()
    remove_requested = Signal(str)
    update_requested = Signal()
    rebuild_requested = Signal()
    failed_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Folder", "Indexed", "Failed"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.empty = QLabel("No folders yet. Add one, or drop folders onto the window.")
        self.empty.setWordWrap(True)

        self.add_button = QPushButton("&Add folder…")
        self.remove_button = QPushButton("&Remove")
        self.update_button = QPushButton("&Update now")
        self.rebuild_button = QPushButton("Re&build")
        self.failed_button = QPushButton("Failed files…")
        self.remove_button.setEnabled(False)
        self.update_button.setToolTip("Index new and changed files now")
        self.rebuild_button.setToolTip("Throw the index away and read every file again")
        self.add_button.clicked.connect(self.add_requested)
        self.remove_button.clicked.connect(self._remove_clicked)
        self.update_button.clicked.connect(self.update_requested)
        self.rebuild_button.clicked.connect(self.rebuild_requested)
        self.failed_button.clicked.connect(self.failed_requested)
        self.tree.itemSelectionChanged.connect(
            lambda: self.remove_button.setEnabled(bool(self.tree.selectedItems()) and self._editable)
        )
        self._editable = True

        row1 = QHBoxLayout()
        row1.addWidget(self.add_button)
        row1.addWidget(self.remove_button)
        row2 = QHBoxLayout()
        row2.addWidget(self.update_button)
        row2.addWidget(self.rebuild_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addWidget(self.failed_button)

    def set_folders(self, folders: list[dict[str, Any]]) -> None:
        selected = self.selected_folder()
        self.tree.clear()
        for f in folders:
            item = QTreeWidgetItem([f["path"], str(f["indexed"]), str(f["failed"])])
            item.setData(0, Qt.ItemDataRole.UserRole, f["path"])
            item.setToolTip(0, f["path"])
            for col in (1, 2):
                item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if not os.path.isdir(f["path"]):
                item.setToolTip(0, f"{f['path']} (not available now; its documents are kept)")
            self.tree.addTopLevelItem(item)
            if f["path"] == selected:
                item.setSelected(True)
        self.empty.setVisible(not folders)

    def folders(self) -> list[str]:
        return [self.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) for i in range(self.tree.topLevelItemCount())]

    def selected_folder(self) -> str | None:
        items = self.tree.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def set_indexing(self, running: bool) -> None:
        """Changes to the library wait while a run is going; adding queues a run."""
        self._editable = not running
        self.rebuild_button.setEnabled(not running)
        self.update_button.setEnabled(not running)
        self.remove_button.setEnabled(not running and bool(self.tree.selectedItems()))

    def _remove_clicked(self) -> None:
        folder = self.selected_folder()
        if folder:
            self.remove_requested.emit(folder)


class FailedFilesDialog(QDialog):
    """Every file that could not be indexed, or was only partly read, with its reason."""

    def __init__(self, failed: list[dict[str, Any]], warnings: list[dict[str, Any]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Failed files")
        self.resize(800, 420)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["File", "Reason"])
        self.tree.setRootIsDecorated(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.tree.setColumnWidth(0, 380)
        for row, status in [(f, "failed") for f in failed] + [(w, "partly read") for w in warnings]:
            item = QTreeWidgetItem([row["path"], row["error"] or status])
            item.setToolTip(0, row["path"])
            item.setToolTip(1, row["error"] or status)
            self.tree.addTopLevelItem(item)
        summary = QLabel(f"{len(failed)} file(s) could not be indexed; {len(warnings)} were only partly read.")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(summary)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)
