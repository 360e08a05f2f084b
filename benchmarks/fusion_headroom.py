"""How far fusion of the same model's signals can lift SciFact hybrid nDCG@10 (issue 21).

The searcher fuses two rankings: the dense leg (cosine of the query's vector
with each passage's) and the keyword leg (bm25). This script asks what any
weighting of those two, and a few more signals from the same model, could
reach, so a target is weighed against a measured ceiling before code is
written for it. Per split it prints nDCG@10 for:

- the searcher's own hybrid ranking (the reference: what the CLI answers);
- the same fusion recomputed here with exact dense search (it must agree
  with the reference to within hnsw's misses), then each fixed dense weight
  from 0 to 1;
- the *oracle* per-query weight: each query fused with the weight that
  suits it best, an upper bound for any rule that picks the weight from the
  query or its scores (no rule reaches it; it shows the room there is);
- with ``--extra-dir``: the dense leg of another index of the same library
  (another ``--max-tokens``), alone, merged with this index's dense leg, and
  that merged leg fused with keyword;
- a whole-document bm25 leg (each file's passages as one row of an
  in-memory FTS5 table, the store's tokenizer), alone and as a third leg.

Examples::

    python benchmarks/fusion_headroom.py --data-dir /tmp/scifact-index
    python -m desktop_search --data-dir /tmp/scifact-64 index --max-tokens 64 --overlap 16 ../shared/corpora/scifact/library
    python benchmarks/fusion_headroom.py --data-dir /tmp/scifact-index --extra-dir /tmp/scifact-64
"""
from __future__ import annotations

import argparse
import itertools
import logging
import sqlite3
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import retrieval_eval
from desktop_search.ingest.chunking import strip_overlap
from desktop_search.paths import resolve_data_dir
from desktop_search.search.fusion import FusionSettings, fuse
from desktop_search.search.keyword import KeywordLeg
from desktop_search.search.query import fts_quote, keyword_terms, parse_query
from desktop_search.search.searcher import Searcher
from desktop_search.storage import Store
from desktop_search.storage.schema import FTS_TOKENIZE

WEIGHTS = [round(0.1 * i, 1) for i in range(11)]
Ranking = list[tuple[int, float]]  # (SciFact document id, score), best first


@dataclass
class Library:
    """One index of the library: its passages' vectors and text, and the SciFact document of each."""

    vectors: np.ndarray  # unit rows
    corpus: np.ndarray  # SciFact document id per row
    document_of: dict[int, int]  # chunk id -> SciFact document id
    texts: list[tuple[int, int, str]]  # (SciFact document id, ordinal, text) per passage
    pool: int  # passages a dense query takes

    @classmethod
    def load(cls, data_dir: str, pool: int) -> Library:
        with Store(resolve_data_dir(data_dir).database, readonly=True) as store:
            parts = list(store.iter_embeddings())
            ids = np.concatenate([p[0] for p in parts])
            rows = store.fetch_chunks(ids.tolist())
        vectors = np.concatenate([p[1] for p in parts]).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        document_of = {cid: int(retrieval_eval.corpus_id(str(row["path"]))) for cid, row in rows.items()}
        texts = [(document_of[cid], row["ordinal"], row["text"]) for cid, row in rows.items()]
        corpus = np.array([document_of[int(c)] for c in ids])
        return cls(vectors, corpus, document_of, texts, pool)

    def dense(self, query: np.ndarray) -> Ranking:
        """Each document's best passage by exact cosine, among the ``pool`` nearest passages."""
        sims = self.vectors @ query
        top = np.argpartition(-sims, self.pool)[: self.pool]
        out: dict[int, float] = {}
        for i in top[np.argsort(-sims[top])]:
            out.setdefault(int(self.corpus[i]), float(sims[i]))
        return list(out.items())


class DocumentBm25:
    """bm25 over whole documents: each file's passages (overlaps removed) as one FTS5 row."""

    def __init__(self, library: Library) -> None:
        parts: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for doc, ordinal, text in library.texts:
            parts[doc].append((ordinal, text))
        self.db = sqlite3.connect(":memory:")
        self.db.execute(f"CREATE VIRTUAL TABLE d USING fts5(body, tokenize=\"{FTS_TOKENIZE}\")")
        for doc, chunks in parts.items():
            chunks.sort()
            texts = [chunks[0][1]] + [strip_overlap(a, b) for (_, a), (_, b) in itertools.pairwise(chunks)]
            self.db.execute("INSERT INTO d(rowid, body) VALUES (?, ?)", (doc, " ".join(texts)))

    def search(self, text: str, k: int) -> Ranking:
        words = keyword_terms(parse_query(text), True)
        if not words:
            return []
        sql = "SELECT rowid, -bm25(d) FROM d WHERE d MATCH ? ORDER BY bm25(d) LIMIT ?"
        return [(int(r), float(s)) for r, s in self.db.execute(sql, (" OR ".join(map(fts_quote, words)), k))]


def fused(rankings: Sequence[Ranking], weights: Sequence[float]) -> list[int]:
    """The searcher's own fusion (min-max scaled scores, weighted sum) over document rankings."""
    docs = {doc for ranking in rankings for doc, _ in ranking}
    return [doc for doc, _ in fuse(rankings, weights, {d: d for d in docs}, FusionSettings(level="chunk"))]


def ndcg(ranked: Sequence[int], relevant: dict[str, int]) -> float:
    return retrieval_eval.metrics([str(d) for d in ranked], relevant)["nDCG@10"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="an index of the SciFact library (default settings)")
    parser.add_argument("--extra-dir", action="append", default=[],
                        help="another index of the same library (other --max-tokens): its dense leg as a further signal")
    parser.add_argument("--split", nargs="+", default=["train", "test"], choices=["train", "test"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    pool = FusionSettings().pool
    start = time.monotonic()
    base = Library.load(args.data_dir, pool)
    extras = {d: Library.load(d, pool) for d in args.extra_dir}
    for extra in extras.values():  # smaller passages: as many documents' worth of candidates
        extra.pool = pool * max(1, round(len(extra.corpus) / len(base.corpus)))
    documents = DocumentBm25(base)
    print(f"# {len(base.corpus)} passages in {args.data_dir}; "
          + "".join(f"{len(x.corpus)} in {d} (pool {x.pool}); " for d, x in extras.items())
          + f"loaded in {time.monotonic() - start:.0f} s", flush=True)
    with Searcher(resolve_data_dir(args.data_dir)) as searcher:
        keyword_leg = KeywordLeg(searcher.store)
        for split in args.split:
            qrels = retrieval_eval.load_qrels(split)
            queries = [(qid, text) for qid, text in retrieval_eval.load_queries(split) if qid in qrels]
            reference = retrieval_eval.mean_metrics(retrieval_eval.run_searcher(searcher, queries, "hybrid"), qrels)
            vectors = searcher.embedder.encode_queries([text for _, text in queries])
            rows: dict[str, list[float]] = defaultdict(list)
            for (qid, text), vec in zip(queries, vectors, strict=True):
                rel = qrels[qid]
                hits = keyword_leg.search(parse_query(text), pool, searcher.fusion).ranking
                keyword: dict[int, float] = {}
                for cid, score in hits:
                    keyword.setdefault(base.document_of[cid], score)
                kw, dense = list(keyword.items()), base.dense(vec)
                per_weight = [ndcg(fused([dense, kw], [w, 1 - w]), rel) for w in WEIGHTS]
                for w, value in zip(WEIGHTS, per_weight, strict=True):
                    rows[f"fused here, dense weight {w}"].append(value)
                rows["oracle: each query's best weight"].append(max(per_weight))
                whole = documents.search(text, pool)
                rows["whole-document bm25 alone"].append(ndcg([d for d, _ in whole], rel))
                rows["hybrid + whole-document bm25 (0.5/0.25/0.25)"].append(
                    ndcg(fused([dense, kw, whole], [0.5, 0.25, 0.25]), rel))
                for d, extra in extras.items():
                    other = extra.dense(vec)
                    rows[f"dense of {d} alone"].append(ndcg([doc for doc, _ in other], rel))
                    rows[f"dense + dense of {d}"].append(ndcg(fused([dense, other], [0.5, 0.5]), rel))
                    rows[f"hybrid, dense leg + dense of {d} (0.25/0.25/0.5)"].append(
                        ndcg(fused([dense, other, kw], [0.25, 0.25, 0.5]), rel))
            print(f"\n{split}: {len(queries)} queries")
            print(f"  {'searcher hybrid (reference, the CLI figure)':62} {reference['nDCG@10']:.4f}")
            for name, values in rows.items():
                print(f"  {name:62} {np.mean(values):.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
