"""The message banner: errors and notices in a dismissable line, never modal, never a crash."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

MAX_LINES = 3  # the newest messages; older ones scroll away


class DismissableBar(QFrame):
    """A framed line of text with a ✕ that hides it; a subclass may put widgets before the ✕."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Dismiss")
        self.close_button.clicked.connect(self.dismiss)
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(8, 4, 4, 4)
        self._row.addWidget(self.label, 1)
        self._row.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def add_before_close(self, *widgets: QWidget) -> None:
        for widget in widgets:
            self._row.insertWidget(self._row.count() - 1, widget)

    def dismiss(self) -> None:
        self.hide()


class MessageBanner(DismissableBar):
    """Shows the last few distinct messages; the ✕ hides them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._lines: list[str] = []

    def show_message(self, text: str) -> None:
        """Add ``text`` under the messages still shown (a repeat moves to the bottom)."""
        lines = self._lines if not self.isHidden() else []
        self._lines = [line for line in lines if line != text][-(MAX_LINES - 1):] + [text]
        self.label.setText("\n".join(self._lines))
        self.show()

    def dismiss(self) -> None:
        self._lines = []
        super().dismiss()

    def text(self) -> str:
        """What is shown now ("" when hidden)."""
        return "" if self.isHidden() else "\n".join(self._lines)
