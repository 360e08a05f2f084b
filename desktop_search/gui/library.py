"""The library panel (folders with their counts), the failed-files view and the patterns dialog."""
from __future__ import annotations

import html
import os
from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_search.index.library_info import FileProblem, FolderInfo
from desktop_search.ingest.crawl import PatternCounts


class LibraryPanel(QWidget):
    """Folders and what happened to their files; the buttons only emit requests."""

    add_requested = Signal()
    remove_requested = Signal(str)
    update_requested = Signal()
    rebuild_requested = Signal()
    failed_requested = Signal()
    counts_wanted = Signal(str, list, list)  # folder, include, exclude: what the patterns being edited would keep
    patterns_changed = Signal(str, list, list)  # folder, include, exclude: saved in the patterns dialog

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
        self.patterns_button = QPushButton("&Patterns…")
        self.patterns_button.setToolTip("Include and exclude patterns for the selected folder")
        self.remove_button.setEnabled(False)
        self.patterns_button.setEnabled(False)
        self.update_button.setToolTip("Index new and changed files now")
        self.rebuild_button.setToolTip("Throw the index away and read every file again")
        self.add_button.clicked.connect(self.add_requested)
        self.remove_button.clicked.connect(self._remove_clicked)
        self.update_button.clicked.connect(self.update_requested)
        self.rebuild_button.clicked.connect(self.rebuild_requested)
        self.failed_button.clicked.connect(self.failed_requested)
        self.patterns_button.clicked.connect(self._patterns_clicked)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self._editable = True
        self._folders: dict[str, FolderInfo] = {}
        self.patterns_dialog: PatternsDialog | None = None  # while one is open

        row1 = QHBoxLayout()
        row1.addWidget(self.add_button)
        row1.addWidget(self.remove_button)
        row1.addWidget(self.patterns_button)
        row2 = QHBoxLayout()
        row2.addWidget(self.update_button)
        row2.addWidget(self.rebuild_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addWidget(self.failed_button)

    def set_folders(self, folders: Sequence[FolderInfo]) -> None:
        selected = self.selected_folder()
        self._folders = {f.path: f for f in folders}
        self.tree.clear()
        for f in folders:
            item = QTreeWidgetItem([f.path, str(f.indexed), str(f.failed)])
            item.setData(0, Qt.ItemDataRole.UserRole, f.path)
            patterns = "".join(f"\ninclude {p}" for p in f.include) + "".join(f"\nexclude {p}" for p in f.exclude)
            item.setToolTip(0, f.path + patterns)
            for col in (1, 2):
                item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if not os.path.isdir(f.path):
                item.setToolTip(0, f"{f.path} (not available now; its documents are kept)")
            self.tree.addTopLevelItem(item)
            if f.path == selected:
                item.setSelected(True)
        self.empty.setVisible(not folders)

    def folders(self) -> list[str]:
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [item.data(0, Qt.ItemDataRole.UserRole) for item in items if item is not None]

    def selected_folder(self) -> str | None:
        items = self.tree.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def set_indexing(self, running: bool) -> None:
        """Changes to the library wait while a run is going; adding queues a run."""
        self._editable = not running
        self.rebuild_button.setEnabled(not running)
        self.update_button.setEnabled(not running)
        self._update_buttons()

    def _update_buttons(self) -> None:
        selected = bool(self.tree.selectedItems())
        self.remove_button.setEnabled(selected and self._editable)
        self.patterns_button.setEnabled(selected)

    def folder_info(self, path: str) -> FolderInfo | None:
        return self._folders.get(path)

    def _patterns_clicked(self) -> None:
        folder = self.selected_folder()
        if folder:
            self.edit_patterns(folder)

    def edit_patterns(self, folder: str) -> None:
        """Edit ``folder``'s include and exclude patterns in a dialog; saving them is ``patterns_changed``."""
        info = self.folder_info(folder)
        if info is None:
            return
        dialog = PatternsDialog(info, self.window())
        dialog.counts_wanted.connect(self.counts_wanted)
        self.patterns_dialog = dialog
        dialog.start()
        try:
            if dialog.exec():
                self.patterns_changed.emit(folder, *dialog.patterns())
        finally:
            self.patterns_dialog = None

    def show_pattern_counts(self, folder: str, include: list[str], exclude: list[str], counts: PatternCounts) -> None:
        """The files the patterns being edited would keep (counted by the controller)."""
        if self.patterns_dialog is not None:
            self.patterns_dialog.show_counts(folder, include, exclude, counts)

    def _remove_clicked(self) -> None:
        folder = self.selected_folder()
        if folder:
            self.remove_requested.emit(folder)


class FailedFilesDialog(QDialog):
    """Every file that could not be indexed, or was only partly read, with its reason."""

    def __init__(self, failed: Sequence[FileProblem], warnings: Sequence[FileProblem],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Failed files")
        self.resize(800, 420)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["File", "Reason"])
        self.tree.setRootIsDecorated(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.tree.setColumnWidth(0, 380)
        for row, status in [(f, "failed") for f in failed] + [(w, "partly read") for w in warnings]:
            item = QTreeWidgetItem([row.path, row.error or status])
            item.setToolTip(0, row.path)
            item.setToolTip(1, row.error or status)
            self.tree.addTopLevelItem(item)
        summary = QLabel(f"{len(failed)} file(s) could not be indexed; {len(warnings)} were only partly read.")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(summary)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)


class PatternsDialog(QDialog):
    """Include and exclude patterns of one folder, one per line, with the files each one excludes.

    The counts come from a worker (a walk of the folder), asked for again a
    moment after each edit; the dialog only shows them.
    """

    counts_wanted = Signal(str, list, list)  # folder, include, exclude

    def __init__(self, folder: FolderInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Include and exclude patterns")
        self.resize(620, 460)
        self.folder = folder.path
        intro = QLabel(
            f"<b>{html.escape(folder.path)}</b><br>Glob patterns, one per line, matched against the file or folder "
            "name and its path inside this folder (for example <code>drafts</code>, <code>*.epub</code>, "
            "<code>archive/*</code>). They apply at the next update, which saving starts."
        )
        intro.setWordWrap(True)
        self.include = QPlainTextEdit("\n".join(folder.include))
        self.include.setPlaceholderText("only files matching one of these (empty: every PDF and EPUB)")
        self.exclude = QPlainTextEdit("\n".join(folder.exclude))
        self.exclude.setPlaceholderText("skip files and folders matching these")
        self.counts = QTreeWidget()
        self.counts.setHeaderLabels(["Pattern", "Files"])
        self.counts.setRootIsDecorated(False)
        self.counts.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.summary = QLabel("Counting the files…")
        self._timer = QTimer(self, singleShot=True, interval=400)
        self._timer.timeout.connect(self._ask_counts)
        for edit in (self.include, self.exclude):
            edit.textChanged.connect(self._timer.start)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("&Include:", self.include)
        form.addRow("&Exclude:", self.exclude)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.counts, 1)
        layout.addWidget(self.summary)
        layout.addWidget(buttons)

    @staticmethod
    def _lines(edit: QPlainTextEdit) -> list[str]:
        return [line.strip() for line in edit.toPlainText().splitlines() if line.strip()]

    def patterns(self) -> tuple[list[str], list[str]]:
        """(include, exclude) as edited."""
        return self._lines(self.include), self._lines(self.exclude)

    def _ask_counts(self) -> None:
        self.counts_wanted.emit(self.folder, *self.patterns())

    def start(self) -> None:
        """Ask for the first counts (once the caller has connected ``counts_wanted``)."""
        self._ask_counts()

    def show_counts(self, folder: str, include: list[str], exclude: list[str], counts: PatternCounts) -> None:
        if (folder, [include, exclude]) != (self.folder, list(self.patterns())):
            return  # counts for patterns since edited
        self.counts.clear()
        for p in exclude:
            self.counts.addTopLevelItem(QTreeWidgetItem([f"exclude {p}", f"excludes {counts.excluded_by[p]}"]))
        for p in include:
            self.counts.addTopLevelItem(QTreeWidgetItem([f"include {p}", f"matches {counts.matched_by[p]}"]))
        self.summary.setText(f"{counts.kept} of {counts.total} PDF and EPUB files would be indexed.")
