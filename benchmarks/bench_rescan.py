"""A rescan of the 5,183-file SciFact library when nothing changed.

Setup (not timed): a fresh data dir whose store lists every library file with
the size and mtime the crawl sees, as an index run would have recorded them,
but with no chunks, so no embedding is needed. A no-change rescan never
touches chunks or vectors, so it does the same work as on a real index:
crawl, load the known documents, compare, commit nothing. ``--from-index DIR``
instead copies a real data dir (e.g. /tmp/scifact-index) and rescans that.

Timed: ``Indexer.run()`` in process (best and median of --repeat), and the
whole CLI command ``desktop-search index`` in a fresh interpreter. Baseline:
a bare ``os.walk`` + ``os.stat`` of the same tree, in the same run.

    PYTHONPATH=$PWD python benchmarks/bench_rescan.py
    PYTHONPATH=$PWD python benchmarks/bench_rescan.py --from-index /tmp/scifact-index
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import LIBRARY, REPO, machine_note
from desktop_search.embed.models import resolve_model
from desktop_search.index.indexer import Indexer, build_manifest
from desktop_search.ingest.chunking import ChunkSettings
from desktop_search.ingest.crawl import crawl
from desktop_search.ingest.extract import kind_of
from desktop_search.paths import DataPaths, resolve_data_dir
from desktop_search.storage import Store
from desktop_search.storage.records import DocumentRecord
from desktop_search.storage.schema import DocStatus


def synthetic_store(paths: DataPaths, library: Path) -> int:
    """A store that lists every file under ``library`` as indexed, without chunks."""
    with Store(paths.database) as store:
        folder = str(library.absolute())
        fid = store.add_folder(folder)
        store.check_manifest(build_manifest(resolve_model(None), ChunkSettings()))
        records = [
            DocumentRecord(path=f.path, folder_id=fid, kind=kind_of(f.path) or "pdf", size=f.size, mtime_ns=f.mtime_ns,
                           hash="", title=Path(f.path).stem, author=None, status=DocStatus.INDEXED, pages=1)
            for f in crawl(folder)
        ]
        for i in range(0, len(records), 1000):
            store.commit_documents(records[i : i + 1000])
        return len(records)


def walk_stat(root: Path) -> int:
    n = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            os.stat(os.path.join(folder, name))
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from-index", metavar="DIR", help="copy this data dir and rescan it instead of a synthetic store")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(f"machine: {machine_note()}")

    with tempfile.TemporaryDirectory(prefix="bench-rescan-") as tmp:
        paths = resolve_data_dir(Path(tmp) / "data")
        if args.from_index:
            for name in os.listdir(args.from_index):
                if name.endswith((".db", ".hnsw", ".json")) and not name.startswith("."):
                    shutil.copy2(os.path.join(args.from_index, name), paths.root / name)
            with Store(paths.database, readonly=True) as store:
                n_docs = len(store.known_documents())
            print(f"store: copy of {args.from_index} ({n_docs} documents)")
        else:
            n_docs = synthetic_store(paths, LIBRARY)
            print(f"store: synthetic, {n_docs} documents matching the files' size and mtime")

        # One untimed run: warms the page cache and writes what a first run writes.
        first = Indexer(paths).run()
        assert not (first.added or first.updated or first.deleted), "the store does not match the library"

        walk, scan = [], []
        for _ in range(args.repeat):  # interleaved, so load changes hit both alike
            t0 = time.perf_counter()
            n_files = walk_stat(LIBRARY)
            walk.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            report = Indexer(paths).run()
            scan.append(time.perf_counter() - t0)
            assert report.unchanged == n_docs and not report.added, report
        env = dict(os.environ, PYTHONPATH=str(REPO))
        cli = []
        for _ in range(max(1, args.repeat // 2)):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "desktop_search", "--data-dir", str(paths.root), "index", "--no-progress"],
                           check=True, env=env, stdout=subprocess.DEVNULL)
            cli.append(time.perf_counter() - t0)

    print(f"\nfiles in the tree: {n_files}; unchanged per rescan: {report.unchanged}")
    print(f"baseline os.walk + stat:        best {min(walk):.3f} s, median {statistics.median(walk):.3f} s")
    print(f"Indexer.run() rescan:           best {min(scan):.3f} s, median {statistics.median(scan):.3f} s  (target <= 2 s)")
    print(f"CLI `desktop-search index`:     best {min(cli):.3f} s, median {statistics.median(cli):.3f} s"
          " (fresh interpreter, imports included)")
    print(f"RATIO rescan / walk+stat (median): {statistics.median(scan) / statistics.median(walk):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
