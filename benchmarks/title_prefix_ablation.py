"""What should the model embed for a passage? Dense SciFact train, a subset.

Three inputs for the same passages: "title\\n" + passage always; the same
unless the passage opens with the title already (``chunking.embedding_text``,
what the index embeds); the passage alone. Reads an index for its passages,
takes train queries whose judged documents are all in it (up to
``--queries``) and ``--distractors`` other documents, embeds those documents'
passages each way, and scores them with exact search and per-document max
(what the Searcher's dense mode does, minus the approximate hnsw step).

    python benchmarks/title_prefix_ablation.py --data-dir /tmp/scifact-index --queries 300 --distractors 1500
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop_search.embed.embedder import Embedder
from desktop_search.embed.models import resolve_model
from desktop_search.ingest.chunking import embedding_text
from desktop_search.paths import resolve_data_dir
from desktop_search.storage import Store
from retrieval_eval import corpus_id, load_qrels, load_queries, mean_metrics, rank_documents


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="an index of the SciFact library")
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--distractors", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    paths = resolve_data_dir(args.data_dir, create=False)
    with Store(paths.database, readonly=True) as store, store.engine.connect() as conn:
        manifest = store.manifest()
        assert manifest is not None, "not an index"
        rows = conn.exec_driver_sql(
            "SELECT d.path, d.title, c.text FROM chunks c JOIN documents d ON d.id = c.document_id"
        ).all()
    indexed = {corpus_id(r[0]) for r in rows}

    qrels = load_qrels("train")
    queries = [(qid, t) for qid, t in load_queries("train") if qid in qrels and set(qrels[qid]) <= indexed]
    queries = queries[: args.queries]
    judged = {doc for qid, _ in queries for doc in qrels[qid]}
    others = sorted(indexed - judged)
    keep = judged | set(random.Random(args.seed).sample(others, min(args.distractors, len(others))))
    rows = [r for r in rows if corpus_id(r[0]) in keep]
    docs = [corpus_id(r[0]) for r in rows]
    print(f"# {len(queries)} train queries, {len(keep)} documents ({len(judged)} judged), {len(rows)} passages")

    spec = resolve_model(manifest.model_id)
    embedder = Embedder(spec, device="cpu")
    inputs = {
        "title always": [(r[1] + "\n" if r[1] else "") + r[2] for r in rows],
        "unless repeated": [embedding_text(r[1], r[2], title_prefix=True) for r in rows],
        "passage only": [r[2] for r in rows],
    }
    qvecs = embedder.encode_queries([t for _, t in queries])
    sub_qrels = {qid: qrels[qid] for qid, _ in queries}
    print("variant           nDCG@10   R@10  R@100  MRR@10  tokens   seconds")
    for name, texts in inputs.items():
        tokens = sum(len(x) for x in embedder.tokenizer(texts, truncation=True, max_length=spec.max_tokens)["input_ids"])
        start = time.monotonic()
        vecs = embedder.encode_passages(texts)
        took = time.monotonic() - start
        runs = {qid: rank_documents(qv, vecs, docs) for (qid, _), qv in zip(queries, qvecs, strict=True)}
        m = mean_metrics(runs, sub_qrels)
        print(f"{name:<16} {m['nDCG@10']:.4f}  {m['R@10']:.4f} {m['R@100']:.4f} {m['MRR@10']:.4f}  {tokens:7d}  {took:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
