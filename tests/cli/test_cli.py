"""The command line's entry, ``desktop_search.cli.main``: the bare command, ``python -m``, a bad data dir."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_search.cli import main


def test_bare_command_hands_over_to_the_window(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import desktop_search.gui.app as app

    calls = []
    monkeypatch.setattr(app, "main", lambda paths, probe=None: calls.append(paths.root) or 3)  # type: ignore[func-returns-value]  # note, then exit 3
    assert main(["--data-dir", str(tmp_path / "d")]) == 3
    assert calls == [tmp_path / "d"]


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ, DESKTOP_SEARCH_DATA_DIR=str(tmp_path / "env-data"))
    out = subprocess.run([sys.executable, "-m", "desktop_search", "status", "--json"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["data_dir"] == str(tmp_path / "env-data")


def test_bare_command_with_an_unusable_data_dir_says_why(tmp_path, capsys):
    """The window's entry reports a data dir it cannot create like every command does."""
    from desktop_search.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["--data-dir", str(blocker / "data")]) == 2
    assert "Cannot create the data folder" in capsys.readouterr().err
