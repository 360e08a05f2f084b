"""Helpers for reliability tests: run the CLI as a real process, pause it, check the store."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, make_epub, make_pdf

PAUSE_WAIT_S = 120.0


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env


def cli_args(data: Path, model: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "desktop_search", "--data-dir", str(data), "--model", str(model), *args]


def run_cli(data: Path, model: Path, *args: str, timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(cli_args(data, model, *args), capture_output=True, text=True, errors="backslashreplace",
                          timeout=timeout, env=cli_env(**env), cwd=REPO)


@dataclass
class Paused:
    """An indexer process stopped at a checkpoint."""

    proc: subprocess.Popen
    folder: Path
    point: str

    def resume(self) -> None:
        (self.folder / f"{self.point.split('@')[0]}.go").touch()

    def kill(self) -> None:
        """SIGKILL the indexer itself (its reader processes must notice on their own)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def cleanup(self) -> None:
        self.resume()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def start_paused(data: Path, model: Path, point: str, *args: str, pause_dir: Path,
                 command: tuple[str, ...] = ("index", "--no-progress", "--workers", "1"), **env: str) -> Paused:
    """Start ``command`` (``index``) and return once it has reached ``point`` (e.g. "committing@2")."""
    pause_dir.mkdir(parents=True, exist_ok=True)
    name = point.split("@")[0]
    proc = subprocess.Popen(
        cli_args(data, model, *command, *args),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
        env=cli_env(DESKTOP_SEARCH_PAUSE_AT=point, DESKTOP_SEARCH_PAUSE_DIR=str(pause_dir), **env),
    )
    deadline = time.monotonic() + PAUSE_WAIT_S
    while not (pause_dir / f"{name}.reached").exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"{command[0]} ended (rc {proc.returncode}) before {point}:\n{out!r}\n{err!r}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{command[0]} never reached {point}")
        time.sleep(0.05)
    return Paused(proc, pause_dir, point)


def store_state(data: Path, dim: int = 32) -> dict:
    """Check every invariant of a finished index and return what it holds.

    No chunk duplicated or orphaned, full-text rows in step with chunks, and
    the saved hnsw file holding exactly one live vector per chunk row.
    """
    from desktop_search.paths import DataPaths
    from desktop_search.storage.vectors import VectorIndex

    con = sqlite3.connect(data / "index.sqlite3")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        dups = con.execute("SELECT document_id, ordinal FROM chunks GROUP BY 1, 2 HAVING count(*) > 1").fetchall()
        assert dups == [], f"duplicated chunks {dups[:5]}"
        orphans = con.execute("SELECT count(*) FROM chunks WHERE document_id NOT IN (SELECT id FROM documents)").fetchone()[0]
        assert orphans == 0
        texts = con.execute("SELECT count(*), count(DISTINCT document_id || ':' || text) FROM chunks").fetchone()
        con.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
        con.execute("INSERT INTO chunks_tri(chunks_tri) VALUES ('integrity-check')")
        n_chunks = texts[0]
        waiting = con.execute("SELECT count(*) FROM chunks WHERE embedding IS NULL").fetchone()[0]
        assert waiting == 0, f"{waiting} passages never got their vector"
        ids = {r[0] for r in con.execute("SELECT id FROM chunks")}
        docs = {os.fsdecode(r[0]): (r[1], r[2]) for r in con.execute("SELECT path, status, error FROM documents")}
        per_doc_empty = con.execute(
            "SELECT count(*) FROM documents d WHERE status = 'indexed' AND NOT EXISTS "
            "(SELECT 1 FROM chunks c WHERE c.document_id = d.id)").fetchone()[0]
        assert per_doc_empty == 0, "an indexed document lost its chunks"
    finally:
        con.close()
    paths = DataPaths(data)
    index = VectorIndex._load(paths, dim)
    assert index is not None, "the saved vector index is missing or inconsistent with its sidecar"
    assert index.live_count == n_chunks, f"hnsw live count {index.live_count} != {n_chunks} chunk rows"
    labels = set(int(i) for i in index._index.get_ids_list())
    assert ids <= labels, "chunks without a vector"
    return {"chunks": n_chunks, "documents": docs}


def make_small_library(folder: Path, n: int = 6, start: int = 0) -> list[Path]:
    """``n`` small files, alternating PDF and EPUB, each with distinct text."""
    folder.mkdir(parents=True, exist_ok=True)
    words = ["river", "mountain", "orchard", "harbour", "glacier", "meadow", "desert", "lagoon", "canyon", "prairie",
             "volcano", "island"]
    out = []
    for i in range(start, start + n):
        w = words[i % len(words)]
        if i % 2 == 0:
            pages = [f"Document {i} page {p} is about the {w} and {p} other things. " * 6 for p in range(1, 4)]
            out.append(make_pdf(folder / f"doc{i:02d}.pdf", pages, title=f"Doc {i}"))
        else:
            out.append(make_epub(folder / f"doc{i:02d}.epub",
                                 [(f"Chapter {c}", f"Book {i} chapter {c} tells of the {w}. " * 8) for c in range(1, 4)],
                                 title=f"Book {i}"))
    return out


def indexed_library(root: Path, model: Path, n: int) -> Path:
    """``root``/lib with ``n`` small files, indexed by the CLI into ``root``/data."""
    make_small_library(root / "lib", n)
    out = run_cli(root / "data", model, "index", "--no-progress", "--workers", "1", str(root / "lib"))
    assert out.returncode == 0, out.stderr
    return root


@pytest.fixture(scope="session")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.reliability.hostile import write_zip_bomb

    return write_zip_bomb(tmp_path_factory.mktemp("bomb") / "bomb.epub")
