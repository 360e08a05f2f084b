"""Retrieval quality on SciFact: nDCG@10, Recall@10, Recall@100 and MRR@10 per mode.

Indexes ``../shared/corpora/scifact/library`` (or a subset of it) into a data
dir, reusing the index when the dir already holds one, then runs the train or
test queries through the same :class:`~desktop_search.search.searcher.Searcher` the CLI
and the GUI use. Metrics are at document level: a result's corpus-id is the
number before the first space in its file name.

Examples::

    # the full library, all modes, both splits (index built once, then reused)
    python benchmarks/retrieval_eval.py --data-dir /tmp/scifact-index --split train test

    # fusion settings side by side, tuned on train
    python benchmarks/retrieval_eval.py --data-dir /tmp/scifact-index --split train --modes hybrid \\
        --fusion default= --fusion plain-rrf=level=chunk,pool=100 --fusion convex=method=convex,dense_weight=0.6

    # chunking settings side by side: one data dir each, on a subset
    python benchmarks/retrieval_eval.py --data-dir /tmp/sub-title --subset 150 --distractors 1000
    python benchmarks/retrieval_eval.py --data-dir /tmp/sub-notitle --subset 150 --distractors 1000 --no-title-prefix

    # check that `desktop-search search --queries --json --mode M` gives the same numbers
    python benchmarks/retrieval_eval.py --data-dir /tmp/scifact-index --split test --check-cli
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from desktop_search.ingest.chunking import ChunkSettings
from desktop_search.paths import DataPaths, resolve_data_dir
from desktop_search.search.fusion import FusionSettings
from desktop_search.search.searcher import MODES, Searcher

SCIFACT = REPO.parent / "shared" / "corpora" / "scifact"
LIBRARY = SCIFACT / "library"
DEPTH = 100  # results fetched per query: enough for Recall@100


# -- data ---------------------------------------------------------------------------


def corpus_id(path: str) -> str:
    """The SciFact doc id of a library file: the number before the first space."""
    return Path(path).name.split(" ", 1)[0]


def load_queries(split: str) -> list[tuple[str, str]]:
    with open(SCIFACT / f"queries-{split}.jsonl", encoding="utf-8") as fh:
        return [(str(o["id"]), str(o["text"])) for o in map(json.loads, filter(str.strip, fh))]


def load_qrels(split: str) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(SCIFACT / f"qrels-{split}.tsv", encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or not parts[2].lstrip("-").isdigit():
                continue  # the header
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def subset_library(target: Path, n_queries: int, distractors: int, seed: int = 0,
                   split: str = "train") -> tuple[Path, list[str]]:
    """A folder of symlinks: every judged document of the first ``n_queries``
    queries of ``split`` plus ``distractors`` random others. Returns it and those query ids."""
    qrels = load_qrels(split)
    qids = [qid for qid, _ in load_queries(split) if qid in qrels][:n_queries]
    judged = {doc for qid in qids for doc in qrels[qid]}
    files = sorted(p for p in LIBRARY.rglob("*") if p.suffix in (".pdf", ".epub"))
    chosen = [p for p in files if corpus_id(p.name) in judged]
    rest = [p for p in files if corpus_id(p.name) not in judged]
    chosen += random.Random(seed).sample(rest, min(distractors, len(rest)))
    target.mkdir(parents=True, exist_ok=True)
    for p in chosen:
        link = target / p.name
        if not link.exists():
            link.symlink_to(p)
    return target, qids


# -- metrics ------------------------------------------------------------------------


def metrics(ranked: Sequence[str], relevant: dict[str, int]) -> dict[str, float]:
    """nDCG@10 (graded gains as in pytrec_eval), Recall@10/@100 and MRR@10 for one query."""
    gains = [relevant.get(doc, 0) for doc in ranked]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:10]) if g > 0)
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal) if g > 0)
    n_rel = sum(1 for g in relevant.values() if g > 0)
    first = next((i for i, g in enumerate(gains[:10]) if g > 0), None)
    return {
        "nDCG@10": dcg / idcg if idcg else 0.0,
        "R@10": sum(1 for g in gains[:10] if g > 0) / n_rel if n_rel else 0.0,
        "R@100": sum(1 for g in gains[:100] if g > 0) / n_rel if n_rel else 0.0,
        "MRR@10": 1.0 / (first + 1) if first is not None else 0.0,
    }


def mean_metrics(runs: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Averages over every judged query; a query with no results scores 0."""
    per_query = [metrics(runs.get(qid, []), rel) for qid, rel in qrels.items()]
    return {k: sum(m[k] for m in per_query) / len(per_query) for k in per_query[0]} if per_query else {}


def rank_documents(q: Any, vecs: Any, docs: Sequence[str], depth: int = 100) -> list[str]:
    """Documents by their best passage under exact search (what dense search ranks, minus hnsw)."""
    best: dict[str, float] = {}
    for doc, s in zip(docs, (vecs @ q).tolist(), strict=True):
        if s > best.get(doc, -2.0):
            best[doc] = s
    return sorted(best, key=best.__getitem__, reverse=True)[:depth]


def dedupe(docs: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(docs))


# -- running ------------------------------------------------------------------------


class CachingEmbedder:
    """Wraps the query model so repeated runs over the same queries embed them once."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.cache: dict[str, Any] = {}

    def encode_queries(self, texts: Sequence[str]) -> Any:
        import numpy as np

        missing = [t for t in texts if t not in self.cache]
        if missing:
            for t, v in zip(missing, self.inner.encode_queries(missing), strict=True):
                self.cache[t] = v
        return np.stack([self.cache[t] for t in texts])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def ensure_index(paths: DataPaths, library: Path, chunking: ChunkSettings, model: str | None = None) -> None:
    """Index ``library`` unless ``paths`` already holds an index (any settings)."""
    from desktop_search.index.indexer import Indexer, IndexOptions
    from desktop_search.storage import Store

    if paths.database.exists():
        Store(paths.database).close()  # brings an older index's keyword tables up to date
        with Store(paths.database, readonly=True) as store:
            manifest, stats = store.manifest(), store.stats()
        if manifest is not None and stats["documents"]:
            print(f"# reusing {paths.root}: {stats['documents']} documents, {stats['chunks']} passages, "
                  f"max_tokens={manifest.max_tokens} overlap={manifest.overlap_tokens} "
                  f"title_prefix={manifest.title_prefix}", file=sys.stderr)
            return
    print(f"# indexing {library} into {paths.root} ({chunking})", file=sys.stderr)
    start = time.monotonic()
    report = Indexer(paths, IndexOptions(chunking=chunking, model=model)).run([library])
    print(f"# indexed {report.added} files, {report.chunks} passages, {len(report.failed)} failed "
          f"in {time.monotonic() - start:.0f} s", file=sys.stderr)


def indexed_ids(paths: DataPaths) -> set[str]:
    from desktop_search.storage import Store

    with Store(paths.database, readonly=True) as store:
        with store.engine.connect() as conn:
            return {corpus_id(r[0]) for r in conn.exec_driver_sql("SELECT path FROM documents WHERE status = 'indexed'")}


def run_searcher(searcher: Searcher, queries: Sequence[tuple[str, str]], mode: str,
                 alone: bool = False) -> dict[str, list[str]]:
    """Document-level rankings: each result document once, in its rank (its further passages do not count).

    The queries are embedded in one batch first, as `search --queries` does:
    in bf16 a query's vector depends, in its last digits, on the batch it
    was embedded in, and the CLI check compares rankings exactly. ``alone``:
    each is embedded on its own, as a query typed in the window or one
    `search` is (in int8 a vector depends on its batch: activations are
    quantised per batch).
    """
    if mode != "keyword" and not alone:
        searcher.prepare([text for _, text in queries])
    return {
        qid: [corpus_id(d.best.path) for d in searcher.search_documents(text, top_k=DEPTH, mode=mode)]
        for qid, text in queries
    }


def run_cli(data_dir: Path, queries: Sequence[tuple[str, str]], mode: str) -> dict[str, list[str]]:
    """The same queries through `desktop-search search --queries FILE --json --mode M`."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as fh:
        for qid, text in queries:
            fh.write(json.dumps({"id": qid, "text": text}) + "\n")
        qfile = fh.name
    try:
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        out = subprocess.run(
            [sys.executable, "-m", "desktop_search", "--data-dir", str(data_dir), "search", "--queries", qfile,
             "--json", "--mode", mode, "-k", str(DEPTH)],
            check=True, capture_output=True, text=True, env=env,
        ).stdout
    finally:
        os.unlink(qfile)
    # Rows come grouped (a document's passages together, `doc_rank` counting documents):
    # the document order is the order of first appearance.
    runs: dict[str, list[str]] = {}
    for line in out.splitlines():
        r = json.loads(line)
        runs.setdefault(r["query_id"], []).append(corpus_id(r["path"]))
    return {qid: dedupe(docs) for qid, docs in runs.items()}


def fmt_row(cells: Sequence[Any], widths: Sequence[int]) -> str:
    return "  ".join(str(c).ljust(w) if i < 3 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="index here, or reuse the index already here")
    parser.add_argument("--split", nargs="+", default=["train", "test"], choices=["train", "test"])
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--fusion", action="append", default=[], metavar="NAME=SPEC",
                        help='a named FusionSettings variant, e.g. "convex=method=convex,dense_weight=0.6"; '
                             '"default=" is the shipped defaults (repeatable)')
    parser.add_argument("--subset", type=int, default=0, metavar="N",
                        help="index only the judged documents of the first N queries of --subset-split "
                             "(plus --distractors) and evaluate those queries")
    parser.add_argument("--distractors", type=int, default=1000)
    parser.add_argument("--subset-split", choices=["train", "test"], default="train",
                        help="whose queries --subset takes (default train, where settings are tuned)")
    parser.add_argument("--only-indexed", action="store_true",
                        help="evaluate only queries whose judged documents are all in the index "
                             "(for a partial index, e.g. a snapshot taken while indexing)")
    parser.add_argument("--max-tokens", type=int, default=ChunkSettings.max_tokens)
    parser.add_argument("--overlap", type=int, default=ChunkSettings.overlap_tokens)
    parser.add_argument("--no-title-prefix", action="store_true")
    parser.add_argument("--check-cli", action="store_true",
                        help="also run each mode through the CLI and require identical figures")
    parser.add_argument("--queries-alone", action="store_true",
                        help="embed each query on its own, as one typed in the window, not in one batch (int8)")
    parser.add_argument("--json", metavar="FILE", help="write every figure as JSON too")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    paths = resolve_data_dir(args.data_dir)
    library, subset_qids = LIBRARY, None
    if args.subset:
        library, subset_qids = subset_library(Path(str(paths.root) + ".library"), args.subset, args.distractors,
                                              split=args.subset_split)
    ensure_index(paths, library, ChunkSettings(args.max_tokens, args.overlap, not args.no_title_prefix))

    variants: list[tuple[str, FusionSettings]] = []
    for spec in args.fusion or ["default="]:
        name, _, rest = spec.partition("=")
        variants.append((name, FusionSettings.parse(rest)))

    embedder = None
    results: list[dict[str, Any]] = []
    cols = ["split", "mode", "fusion", "queries", "nDCG@10", "R@10", "R@100", "MRR@10", "q/s"]
    widths = [5, 7, 12, 7, 7, 6, 6, 6, 6]
    print(fmt_row(cols, widths))
    for split in args.split:
        if embedder is not None:
            # A fresh cache per split: two test queries are train queries too, and a vector
            # from the train batch differs in its last digits from the one the CLI's test batch gives.
            embedder = CachingEmbedder(embedder.inner)
        qrels = load_qrels(split)
        queries = [(qid, text) for qid, text in load_queries(split) if qid in qrels]
        if subset_qids is not None:
            if split != args.subset_split:
                continue
            keep = set(subset_qids)
            queries = [q for q in queries if q[0] in keep]
            qrels = {qid: qrels[qid] for qid in subset_qids}
        if args.only_indexed:
            have = indexed_ids(paths)
            qrels = {qid: rel for qid, rel in qrels.items() if set(rel) <= have}
            queries = [q for q in queries if q[0] in qrels]
        for mode in args.modes:
            # Dense ignores the settings (but the pool): it runs once, with the first.
            for name, fusion in variants if mode != "dense" else variants[:1]:
                with Searcher(paths, embedder=embedder, fusion=fusion, threads=1) as searcher:  # as the CLI does
                    if embedder is None and mode != "keyword":
                        embedder = CachingEmbedder(searcher.embedder)
                        searcher._embedder = embedder
                    start = time.monotonic()
                    runs = run_searcher(searcher, queries, mode, args.queries_alone)
                    rate = len(queries) / max(time.monotonic() - start, 1e-9)
                m = mean_metrics(runs, qrels)
                label = name if mode != "dense" else "-"
                print(fmt_row([split, mode, label, len(queries), *(f"{m[k]:.4f}" for k in cols[4:8]), f"{rate:.0f}"],
                              widths), flush=True)
                results.append({"split": split, "mode": mode, "fusion": name, "settings": fusion.__dict__,
                                "queries": len(queries), **m})
                if args.check_cli and name == variants[0][0]:
                    cli = mean_metrics(run_cli(paths.root, queries, mode), qrels)
                    same = all(abs(cli[k] - m[k]) < 1e-9 for k in m)
                    print(fmt_row([split, mode, "(CLI)", len(queries), *(f"{cli[k]:.4f}" for k in cols[4:8]),
                                   "same" if same else "DIFF"], widths), flush=True)
                    results.append({"split": split, "mode": mode, "fusion": "(CLI)", **cli, "same": same})
                    if not same:
                        print("error: the CLI's figures differ from the Searcher's", file=sys.stderr)
                        return 1
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
