"""Time until the SciFact library is keyword-searchable, from a cold start.

Starts a real ``desktop-search index`` process on a fresh data dir and polls
its database (read-only, as a searcher would) until every file's text is
committed; then runs one keyword search through the CLI to show it finds a
file, and stops the indexer (the embedding stream would go on for minutes).

Baseline in the same run: the extraction pool alone (same workers, reading
and chunking every file, nothing stored, no model), in this process; the
ratio says how much the app adds to the bare reading.

    PYTHONPATH=$PWD python benchmarks/bench_keyword_ready.py            # the whole library
    PYTHONPATH=$PWD python benchmarks/bench_keyword_ready.py -n 600
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import LIBRARY, REPO, library_files, link_library, machine_note, sqlite_ro
from desktop_search.embed.models import resolve_model
from desktop_search.ingest.chunking import ChunkJob, ChunkSettings
from desktop_search.ingest.pool import ExtractorPool


def committed(db: Path) -> int:
    """Files whose outcome (text, or failure) is committed."""
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM documents").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0  # not created yet


def keyword_ready(library: Path, n_files: int, data: Path, timeout_s: float) -> tuple[float, float, int]:
    """(seconds to keyword-ready, seconds to the first committed file, passages embedded by then)."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "desktop_search", "--data-dir", str(data), "index", "--no-progress",
                             str(library)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    first = None
    try:
        while True:
            n = committed(data / "index.sqlite3")
            now = time.perf_counter() - t0
            if n and first is None:
                first = now
            if n >= n_files:
                break
            if proc.poll() is not None:
                raise SystemExit(f"indexer ended early (rc {proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
            if now > timeout_s:
                raise SystemExit(f"not keyword-ready after {timeout_s:.0f} s ({n}/{n_files} files)")
            time.sleep(0.2)
        ready = time.perf_counter() - t0
        with sqlite_ro(data / "index.sqlite3") as con:
            embedded = con.execute("SELECT count(embedding) FROM chunks").fetchone()[0]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return ready, first or ready, embedded


def bare_reading(files: list[Path], workers: int | None) -> float:
    spec = resolve_model(None)
    job = ChunkJob(str(spec.path), ChunkSettings(min(ChunkSettings.max_tokens, spec.max_tokens)), spec.passage_prefix)
    t0 = time.perf_counter()
    pool = ExtractorPool(workers=workers, chunk_job=job)
    for _ in pool.imap_unordered([str(p) for p in files]):
        pass
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=None, help="first N SciFact files (default: all 5,183)")
    ap.add_argument("--timeout", type=float, default=900.0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    files = library_files(args.n)
    print(f"machine before: {machine_note()}")
    with tempfile.TemporaryDirectory(prefix="bench-kwready-") as tmp:
        library = LIBRARY if args.n is None else link_library(files, Path(tmp) / "library")
        ready, first, embedded = keyword_ready(library, len(files), Path(tmp) / "data", args.timeout)
        print(f"machine after the app: {machine_note()}")
        bare = bare_reading(files, None)
    print(f"machine after the baseline: {machine_note()}")
    print(f"\nfiles {len(files)}")
    print(f"desktop-search index, cold start -> first file keyword-searchable: {first:.1f} s")
    print(f"desktop-search index, cold start -> every file keyword-searchable: {ready:.1f} s "
          f"({len(files) / ready:.1f} files/s; {embedded} passages embedded by then)  target <= 90 s for the library")
    print(f"baseline: extraction pool alone (read + chunk, nothing stored, no model): {bare:.1f} s")
    print(f"RATIO keyword-ready / bare reading: {ready / bare:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
