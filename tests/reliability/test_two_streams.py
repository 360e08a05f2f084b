"""Keyword-ready first, vectors behind: what a search sees mid-run, and kill -9 between the two commits."""
from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO
from tests.reliability.conftest import (
    PAUSE_WAIT_S,
    Paused,
    cli_env,
    make_small_library,
    run_cli,
    store_state,
)

# An index run with small batches, so one run commits several text and vector batches.
RUN_SMALL_BATCHES = (
    "import sys\n"
    "from desktop_search.index.indexer import IndexOptions, Indexer\n"
    "from desktop_search.paths import resolve_data_dir\n"
    "options = IndexOptions(model=sys.argv[2], device='cpu', batch_chunks=4, workers=1, flush_interval_s=0)\n"
    "Indexer(resolve_data_dir(sys.argv[1]), options).run(add=[sys.argv[3]])\n"
)


def start_small_batches(data: Path, model: Path, lib: Path, point: str, pause_dir: Path) -> Paused:
    pause_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_SMALL_BATCHES, str(data), str(model), str(lib)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
        env=cli_env(DESKTOP_SEARCH_PAUSE_AT=point, DESKTOP_SEARCH_PAUSE_DIR=str(pause_dir)),
    )
    name = point.split("@")[0]
    deadline = time.monotonic() + PAUSE_WAIT_S
    while not (pause_dir / f"{name}.reached").exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"indexer ended (rc {proc.returncode}) before {point}:\n{out!r}\n{err!r}")
        assert time.monotonic() < deadline, f"indexer never reached {point}"
        time.sleep(0.05)
    return Paused(proc, pause_dir, point)


def counts(data: Path) -> tuple[int, int, int]:
    """(documents with text committed, passages, passages with a vector)."""
    con = sqlite3.connect(data / "index.sqlite3")
    try:
        docs = con.execute("SELECT count(*) FROM documents WHERE status = 'indexed'").fetchone()[0]
        total, embedded = con.execute("SELECT count(*), count(embedding) FROM chunks").fetchone()
        return docs, total, embedded
    finally:
        con.close()


def test_files_are_keyword_searchable_while_embedding_waits(tmp_path: Path, tiny_model: Path) -> None:
    lib, data = tmp_path / "lib", tmp_path / "data"
    make_small_library(lib, 6)
    paused = start_small_batches(data, tiny_model, lib, "embedding", tmp_path / "pause")
    try:
        # The embedder is held at its first batch; the text stream goes on and commits every file.
        deadline = time.monotonic() + PAUSE_WAIT_S
        while counts(data)[0] < 6:
            assert time.monotonic() < deadline, "the text stream did not commit every file"
            time.sleep(0.1)
        docs, total, embedded = counts(data)
        assert (docs, embedded) == (6, 0) and total > 6

        status = json.loads(run_cli(data, tiny_model, "status", "--json").stdout)
        assert (status["documents"], status["chunks"], status["embedded"]) == (6, total, 0)
        # The running index's two counts, as its progress bar shows them.
        deadline = time.monotonic() + PAUSE_WAIT_S  # each status call imports torch: slow on a busy machine
        while (status["indexing"] or {}).get("files_done") != 6:
            assert time.monotonic() < deadline, status["indexing"]
            time.sleep(0.5)
            status = json.loads(run_cli(data, tiny_model, "status", "--json").stdout)
        running = status["indexing"]
        assert (running["files_total"], running["chunks_done"], running["chunks_total"]) == (6, 0, total)
        text = run_cli(data, tiny_model, "status").stdout
        assert "read 6/6 files" in text and f"embedded 0/{total} passages" in text, text

        hits = run_cli(data, tiny_model, "search", "--mode", "keyword", "--json", "glacier")
        assert hits.returncode == 0, hits.stderr
        assert any("doc04" in json.loads(line)["path"] for line in hits.stdout.splitlines())
        assert "still being embedded" not in hits.stderr  # keyword search lacks nothing

        for mode in ("hybrid", "dense"):
            hits = run_cli(data, tiny_model, "search", "--mode", mode, "--json", "glacier")
            assert hits.returncode == 0, hits.stderr
            assert f"{total:,} of {total:,} passages are still being embedded" in hits.stderr
            first = json.loads(hits.stdout.splitlines()[0])
            assert "doc04" in first["path"], (mode, first["path"])  # found by its words alone
        paused.kill()
    finally:
        paused.cleanup()

    out = run_cli(data, tiny_model, "index", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert f"0 passages, {total} embedded" in out.stdout, out.stdout
    assert store_state(data)["chunks"] == total
    hits = run_cli(data, tiny_model, "search", "--json", "glacier")
    assert "still being embedded" not in hits.stderr
    assert json.loads(run_cli(data, tiny_model, "status", "--json").stdout)["indexing"] is None


def test_kill_between_the_text_and_the_vector_commits_then_rerun(tmp_path: Path, tiny_model: Path) -> None:
    """Every passage ends with exactly one vector: none lost, none embedded twice."""
    lib, data = tmp_path / "lib", tmp_path / "data"
    make_small_library(lib, 6)
    # Killed inside the second vector transaction: the first batch's vectors are committed.
    paused = start_small_batches(data, tiny_model, lib, "committing-vectors@2", tmp_path / "pause")
    try:
        paused.kill()
    finally:
        paused.cleanup()
    _, total, embedded = counts(data)
    assert 0 < embedded < total

    out = run_cli(data, tiny_model, "index", "--no-progress")
    assert out.returncode == 0, out.stderr
    # Only the passages left without a vector are embedded, with those of any file the killed run never read.
    found = re.search(r"; (\d+) passages, (\d+) embedded", out.stdout)
    assert found, out.stdout
    new_passages, embedded_now = int(found[1]), int(found[2])
    assert embedded_now == total - embedded + new_passages, out.stdout
    state = store_state(data)  # every passage has a vector, and hnsw one live vector per passage
    assert state["chunks"] == total + new_passages
