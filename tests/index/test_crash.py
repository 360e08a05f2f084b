"""Crash consistency: kill -9 an indexing process mid-run, run it again, check the store."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop_search.paths import resolve_data_dir
from desktop_search.storage import Store, VectorIndex
from tests.conftest import REPO, make_pdf

N_FILES = 60


def count_documents(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0  # tables not created yet


def chunk_ids_by_path(db: Path) -> dict[str, list[int]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out: dict[str, list[int]] = {}
        for path, cid in conn.execute(
            "SELECT d.path, c.id FROM chunks c JOIN documents d ON d.id = c.document_id ORDER BY c.id"
        ):
            out.setdefault(path, []).append(cid)
        return out
    finally:
        conn.close()


@pytest.mark.timeout(600)
def test_kill_9_mid_index_then_resume(tmp_path: Path, tiny_model: Path) -> None:
    lib = tmp_path / "library"
    lib.mkdir()
    words = "the study measured outcomes in patients treated with the drug over twelve weeks".split()
    for i in range(N_FILES):
        pages = [" ".join(words[(i + p + k) % len(words)] for k in range(60)) + f" doc {i} page {p}." for p in range(12)]
        make_pdf(lib / f"paper {i:02d}.pdf", pages)
    data = tmp_path / "data"
    db = resolve_data_dir(data).database
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "desktop_search", "--data-dir", str(data), "--model", str(tiny_model),
           "--device", "cpu", "index", str(lib), "--max-tokens", "32", "--overlap", "4", "--no-progress"]

    proc = subprocess.Popen([*cmd, "--workers", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    assert proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + 300
    try:
        while count_documents(db) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        committed_at_kill = count_documents(db)
        os.killpg(proc.pid, signal.SIGKILL)  # the indexer and its extraction workers
    finally:
        proc.wait(30)
        proc.stdout.close()
        proc.stderr.close()
    if proc.returncode != -signal.SIGKILL:
        pytest.fail(f"the indexer ended (rc {proc.returncode}) before it could be killed; make the run longer")
    assert 0 < committed_at_kill < N_FILES, committed_at_kill

    before = chunk_ids_by_path(db)
    assert 0 < len(before) < N_FILES

    # Extraction workers are not part of the index settings; more make the resume quicker.
    rerun = subprocess.run([*cmd, "--workers", "2"], env=env, capture_output=True, text=True, timeout=400)
    assert rerun.returncode == 0, rerun.stderr
    assert "0 failed" in rerun.stdout

    after = chunk_ids_by_path(db)
    # Every file once; what was committed before the kill was kept, not re-embedded.
    assert len(after) == N_FILES
    for path, ids in before.items():
        assert after[path] == ids, path
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        assert conn.execute("SELECT count(*) FROM documents WHERE status = 'indexed'").fetchone()[0] == N_FILES
        dupes = conn.execute(
            "SELECT document_id, ordinal, count(*) FROM chunks GROUP BY document_id, ordinal HAVING count(*) > 1"
        ).fetchall()
        assert dupes == []
        gaps = conn.execute(
            "SELECT document_id FROM chunks GROUP BY document_id HAVING max(ordinal) + 1 != count(*)"
        ).fetchall()
        assert gaps == []
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()

    paths = resolve_data_dir(data)
    with Store(paths.database, readonly=True) as store:
        vectors = VectorIndex.open(paths, store, 32, writable=False)
        assert vectors.live_count == store.chunk_count()

    search = subprocess.run(
        [sys.executable, "-m", "desktop_search", "--data-dir", str(data), "--model", str(tiny_model), "--device", "cpu",
         "search", "doc 7 page 3", "--json", "--mode", "dense", "--top-k", "5"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert search.returncode == 0, search.stderr
    rows = [json.loads(line) for line in search.stdout.splitlines()]
    assert len({r["doc_rank"] for r in rows}) == 5 and all(r["page"] for r in rows)  # --top-k counts documents
