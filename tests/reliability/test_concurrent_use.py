"""One writer at a time, readers any time, and ``index --watch``."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import make_pdf
from tests.reliability.conftest import (
    cli_args,
    cli_env,
    indexed_library,
    make_small_library,
    run_cli,
    start_paused,
    store_state,
)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    return indexed_library(tmp_path_factory.mktemp("conc"), tiny_model, 4)


def test_second_writer_is_told_the_index_is_busy_and_readers_still_search(indexed: Path, tiny_model: Path,
                                                                         tmp_path: Path) -> None:
    data, lib = indexed / "data", indexed / "lib"
    make_small_library(lib, 2, start=20)
    # The first writer holds the lock and sits inside an open write transaction.
    paused = start_paused(data, tiny_model, "committing", pause_dir=tmp_path / "pause")
    try:
        second = run_cli(data, tiny_model, "index", "--no-progress")
        assert second.returncode == 2
        assert "The index is busy" in second.stderr and "Traceback" not in second.stderr
        remove = run_cli(data, tiny_model, "remove", str(lib))
        assert remove.returncode == 2 and "The index is busy" in remove.stderr
        hits = run_cli(data, tiny_model, "search", "--json", "river")
        assert hits.returncode == 0, hits.stderr
        assert any("doc00.pdf" in json.loads(line)["path"] for line in hits.stdout.splitlines())
        status = run_cli(data, tiny_model, "status", "--json")
        assert status.returncode == 0 and json.loads(status.stdout)["documents"] == 4  # uncommitted work is invisible
    finally:
        paused.cleanup()
    assert paused.proc.returncode == 0
    assert len(store_state(data)["documents"]) == 6


def test_read_only_open_works_without_wal_files(indexed: Path, tiny_model: Path) -> None:
    data = indexed / "data"
    for suffix in ("-wal", "-shm"):
        assert not Path(str(data / "index.sqlite3") + suffix).exists()  # a clean close removes them
    assert sqlite3.connect(data / "index.sqlite3").execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    hits = run_cli(data, tiny_model, "search", "--mode", "keyword", "--json", "mountain")
    assert hits.returncode == 0 and hits.stdout.strip(), hits.stderr


def _wait_for(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def _paths(data: Path) -> set[str]:
    try:
        con = sqlite3.connect(f"file:{data / 'index.sqlite3'}?mode=ro", uri=True)
        try:
            return {os.fsdecode(r[0]) for r in con.execute("SELECT path FROM documents WHERE status = 'indexed'")}
        finally:
            con.close()
    except sqlite3.Error:
        return set()


def test_index_watch_picks_up_new_and_deleted_files(tmp_path: Path, tiny_model: Path) -> None:
    lib, data = tmp_path / "lib", tmp_path / "data"
    make_small_library(lib, 2)
    proc = subprocess.Popen(
        cli_args(data, tiny_model, "index", "--no-progress", "--workers", "1", "--watch", "--watch-interval", "0.5",
                 str(lib)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(), text=True,
    )
    try:
        assert _wait_for(lambda: len(_paths(data)) == 2, 120), "first pass never finished"
        new = make_pdf(lib / "late arrival.pdf", ["A file that arrives while watching, about kites."])
        assert _wait_for(lambda: str(new) in _paths(data), 30), "new file not indexed within 30 s"
        (lib / "doc00.pdf").unlink()
        assert _wait_for(lambda: str(lib / "doc00.pdf") not in _paths(data), 30), "deleted file not removed"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "Indexed 1 new" in out and "1 removed" in out
    state = store_state(data)
    assert set(state["documents"]) == {str(lib / "doc01.epub"), str(new)}
