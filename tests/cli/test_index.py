"""`desktop-search index`: the report, the progress display, clear errors."""
from __future__ import annotations

from pathlib import Path


def test_index_exits_zero_lists_failures_and_shows_progress(cli, library: Path) -> None:
    code, out, err = cli("index", str(library), "--max-tokens", "64")
    assert code == 0
    assert "Indexed 3 new, 0 changed, 0 moved, 0 removed, 0 unchanged; 1 failed" in out
    assert f"  {library / 'broken.pdf'}: not a valid PDF" in out
    assert "scanning" in err  # the progress display goes to stderr, not stdout
    code, out, _ = cli("index")
    assert code == 0 and "0 new, 0 changed, 0 moved, 0 removed, 4 unchanged" in out


def test_index_of_a_missing_folder_is_a_clear_error(cli, tmp_path: Path) -> None:
    code, _, err = cli("index", str(tmp_path / "nope"))
    assert code == 2 and "is not a folder" in err and "Traceback" not in err


def test_other_model_is_refused(cli, indexed: Path, tmp_path: Path) -> None:
    from tests.conftest import build_tiny_model

    other = build_tiny_model(tmp_path / "other-model")
    code, _, err = cli("--model", str(other), "index")
    assert code == 2 and "--rebuild" in err
