"""Full disk, read-only data dir, privacy and safety of what a document can do."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_epub, make_pdf
from tests.reliability.conftest import make_small_library, run_cli, store_state


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
                          capture_output=True).returncode == 0


@pytest.fixture
def tmpfs(tmp_path: Path):
    where = tmp_path / "fs"
    if not _mount_tmpfs(where, "3m"):
        pytest.skip("needs root and mount to make a small file system (full-disk and read-only tests)")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return filler


def test_full_disk_gives_a_clear_error_and_no_corruption(tmpfs: Path, tmp_path: Path, tiny_model: Path) -> None:
    lib, data = tmp_path / "lib", tmpfs / "data"
    make_small_library(lib, 2)
    assert run_cli(data, tiny_model, "index", "--no-progress", "--workers", "1", str(lib)).returncode == 0
    make_small_library(lib, 4, start=10)
    for p in list(lib.iterdir())[:4]:  # a bigger second batch
        make_pdf(lib / f"big-{p.stem}.pdf", [f"Page {i} of filler text about {p.stem}. " * 40 for i in range(30)])
    filler = _fill(tmpfs)
    out = run_cli(data, tiny_model, "index", "--no-progress", "--workers", "1")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "is full" in out.stderr and "Traceback" not in out.stderr, out.stderr
    filler.unlink()
    out = run_cli(data, tiny_model, "index", "--no-progress", "--workers", "1")
    assert out.returncode == 0, out.stderr
    assert set(store_state(data)["documents"]) == {str(p) for p in lib.iterdir()}


def test_read_only_data_dir_gives_a_clear_error_and_search_still_works(tmpfs: Path, tmp_path: Path,
                                                                       tiny_model: Path) -> None:
    lib, data = tmp_path / "lib", tmpfs / "data"
    make_small_library(lib, 2)
    assert run_cli(data, tiny_model, "index", "--no-progress", "--workers", "1", str(lib)).returncode == 0
    assert subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)]).returncode == 0
    make_small_library(lib, 1, start=5)
    out = run_cli(data, tiny_model, "index", "--no-progress")
    assert out.returncode == 2 and "Cannot write" in out.stderr and "Traceback" not in out.stderr, out.stderr
    hits = run_cli(data, tiny_model, "search", "--mode", "keyword", "--json", "river")
    assert hits.returncode == 0 and hits.stdout.strip(), hits.stderr
    subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)
    assert len(store_state(data)["documents"]) == 2


def test_an_older_index_in_a_read_only_data_dir_says_how_to_upgrade_it(tmpfs: Path, tmp_path: Path,
                                                                       tiny_model: Path) -> None:
    import shutil

    from tests.storage.legacy import copy_fixture

    fx = copy_fixture("schema-2", tmp_path / "copy")
    data = tmpfs / "data"
    shutil.copytree(fx.paths.root, data)
    before = (data / "index.sqlite3").read_bytes()
    assert subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)]).returncode == 0
    try:
        for cmd in (["status"], ["search", "--mode", "keyword", "rabbit"], ["index", "--no-progress"]):
            out = run_cli(data, tiny_model, *cmd)
            assert out.returncode == 2 and "Traceback" not in out.stderr, (cmd, out.stderr)
            assert "read-only" in out.stderr or "Cannot write" in out.stderr, (cmd, out.stderr)
        assert "older version of desktop-search (schema 2 (2b))" in run_cli(data, tiny_model, "status").stderr
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)
    assert (data / "index.sqlite3").read_bytes() == before


def test_data_dir_and_index_files_are_owner_only(tmp_path: Path, tiny_model: Path) -> None:
    lib, data = tmp_path / "lib", tmp_path / "fresh" / "data"
    make_small_library(lib, 2)
    old = os.umask(0o022)
    try:
        assert run_cli(data, tiny_model, "index", "--no-progress", str(lib)).returncode == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("index.sqlite3", "vectors.hnsw", "vectors.json", "writer.lock", "folders.json"):
        mode = stat.S_IMODE((data / name).stat().st_mode)
        assert mode & 0o077 == 0, f"{name} is {oct(mode)}"


def test_offline_by_default() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    code = "import desktop_search.embed.embedder, os; print(os.environ['HF_HUB_OFFLINE'], os.environ['TRANSFORMERS_OFFLINE'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.split() == ["1", "1"], out.stderr


def test_nothing_in_a_document_runs_or_chooses_where_files_go(tmp_path: Path, tiny_model: Path) -> None:
    lib, data = tmp_path / "lib", tmp_path / "data"
    lib.mkdir()
    canary = tmp_path / "pwned"
    make_epub(lib / "scripted.epub", [("../../../pwned", "Plain words about lanterns.")],
              title=f"../../{canary.name}", author="/tmp/evil")
    make_pdf(lib / "named.pdf", ["Words about lanterns too."], title=str(canary))
    before = sorted(p.name for p in tmp_path.iterdir())
    out = run_cli(data, tiny_model, "index", "--no-progress", str(lib))
    assert out.returncode == 0, out.stderr
    assert not canary.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before + ["data"])
    assert {p.name for p in data.iterdir()} <= {"index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm",
                                               "vectors.hnsw", "vectors.json", "writer.lock", "folders.json",
                                               "settings.json"}
    hits = run_cli(data, tiny_model, "search", "--mode", "keyword", "--json", "-k", "20", "do not index me")
    texts = [json.loads(line)["text"] for line in hits.stdout.splitlines()]
    assert not any("do not index me" in t for t in texts)  # <script> content is dropped, never run
