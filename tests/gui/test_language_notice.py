"""The window's language notice, and getting a multilingual model from it (stand-in Hub, no internet)."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from tests.conftest import MULTILINGUAL_REPO, make_epub
from tests.gui.conftest import INDEX_TIMEOUT_MS, index_folder, search


@pytest.fixture
def settings(english_only_model: Path):
    from desktop_search.settings import Settings

    return Settings(model=str(english_only_model), device="cpu", top_k=10)


@pytest.fixture
def japanese(tmp_path: Path) -> Path:
    folder = tmp_path / "ja"
    folder.mkdir()
    make_epub(folder / "tokyo.epub", [("第1節", "東京の人口は多い。首都機能が集まる都市である。")], title="東京")
    make_epub(folder / "neko.epub", [("第1節", "猫は日本で人気がある動物である。")], title="猫")
    return folder


def test_notice_names_the_remedy_and_gets_the_model_then_rebuilds(
    qtbot, make_window, japanese: Path, tiny_hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = make_window()
    index_folder(qtbot, w, japanese)
    assert search(qtbot, w, "東京の人口") >= 1
    qtbot.waitUntil(w.notice_bar.isVisible, timeout=INDEX_TIMEOUT_MS)
    assert "Japanese" in w.notice_bar.label.text()
    assert w.notice_bar.get_button.text() == "Get multilingual-e5-small…"

    asked: list[str] = []

    def yes(_parent, _title, text, *args, **kwargs):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", yes)
    with qtbot.waitSignal(w.index_finished, timeout=INDEX_TIMEOUT_MS):
        with qtbot.waitSignal(w.model_downloaded, timeout=INDEX_TIMEOUT_MS):
            w.notice_bar.get_button.click()
    assert asked and "Rebuild the index" in asked[0]
    assert w.settings.model == MULTILINGUAL_REPO
    assert any(p.endswith("intfloat--multilingual-e5-small") for p in w.settings.extra_models)
    # The rebuilt index reads Japanese: no notice after the next search.
    search(qtbot, w, "東京の人口")
    qtbot.waitUntil(lambda: not w.notice_bar.isVisible(), timeout=INDEX_TIMEOUT_MS)


def test_a_failed_download_is_shown_in_the_message_line(qtbot, make_window, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    w = make_window()
    w.get_model(MULTILINGUAL_REPO)
    qtbot.waitUntil(lambda: "Could not download" in w.banner_text(), timeout=INDEX_TIMEOUT_MS)
    assert w.notice_bar.get_button.isEnabled()


def test_settings_offer_the_multilingual_model(qtbot, make_window, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QPushButton

    w = make_window()
    asked: list[str] = []
    monkeypatch.setattr(w, "get_model", asked.append)

    def click_get() -> None:
        dialog = QApplication.activeModalWidget()
        assert dialog is not None
        (get,) = [b for b in dialog.findChildren(QPushButton) if b.text() == "Get multilingual-e5-small…"]
        get.click()

    QTimer.singleShot(0, click_get)
    w.edit_settings()
    assert asked == [MULTILINGUAL_REPO]
