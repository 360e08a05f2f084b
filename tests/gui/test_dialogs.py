"""Settings and About dialogs."""
from __future__ import annotations

from desktop_search import __version__
from desktop_search.gui.dialogs import AboutDialog, SettingsDialog
from desktop_search.settings import Settings


def test_settings_dialog_edits_a_copy(qtbot):
    original = Settings(model="/models/a", device="auto", top_k=10, search_as_you_type=False, search_mode="keyword")
    dialog = SettingsDialog(original)
    qtbot.addWidget(dialog)
    dialog.model.setText("  /models/b ")
    dialog.device.setCurrentText("cpu")
    assert dialog.precision.currentText() == "auto"
    dialog.precision.setCurrentText("fp32")
    dialog.top_k.setValue(25)
    dialog.as_you_type.setChecked(True)
    dialog.viewer.setText(" okular -p %p %f ")
    edited = dialog.settings()
    assert edited.viewer == "okular -p %p %f"
    assert (edited.model, edited.device, edited.top_k, edited.search_as_you_type) == ("/models/b", "cpu", 25, True)
    assert edited.precision == "fp32" and original.precision == "auto"
    assert edited.search_mode == "keyword"  # fields the dialog does not show are kept
    assert original.model == "/models/a"
    dialog.model.setText("")
    assert dialog.settings().model is None  # empty means the default model


def test_about_shows_the_version(qtbot):
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    from PySide6.QtWidgets import QLabel

    assert any(__version__ in label.text() for label in dialog.findChildren(QLabel))


def test_settings_dialog_edits_ocr(qtbot):
    dialog = SettingsDialog(Settings(ocr=True, ocr_languages=None))
    qtbot.addWidget(dialog)
    assert dialog.ocr.isChecked() and dialog.ocr_languages.isEnabled()
    dialog.ocr_languages.setText(" eng+jpn ")
    assert (dialog.settings().ocr, dialog.settings().ocr_languages) == (True, "eng+jpn")
    dialog.ocr.setChecked(False)
    assert not dialog.ocr_languages.isEnabled()
    assert dialog.settings().ocr is False


def test_settings_dialog_offers_the_multilingual_model(qtbot):
    from PySide6.QtWidgets import QPushButton

    dialog = SettingsDialog(Settings(), suggested_model="intfloat/multilingual-e5-small")
    qtbot.addWidget(dialog)
    (get,) = [b for b in dialog.findChildren(QPushButton) if b.text() == "Get multilingual-e5-small…"]
    with qtbot.waitSignal(dialog.get_model_requested) as signal:
        get.click()
    assert signal.args == ["intfloat/multilingual-e5-small"]
    assert dialog.result() == SettingsDialog.DialogCode.Accepted  # closed, the edits kept
    plain = SettingsDialog(Settings())
    qtbot.addWidget(plain)
    assert not [b for b in plain.findChildren(QPushButton) if b.text().startswith("Get ")]
