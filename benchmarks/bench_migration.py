"""The format upgrade of a large index: a synthetic index of a released format, opened by this version.

Builds an index of N synthetic passages (about 150 English words and a 384-float16
vector each, 50 per document) in the tables a release wrote: the database of a
fixture (tests/storage/fixtures/<format>, made by that release) emptied and
filled, so the DDL, the full-text tables and their triggers are that release's
own. Then opens it with this version's ``Store``, which backs it up and
upgrades it, and prints the seconds of the backup and of each step (from the
``meta`` record), the WAL's peak size, the file sizes before and after, and
the machine's load. Baseline in the same run: a plain copy of the database
file, the floor for anything that reads all of it.

    PYTHONPATH=$PWD nice -n 10 python benchmarks/bench_migration.py --passages 200000 --format schema-2
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_note
from desktop_search.storage import Store, upgrade
from desktop_search.storage.schema import MetaKey, register_functions
from tests.storage.fixtures.make_fixtures import HERE as FIXTURES

PER_DOC = 50
WORDS = ("alice rabbit hole garden queen tea party cat grin mock turtle lobster quadrille trial tarts knave "
         "jury witness hatter hare dormouse caterpillar mushroom duchess baby pepper cook pig croquet flamingo "
         "hedgehog soldiers gardeners roses painted executioner king court sentence verdict evidence pool tears "
         "mouse caucus race dodo lory eaglet thimble prize bill lizard chimney cucumber frame puppy stick").split()


def build(db: Path, template: Path, n: int, seed: int = 0) -> None:
    """``n`` passages in the released format of ``template``, through its own triggers."""
    shutil.copyfile(template, db)
    rng = random.Random(seed)
    vec_rng = np.random.default_rng(seed)
    with closing(sqlite3.connect(db, isolation_level=None)) as con:
        register_functions(con)
        doc_cols = {r[1] for r in con.execute("PRAGMA table_info(documents)")}
        chunk_cols = {r[1] for r in con.execute("PRAGMA table_info(chunks)")}
        con.execute("BEGIN")
        con.execute("DELETE FROM chunks")
        con.execute("DELETE FROM documents")
        con.execute("DELETE FROM deleted_chunks")
        folder = con.execute("SELECT id FROM folders").fetchone()[0]
        extra_doc = [c for c in ("attempts", "lang") if c in doc_cols]
        extra_chunk = ["ocr"] if "ocr" in chunk_cols else []
        cid = 0
        for d in range(n // PER_DOC):
            values = [folder, f"/synthetic/{d:06d}.pdf", "pdf", 1000, 1, f"h{d}", f"Document {d}", None, "indexed",
                      None, PER_DOC, time.time()] + [1 if c == "attempts" else "latin" for c in extra_doc]
            cols = "folder_id, path, kind, size, mtime_ns, hash, title, author, status, error, pages, indexed_at"
            doc_id = con.execute(f"INSERT INTO documents ({', '.join([cols, *extra_doc])}) VALUES "
                                 f"({', '.join('?' * len(values))})", values).lastrowid
            vecs = vec_rng.normal(size=(PER_DOC, 384)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            rows = []
            for i in range(PER_DOC):
                cid += 1
                text = " ".join(rng.choices(WORDS, k=150)).capitalize() + "."
                rows.append([cid, doc_id, i, i + 1, None, None, None, 0, len(text), text,
                             vecs[i].astype(np.float16).tobytes()] + [0] * len(extra_chunk))
            cols = "id, document_id, ordinal, page, page_label, section, href, char_start, char_end, text, embedding"
            con.executemany(f"INSERT INTO chunks ({', '.join([cols, *extra_chunk])}) VALUES "
                            f"({', '.join('?' * len(rows[0]))})", rows)
        con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class Peak(threading.Thread):
    """The largest size a file reaches while it runs (sampled every 50 ms)."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.peak, self.done = path, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            try:
                self.peak = max(self.peak, self.path.stat().st_size)
            except FileNotFoundError:
                pass


def mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=200_000)
    parser.add_argument("--format", default="schema-2", help="a fixture under tests/storage/fixtures")
    parser.add_argument("--keep", type=Path, help="build the index here once and reuse it")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    work = Path(tempfile.mkdtemp(prefix="bench-migration-"))
    source = (args.keep or work) / f"{args.format}-{args.passages}.sqlite3"
    if not source.exists():
        source.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        build(source, FIXTURES / args.format / "data" / "index.sqlite3", args.passages)
        print(f"built {args.passages:,} passages in {args.format}'s tables: {time.perf_counter() - t0:.0f} s")
    data = work / "data"
    data.mkdir()
    db = data / "index.sqlite3"
    t0 = time.perf_counter()
    shutil.copyfile(source, db)
    copy_s = time.perf_counter() - t0
    size_before = db.stat().st_size

    timed = upgrade.make_backup
    backup_s = 0.0

    def make_backup(path: Path, backup: Path) -> None:
        nonlocal backup_s
        t = time.perf_counter()
        timed(path, backup)
        backup_s = time.perf_counter() - t

    upgrade.make_backup = make_backup  # timed here, otherwise unchanged
    print(machine_note())
    wal = Peak(Path(f"{db}-wal"))
    wal.start()
    t0 = time.perf_counter()
    with Store(db) as store:
        total = time.perf_counter() - t0
        steps = json.loads(store.get_meta(MetaKey.MIGRATIONS) or "[]")
        count = store.chunk_count()
    wal.done.set()
    wal.join()
    print(machine_note())
    print(f"{count:,} passages, {args.format}: upgrade {total:.1f} s = backup {backup_s:.1f} s + "
          + " + ".join(f"{s['from']} -> {s['to']} {s['seconds']:.1f} s" for s in steps)
          + " (+ checks, lock, WAL checkpoint)")
    backup = sum(p.stat().st_size for p in data.glob("index.sqlite3.bak-*"))
    print(f"database {mb(size_before)} -> {mb(db.stat().st_size)}, WAL peak {mb(wal.peak)}, backup {mb(backup)}")
    print(f"baseline: copying the database file {copy_s:.1f} s (upgrade / copy = {total / max(copy_s, 1e-9):.0f}x)")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
