"""The message banner: errors and notices in a dismissable line, never modal, never a crash."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

MAX_LINES = 3  # the newest messages; older ones scroll away


class MessageBanner(QFrame):
    """Shows the last few distinct messages; the ✕ hides them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Dismiss")
        self.close_button.clicked.connect(self.dismiss)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 4, 4)
        row.addWidget(self.label, 1)
        row.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self._lines: list[str] = []
        self.hide()

    def show_message(self, text: str) -> None:
        """Add ``text`` under the messages still shown (a repeat moves to the bottom)."""
        lines = self._lines if not self.isHidden() else []
        self._lines = [line for line in lines if line != text][-(MAX_LINES - 1):] + [text]
        self.label.setText("\n".join(self._lines))
        self.show()

    def dismiss(self) -> None:
        self._lines = []
        self.hide()

    def text(self) -> str:
        """What is shown now ("" when hidden)."""
        return "" if self.isHidden() else "\n".join(self._lines)
