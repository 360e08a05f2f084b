"""Engine acceptance on a 400-file SciFact slice, with the real default model.

Indexes a temporary copy of 400 library files (every judged document of the
first 60 train queries, the rest seeded filler) into a temporary data dir, then
reports:

- recall@10 of the judged documents over the 60 queries (dense mode, through
  the same ``Searcher`` the CLI uses; target >= 0.90);
- the fraction of result rows that carry a page or a section (target 1.0);
- a no-change rescan's time as a fraction of the first index's time, both
  measured in this run (target <= 10%);
- that a deleted file is gone from the results after the next index.

Run from the repository root:

    PYTHONPATH=$PWD nice -n 10 python benchmarks/engine_acceptance.py

Timings depend on the machine and its load; read the ratio, not the seconds.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from desktop_search.index.indexer import Indexer, IndexOptions
from desktop_search.paths import resolve_data_dir
from desktop_search.search.searcher import Searcher
from tests.conftest import SCIFACT, scifact_doc_id, scifact_slice


def recall_at_k(searcher: Searcher, queries: list[dict], qrels: dict[str, set[str]], k: int) -> tuple[float, list]:
    """Mean fraction of each query's judged documents found in its top ``k``."""
    per_query = []
    rows = []
    for q in queries:
        results = searcher.search(q["text"], top_k=k, mode="dense")
        rows.extend(results)
        found = {scifact_doc_id(r.path) for r in results}
        judged = qrels[q["id"]]
        per_query.append(len(found & judged) / len(judged))
    return sum(per_query) / len(per_query), rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--workers", type=int, default=None, help="extraction processes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not SCIFACT.is_dir():
        print(f"SciFact corpus not found at {SCIFACT}", file=sys.stderr)
        return 2

    queries, qrels, files = scifact_slice(args.queries, args.files)
    with tempfile.TemporaryDirectory(prefix="ds-accept-") as tmp:
        library = Path(tmp) / "library"
        for f in files:
            dest = library / f.relative_to(SCIFACT / "library")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
        paths = resolve_data_dir(Path(tmp) / "data")
        options = IndexOptions(workers=args.workers)

        t0 = time.perf_counter()
        first = Indexer(paths, options).run([library])
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        rescan = Indexer(paths, options).run()
        t_rescan = time.perf_counter() - t0

        with Searcher(paths) as searcher:
            recall, rows = recall_at_k(searcher, queries, qrels, 10)
            located = sum(1 for r in rows if r.page is not None or r.section) / max(1, len(rows))

            # Delete a judged document that the first query finds, then re-index.
            q = queries[0]
            hits = searcher.search(q["text"], top_k=10, mode="dense")
            victim = next(r.path for r in hits if scifact_doc_id(r.path) in qrels[q["id"]])
        Path(victim).unlink()
        after = Indexer(paths, options).run()
        with Searcher(paths) as searcher:
            gone_from_query = all(r.path != victim for r in searcher.search(q["text"], top_k=10, mode="dense"))
            gone_everywhere = all(
                r.path != victim
                for qq in queries
                for r in searcher.search(qq["text"], top_k=50, mode="dense", per_document=0)
            )

    print(f"slice: {len(files)} files ({sum(f.suffix == '.pdf' for f in files)} PDF, "
          f"{sum(f.suffix == '.epub' for f in files)} EPUB), {len(queries)} train queries, "
          f"{sum(len(v) for v in qrels.values())} judged documents")
    print(f"first index: {first.added} added, {len(first.failed)} failed, {first.chunks} chunks, {t_first:.1f} s "
          f"({first.added / t_first:.2f} files/s, {first.chunks / t_first:.1f} chunks/s, model load included)")
    print(f"recall@10 (dense, judged docs): {recall:.3f}   target >= 0.90   {'PASS' if recall >= 0.90 else 'FAIL'}")
    print(f"result rows with page or section: {located:.3f} of {len(rows)}   target 1.0   "
          f"{'PASS' if located == 1.0 else 'FAIL'}")
    ratio = t_rescan / t_first
    print(f"no-change rescan: {t_rescan:.2f} s = {100 * ratio:.1f}% of first index "
          f"({rescan.unchanged} unchanged, {rescan.added + rescan.updated} re-indexed)   target <= 10%   "
          f"{'PASS' if ratio <= 0.10 and rescan.added + rescan.updated == 0 else 'FAIL'}")
    ok = after.deleted == 1 and gone_from_query and gone_everywhere
    print(f"deleted file: index reported {after.deleted} removed; gone from results: {gone_from_query and gone_everywhere}   "
          f"{'PASS' if ok else 'FAIL'}")
    if first.failed:
        for path, error in first.failed[:10]:
            print(f"  failed: {path}: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
