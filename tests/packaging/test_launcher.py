"""The frozen app's entry point, run from source.

packaging/launcher.py is what PyInstaller freezes. Its multiprocessing set-up
is what makes the extraction pool work frozen (the forkserver and workers are
started by re-running the entry script), so it is exercised here with real
worker processes; packaging/smoke_test.sh repeats this on a built bundle.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import REPO, make_epub, make_pdf

LAUNCHER = REPO / "packaging" / "launcher.py"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(LAUNCHER), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240)


def test_version_is_the_one_in_pyproject(tmp_path: Path) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    proc = _run("--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"desktop-search {version}"


def test_launcher_indexes_and_searches_through_worker_processes(tmp_path: Path, tiny_model: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    make_epub(library / "cats.epub", [("Grins", "The cat vanished slowly, ending with the grin.")])
    make_pdf(library / "tea.pdf", ["A mad tea party with a hatter and a hare."])
    data = tmp_path / "data"
    common = ("--data-dir", str(data), "--model", str(tiny_model))

    proc = _run(*common, "index", str(library), "--no-progress", "--workers", "2", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    assert "Indexed 2 new" in proc.stdout and "; 0 failed;" in proc.stdout, proc.stdout + proc.stderr
    found = _run(*common, "search", "hatter", "--mode", "keyword", "--json", cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert "tea.pdf" in found.stdout
