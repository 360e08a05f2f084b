"""Hostile files: each costs at most its timeout, gets a clear reason, and spares the rest of the run."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from desktop_search.index.indexer import Indexer, IndexOptions
from desktop_search.ingest.pool import ExtractorPool
from desktop_search.search.searcher import Searcher
from tests.conftest import REPO, make_pdf
from tests.reliability.conftest import run_cli, store_state
from tests.reliability.hostile import make_hostile_library, write_huge_stream_pdf

TIMEOUT_S = 10.0

# file -> the reason a person reads (a regex); None = indexed; TIMEOUT_OR_INDEXED: depends on the
# machine's speed (huge markup takes seconds to parse), but never longer than the timeout.
TIMEOUT_OR_INDEXED = "timed out: took longer than 10 s to read"
EXPECTED = {
    "empty.pdf": r"^empty file$",
    "empty.epub": r"^empty file$",
    "random.pdf": r"^not a valid PDF \(damaged or wrong extension\)$",
    "random.epub": r"^not a valid EPUB \(damaged or wrong extension\)$",
    "truncated.pdf": r"^damaged PDF",
    "truncated.epub": r"^damaged EPUB: its zip archive is truncated or corrupt$",
    "no-container.epub": r"META-INF/container.xml is missing",
    "bomb.epub": r"zip bomb",
    "huge-stream.pdf": r"^too large to read safely|^timed out",
    "good.pdf": None,
    "good.epub": None,
    "deep.epub": None,
    "huge-html.epub": TIMEOUT_OR_INDEXED,
    "many-pages.pdf": None,
    "partly-broken.pdf": None,
    "newline.pdf": None,
    "non-utf8.pdf": None,
}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, zip_bomb: Path):
    from desktop_search.paths import resolve_data_dir

    root = tmp_path_factory.mktemp("hostile")
    files = make_hostile_library(root / "lib", bomb=zip_bomb)
    paths = resolve_data_dir(root / "data")
    indexer = Indexer(paths, IndexOptions(model=str(tiny_model), timeout_s=TIMEOUT_S, workers=2))
    start = time.monotonic()
    report = indexer.run([root / "lib"])
    return files, paths, report, time.monotonic() - start


def test_every_hostile_file_is_indexed_or_failed_with_a_clear_reason(hostile_run) -> None:
    files, paths, report, _ = hostile_run
    state = store_state(paths.root)
    docs = state["documents"]
    assert set(docs) == {str(p) for p in files.values()}, "a file was skipped silently or a non-file was indexed"
    for name, pattern in EXPECTED.items():
        status, error = docs[str(files[name])]
        if pattern is None or (pattern == TIMEOUT_OR_INDEXED and status == "indexed"):
            assert status == "indexed", (name, error)
        else:
            assert status == "failed" and re.search(pattern, error or ""), (name, status, error)
    assert {p for p, _ in report.failed} == {str(files[n]) for n in EXPECTED if docs[str(files[n])][0] == "failed"}


def test_partly_readable_pdf_keeps_its_good_pages(hostile_run) -> None:
    files, paths, _, _ = hostile_run
    status, error = store_state(paths.root)["documents"][str(files["partly-broken.pdf"])]
    assert status == "indexed" and error == "partly read: 1 of 3 pages could not be read (pages 2)"
    with Searcher(paths, model=None) as searcher:
        pages = {r.page for r in searcher.search("Page three is fine too", top_k=20, mode="keyword", per_document=0)
                 if r.path == str(files["partly-broken.pdf"])}
    assert pages == {1, 3}


def test_no_file_takes_longer_than_the_timeout(hostile_run) -> None:
    _, _, report, elapsed = hostile_run
    path, seconds = report.slowest
    assert seconds <= TIMEOUT_S + 2, (path, seconds)


def test_odd_file_names_round_trip_and_rescan_is_a_no_op(hostile_run, tiny_model: Path) -> None:
    files, paths, _, _ = hostile_run
    with Searcher(paths, model=None) as searcher:
        hits = {r.path for r in searcher.search("perfectly ordinary", top_k=50, mode="keyword", per_document=1)}
    assert str(files["non-utf8.pdf"]) in hits and str(files["newline.pdf"]) in hits
    assert os.path.exists(str(files["non-utf8.pdf"]))  # the stored path opens the very same file
    again = Indexer(paths, IndexOptions(model=str(tiny_model), timeout_s=TIMEOUT_S)).run()
    assert (again.added, again.updated, again.deleted, again.moved) == (0, 0, 0, 0)
    # Failed files are retried only when they change; everything else is unchanged.
    assert again.unchanged + len(again.failed) == len(files)


def test_cli_prints_non_utf8_names_without_crashing(hostile_run, tiny_model: Path) -> None:
    files, paths, _, _ = hostile_run
    out = run_cli(paths.root, tiny_model, "search", "--mode", "keyword", "--json", "-k", "50", "perfectly ordinary",
                  PYTHONIOENCODING="utf-8")
    assert out.returncode == 0, out.stderr
    import json

    got = {json.loads(line)["path"] for line in out.stdout.splitlines()}
    assert str(files["non-utf8.pdf"]) in got  # "\udce9" in the JSON decodes back to the same path
    status = run_cli(paths.root, tiny_model, "status", PYTHONIOENCODING="utf-8")
    assert status.returncode == 0 and "empty.pdf: empty file" in status.stdout


def test_a_slow_file_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    slow = write_huge_stream_pdf(tmp_path / "slow.pdf", inflated=70 * 10**6)  # under pypdf's limits: just slow
    good = make_pdf(tmp_path / "good.pdf", ["fine"])
    pool = ExtractorPool(workers=1, timeout_s=2.0)
    start = time.monotonic()
    results = {r.path: r for r in pool.imap_unordered([str(slow), str(good)])}
    assert time.monotonic() - start < 20
    assert results[str(slow)].error == "timed out: took longer than 2 s to read"
    assert results[str(good)].document is not None


def test_a_fifo_swapped_in_after_the_crawl_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "was-a-file.pdf"
    os.mkfifo(fifo)
    results = {r.path: r for r in ExtractorPool(workers=1, timeout_s=30).imap_unordered([str(fifo), str(tmp_path)])}
    assert results[str(fifo)].error == "not a regular file (a pipe, device or folder)"
    assert results[str(tmp_path)].error == "is a folder, not a file"
    assert all(r.seconds < 5 for r in results.values())


def test_memory_is_bounded_per_reader(tmp_path: Path) -> None:
    """A reader over its address-space limit loses that file, with a reason, and nothing else."""
    big = tmp_path / "big.pdf"
    with open(big, "wb") as fh:
        fh.truncate(700 * 1024**2)  # sparse: 700 MiB to read, nothing on disk
    good = make_pdf(tmp_path / "good.pdf", ["fine"])
    pool = ExtractorPool(workers=1, timeout_s=60, memory_limit=400 * 1024**2)
    results = {r.path: r for r in pool.imap_unordered([str(big), str(good)])}
    assert results[str(big)].error == "too large to read within the memory limit"
    assert results[str(good)].document is not None


def _unprivileged_read_reason(path: Path) -> str:
    """Read ``path`` through the pool as an unprivileged user (root ignores chmod 000)."""
    script = Path(tempfile.mkdtemp()) / "probe.py"
    # Everything is imported first: nobody cannot read root's Python install.
    script.write_text(
        "import os, sys\n"
        "from desktop_search.errors import ExtractionError\n"
        "from desktop_search.ingest.extract import extract_file\n"
        "from desktop_search.ingest.pool import read_and_extract\n"
        "os.setgid(65534)\n"
        "os.setuid(65534)\n"
        "try:\n"
        "    read_and_extract(sys.argv[1])\n"
        "except ExtractionError as exc:\n"
        "    print(exc)\n"
    )
    script.parent.chmod(0o755)
    script.chmod(0o644)
    out = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, cwd="/")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_unreadable_file_is_reported_as_permission_denied() -> None:
    folder = Path(tempfile.mkdtemp())
    folder.chmod(0o755)
    locked = make_pdf(folder / "locked.pdf", ["secret"])
    locked.chmod(0o000)
    if os.geteuid() != 0:
        reason = list(ExtractorPool(workers=1).imap_unordered([str(locked)]))[0].error
    else:
        # Root reads anything, so chmod alone proves nothing: read as "nobody".
        assert os.access(locked, os.R_OK)
        reason = _unprivileged_read_reason(locked)
    assert reason == "permission denied"


def test_files_deleted_rewritten_or_swapped_while_indexing(tmp_path: Path, tiny_model: Path) -> None:
    """Between the crawl and the read, files vanish, change, or turn into a FIFO."""
    from tests.reliability.conftest import make_small_library, start_paused

    lib, data = tmp_path / "lib", tmp_path / "data"
    make_small_library(lib, 4)
    paused = start_paused(data, tiny_model, "planned", str(lib), pause_dir=tmp_path / "pause")
    try:
        (lib / "doc00.pdf").unlink()
        make_pdf(lib / "doc02.pdf", ["Rewritten while queued: a new text about zeppelins, longer than before."],
                 title="Rewritten")
        (lib / "doc03.epub").unlink()
        os.mkfifo(lib / "doc03.epub")
        paused.resume()
        out, err = paused.proc.communicate(timeout=240)
    finally:
        paused.cleanup()
    assert paused.proc.returncode == 0, err
    out = out.decode()
    assert f"{lib / 'doc00.pdf'}: file disappeared before it could be read" in out
    assert f"{lib / 'doc03.epub'}: not a regular file (a pipe, device or folder)" in out
    state = store_state(data)
    assert state["documents"][str(lib / "doc02.pdf")] == ("indexed", None)
    again = run_cli(data, tiny_model, "index", "--no-progress")
    assert "0 new, 0 changed, 0 moved, 2 removed, 2 unchanged; 0 failed" in again.stdout, again.stdout
    assert set(store_state(data)["documents"]) == {str(lib / "doc01.epub"), str(lib / "doc02.pdf")}
    import sqlite3

    con = sqlite3.connect(data / "index.sqlite3")
    size, title = con.execute("SELECT size, title FROM documents WHERE path = ?", (str(lib / "doc02.pdf"),)).fetchone()
    con.close()
    assert (size, title) == ((lib / "doc02.pdf").stat().st_size, "Rewritten")
