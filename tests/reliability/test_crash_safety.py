"""kill -9 at named points of a real ``desktop-search index`` process; the next run must finish the job."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.reliability.conftest import indexed_library, make_small_library, run_cli, start_paused, store_state

# Where the indexer dies. "committing" is inside the text write transaction, "embedding" after
# it (passages stored, no vectors), "committing-vectors" inside the vector write transaction;
# "saving" is after the hnsw file was replaced and before its sidecar was written.
KILL_POINTS = ["planned", "extracting", "committing", "embedding", "committing-vectors", "saving"]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """A finished index of six files, copied by each test."""
    return indexed_library(tmp_path_factory.mktemp("crash-base"), tiny_model, 6)


def copy_baseline(baseline: Path, dest: Path) -> tuple[Path, Path]:
    """Copy the baseline library and index, pointing the copy's store at the copied library.

    (Rewriting two path columns is quicker than indexing again for every test.)
    """
    import sqlite3

    shutil.copytree(baseline, dest, symlinks=True)
    old, new = str(baseline / "lib"), str(dest / "lib")
    con = sqlite3.connect(dest / "data" / "index.sqlite3")
    with con:
        con.execute("UPDATE folders SET path = ?", (new,))
        con.execute("UPDATE documents SET path = replace(path, ?, ?)", (old, new))
    con.close()
    (dest / "data" / "folders.json").write_text((dest / "data" / "folders.json").read_text().replace(old, new))
    return dest / "lib", dest / "data"


def _expected_paths(lib: Path) -> set[str]:
    return {str(p) for p in lib.iterdir()}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_9_then_resume_gives_the_full_index(point: str, baseline: Path, tmp_path: Path, tiny_model: Path) -> None:
    lib, data = copy_baseline(baseline, tmp_path / "w")
    # The killed run has new files to add, one to replace and one to delete.
    make_small_library(lib, 4, start=6)
    os.unlink(lib / "doc01.epub")
    from tests.conftest import make_pdf

    make_pdf(lib / "doc00.pdf", ["Rewritten: now about comets and nothing else."], title="Doc 0 v2")
    paused = start_paused(data, tiny_model, point, pause_dir=tmp_path / "pause")
    try:
        paused.kill()
    finally:
        paused.cleanup()
    assert paused.proc.returncode == -9

    out = run_cli(data, tiny_model, "index", "--no-progress", "--workers", "1")
    assert out.returncode == 0, out.stderr
    state = store_state(data)
    assert set(state["documents"]) == _expected_paths(lib)
    assert all(status == "indexed" for status, _ in state["documents"].values())
    import sqlite3

    con = sqlite3.connect(data / "index.sqlite3")
    titles = {r[0] for r in con.execute("SELECT title FROM documents")}
    con.close()
    assert "Doc 0 v2" in titles and "Doc 0" not in titles  # the rewritten file replaced its old version


def test_kill_during_the_first_ever_index_then_resume(tmp_path: Path, tiny_model: Path) -> None:
    lib = tmp_path / "lib"
    make_small_library(lib, 6)
    paused = start_paused(tmp_path / "data", tiny_model, "committing", str(lib), pause_dir=tmp_path / "pause")
    try:
        paused.kill()
    finally:
        paused.cleanup()
    out = run_cli(tmp_path / "data", tiny_model, "index", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert set(store_state(tmp_path / "data")["documents"]) == _expected_paths(lib)


@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_a_damaged_vector_file_is_rebuilt_from_stored_embeddings(damage: str, baseline: Path, tmp_path: Path,
                                                                   tiny_model: Path) -> None:
    _, data = copy_baseline(baseline, tmp_path / "w")
    before = store_state(data)["chunks"]
    hnsw = data / "vectors.hnsw"
    if damage == "missing":
        hnsw.unlink()
    else:
        hnsw.write_bytes(os.urandom(hnsw.stat().st_size))
    # A search must still work on the damaged cache (it rebuilds in memory)...
    hits = run_cli(data, tiny_model, "search", "--mode", "dense", "--json", "river")
    assert hits.returncode == 0 and hits.stdout.strip(), hits.stderr
    # ...and the next index run repairs the file without re-embedding anything.
    out = run_cli(data, tiny_model, "index", "--no-progress")
    assert out.returncode == 0 and "0 passages" in out.stdout, out.stdout + out.stderr
    assert store_state(data)["chunks"] == before


def test_a_corrupt_database_is_detected_and_rebuild_recovers(baseline: Path, tmp_path: Path,
                                                             tiny_model: Path) -> None:
    lib, data = copy_baseline(baseline, tmp_path / "w")
    db = data / "index.sqlite3"
    with open(db, "r+b") as fh:
        fh.write(b"this is not sqlite" * 8)
    for cmd in (["search", "river"], ["index", "--no-progress"]):
        out = run_cli(data, tiny_model, *cmd)
        assert out.returncode == 2, (cmd, out.returncode, out.stderr)
        assert "is damaged" in out.stderr and "desktop-search index --rebuild" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
    out = run_cli(data, tiny_model, "index", "--rebuild", "--no-progress")
    assert out.returncode == 0, out.stderr
    state = store_state(data)
    assert set(state["documents"]) == _expected_paths(lib)


def test_kill_while_writing_the_topk_index_then_resume(baseline: Path, tmp_path: Path, tiny_model: Path) -> None:
    """A top-k index written but not yet pointed at is never read; the next run builds it again."""
    lib, data = copy_baseline(baseline, tmp_path / "w")
    paused = start_paused(data, tiny_model, "topk-written", pause_dir=tmp_path / "pause", DESKTOP_SEARCH_TOPK_FROM="0")
    try:
        paused.kill()
    finally:
        paused.cleanup()
    assert paused.proc.returncode == -9
    assert not (data / "topk" / "current.json").exists()
    # Searching meanwhile: FTS5 answers.
    hits = run_cli(data, tiny_model, "search", "--mode", "keyword", "--json", "river", DESKTOP_SEARCH_TOPK_FROM="0")
    assert hits.returncode == 0 and hits.stdout.strip(), hits.stderr
    out = run_cli(data, tiny_model, "index", "--no-progress", DESKTOP_SEARCH_TOPK_FROM="0")
    assert out.returncode == 0, out.stderr
    pointer = json.loads((data / "topk" / "current.json").read_bytes())
    assert [p.name for p in (data / "topk").iterdir() if p.is_dir()] == [pointer["dir"]]  # the half-done one is gone
    again = run_cli(data, tiny_model, "search", "--mode", "keyword", "--json", "river", DESKTOP_SEARCH_TOPK_FROM="0")
    assert again.returncode == 0, again.stderr

    def passages(out: str) -> set[int]:
        return {json.loads(line)["chunk_id"] for line in out.splitlines() if line.strip()}

    assert passages(again.stdout) == passages(hits.stdout)  # the same passages, now from the top-k index
