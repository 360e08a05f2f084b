"""settings.json: versioned, read from every older version's file, and a newer version's keys kept."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from desktop_search.settings import SETTINGS_VERSION, Settings


def test_a_file_from_before_the_version_key_is_read_and_saved_with_it(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    # What e8e0565 .. 6747445 wrote: no version, fewer keys.
    path.write_text(json.dumps({"model": None, "device": "cpu", "top_k": 7, "search_as_you_type": False,
                                "search_mode": "keyword", "extra_models": []}))
    settings = Settings.load(path)
    assert (settings.device, settings.top_k, settings.search_mode, settings.ocr) == ("cpu", 7, "keyword", True)
    settings.save(path)
    saved = json.loads(path.read_text())
    assert saved["version"] == SETTINGS_VERSION and saved["top_k"] == 7 and "unknown" not in saved
    assert Settings.load(path) == settings


def test_a_newer_version_s_keys_and_number_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"version": SETTINGS_VERSION + 1, "top_k": 5, "theme": "dark", "panes": {"left": 2}}))
    settings = Settings.load(path)
    assert settings.top_k == 5 and settings == Settings(top_k=5)  # what this version does not know stays aside
    replace(settings, top_k=9).save(path)  # as the window saves an edited copy
    saved = json.loads(path.read_text())
    assert saved["version"] == SETTINGS_VERSION + 1 and saved["top_k"] == 9
    assert (saved["theme"], saved["panes"]) == ("dark", {"left": 2})


def test_an_unusable_file_gives_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    for text in ("[1, 2]", "{not json", json.dumps({"version": "two", "top_k": 3})):
        path.write_text(text)
        assert Settings.load(path).top_k == (3 if "two" in text else Settings().top_k)
