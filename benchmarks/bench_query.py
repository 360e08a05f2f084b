"""Query latency by index size: query embedding + k-NN + SQLite fetch.

For each size (default 10k, 100k, 1M chunks) a synthetic data dir is built:
clustered unit vectors of the real model's dimension (384) in SQLite and in
the hnsw file, and chunk rows of ~500 characters of filler text, 4 chunks per
document. The full-text triggers are dropped in these synthetic stores (dense
search does not use them, and filling FTS for 1M rows would dominate the
setup). The real ``Searcher`` then answers the 300 SciFact test queries in
dense mode with the real default model on the CPU: p50/p95 of the whole call,
and of its parts.

Baselines in the same run: the query embedding alone (the floor no index can
beat) and exact k-NN (numpy matrix product over all vectors) for the same
queries.

Building the hnsw graph for 1M vectors with the project's ef_construction=200
takes about an hour on 2 shared cores, so the synthetic graphs use
--ef-construction 40 by default: query cost depends on M and ef (the project's
32 and 256, unchanged), not much on ef_construction, which mainly buys recall.

    PYTHONPATH=$PWD nice -n 10 python benchmarks/bench_query.py
    PYTHONPATH=$PWD python benchmarks/bench_query.py --sizes 10000 100000 --keep /tmp/bench-query
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SCIFACT, machine_note, percentiles
from desktop_search.embed.models import resolve_model
from desktop_search.index.indexer import build_manifest
from desktop_search.ingest.chunking import ChunkSettings
from desktop_search.paths import DataPaths, resolve_data_dir
from desktop_search.search.searcher import Searcher
from desktop_search.storage import Store, vectors as vectors_mod

CHUNKS_PER_DOC = 4
BLOCK = 50_000
WORDS = ("protein cell expression patients gene treatment risk clinical analysis receptor mice disease "
         "cancer response increased levels associated study tumor activity function role human results "
         "effect model signaling mechanism data observed reduced significantly trial cohort").split()


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def synthetic_vectors(rng: np.random.Generator, n: int, dim: int, centers: np.ndarray) -> np.ndarray:
    """Unit vectors around topic centres: closer to real embeddings than uniform noise."""
    x = centers[rng.integers(0, len(centers), n)] + 0.7 * rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def build(root: Path, n: int, ef_construction: int, seed: int = 0) -> DataPaths:
    """A data dir with ``n`` synthetic chunks, in SQLite and in a saved hnsw file."""
    paths = resolve_data_dir(root)
    if paths.vectors_meta.exists():
        return paths  # kept from an earlier run (--keep)
    spec = resolve_model(None)
    with Store(paths.database) as store:
        store.check_manifest(build_manifest(spec, ChunkSettings()))
        fid = store.add_folder("/synthetic")
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((max(64, n // 200), spec.dim), dtype=np.float32)
    words = np.array(WORDS)
    vectors_mod.EF_CONSTRUCTION = ef_construction
    index = vectors_mod.VectorIndex(spec.dim, capacity=n)
    con = sqlite3.connect(paths.database)
    con.execute("DROP TRIGGER IF EXISTS chunks_ai")
    now = time.time()
    n_docs = (n + CHUNKS_PER_DOC - 1) // CHUNKS_PER_DOC
    con.executemany(
        "INSERT INTO documents (id, folder_id, path, kind, size, mtime_ns, hash, title, status, pages, indexed_at) "
        "VALUES (?, ?, ?, 'pdf', 1000, 0, '', ?, 'indexed', 4, ?)",
        ((d, fid, f"/synthetic/doc-{d:07d}.pdf", f"Document {d}", now) for d in range(1, n_docs + 1)),
    )
    t0 = time.perf_counter()
    for start in range(0, n, BLOCK):
        m = min(BLOCK, n - start)
        vecs = synthetic_vectors(rng, m, spec.dim, centers)
        ids = np.arange(start + 1, start + m + 1, dtype=np.int64)
        texts = [" ".join(row) for row in words[rng.integers(0, len(words), (m, 70))]]
        blobs = vecs.astype(np.float16)
        con.executemany(
            "INSERT INTO chunks (id, document_id, ordinal, page, char_start, char_end, text, embedding) "
            "VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
            ((int(i), (int(i) - 1) // CHUNKS_PER_DOC + 1, (int(i) - 1) % CHUNKS_PER_DOC, 1, len(t), t, b.tobytes())
             for i, t, b in zip(ids, texts, blobs, strict=True)),
        )
        con.commit()
        index.add(ids, vecs)
        done = start + m
        print(f"  built {done}/{n} chunks ({done / (time.perf_counter() - t0):.0f}/s)", flush=True)
    con.close()
    index.save(paths)
    return paths


def exact_knn(matrix: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    scores = matrix @ q
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


def measure(paths: DataPaths, n: int, queries: list[str], top_k: int) -> dict[str, float]:
    searcher = Searcher(paths, device="cpu")
    searcher.embedder.encode_queries(["warm up"])  # model load is not query latency
    gc.collect()
    before = rss_bytes()
    t0 = time.perf_counter()
    searcher.refresh()  # loads the hnsw file
    load_s = time.perf_counter() - t0
    vec_mem = rss_bytes() - before
    for q in queries[:10]:
        searcher.search(q, top_k=top_k, mode="dense")
    pool = max(100, top_k * 20)  # what Searcher.search asks the index for
    total, embed, knn, fetch = [], [], [], []
    qvecs = []
    for q in queries:  # the whole call, then its parts, interleaved per query
        t0 = time.perf_counter()
        results = searcher.search(q, top_k=top_k, mode="dense")
        t1 = time.perf_counter()
        vec = searcher.embedder.encode_queries([q])[0]
        t2 = time.perf_counter()
        assert searcher.vectors is not None  # a dense search just ran
        ids, _ = searcher.vectors.search(vec, pool)
        t3 = time.perf_counter()
        searcher.store.fetch_chunks(ids[: max(2 * top_k, 50)].tolist())  # the first slice search reads
        t4 = time.perf_counter()
        assert len(results) == top_k
        total.append(t1 - t0)
        embed.append(t2 - t1)
        knn.append(t3 - t2)
        fetch.append(t4 - t3)
        qvecs.append(vec)
    searcher.close()
    del searcher
    gc.collect()
    # Baseline: exact k-NN over the same vectors.
    with Store(paths.database, readonly=True) as store:
        matrix = np.concatenate([v for _, v in store.iter_embeddings(block=100_000)])
    exact = []
    for vec in qvecs[:50]:
        t0 = time.perf_counter()
        exact_knn(matrix, vec, pool)
        exact.append(time.perf_counter() - t0)
    del matrix
    gc.collect()
    out = {"load_s": load_s, "vec_mem": vec_mem, "db_bytes": paths.database.stat().st_size,
           "hnsw_bytes": paths.vectors.stat().st_size}
    for name, samples in (("total", total), ("embed", embed), ("knn", knn), ("fetch", fetch), ("exact", exact)):
        for key, value in percentiles(samples).items():
            out[f"{name}_{key}"] = value
    return out


MS = 1000.0
HEADER = (f"{'chunks':>9} | {'search p50':>10} {'p95':>7} | {'embed p50':>9} | {'knn p50':>7} {'p95':>6} | "
          f"{'fetch p50':>9} | {'exact knn p50':>13} | {'search/embed':>12} | {'exact/hnsw':>10}")


def row_line(n: int, r: dict[str, float]) -> str:
    return (f"{n:>9} | {r['total_p50'] * MS:8.1f}ms {r['total_p95'] * MS:5.1f}ms | {r['embed_p50'] * MS:7.1f}ms | "
            f"{r['knn_p50'] * MS:5.1f}ms {r['knn_p95'] * MS:4.1f}ms | {r['fetch_p50'] * MS:7.1f}ms | "
            f"{r['exact_p50'] * MS:11.1f}ms | {r['total_p50'] / r['embed_p50']:11.2f}x | "
            f"{r['exact_p50'] / r['knn_p50']:9.1f}x")


def memory_line(n: int, r: dict[str, float]) -> str:
    per = 1e6 / n
    return (f"{n:>9} chunks: hnsw in RAM {r['vec_mem'] * per / 2**30:.2f} GiB/M (file {r['hnsw_bytes'] * per / 2**30:.2f} GiB/M, "
            f"loaded in {r['load_s']:.1f} s); SQLite {r['db_bytes'] * per / 2**30:.2f} GiB/M on disk "
            "(synthetic ~500-char chunks, no FTS)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--ef-construction", type=int, default=40)
    ap.add_argument("--top-k", type=int, default=10)
    ap.add_argument("--keep", metavar="DIR", help="build the synthetic data dirs here and reuse them next time")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(f"machine: {machine_note()}")
    queries = [json.loads(line)["text"] for line in (SCIFACT / "queries-test.jsonl").read_text().splitlines() if line.strip()]
    tmp = None
    if args.keep:
        base = Path(args.keep)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-query-")
        base = Path(tmp.name)
    rows = []
    try:
        for n in args.sizes:
            print(f"size {n}: building (ef_construction {args.ef_construction}) …", flush=True)
            t0 = time.perf_counter()
            paths = build(base / f"n{n}-efc{args.ef_construction}", n, args.ef_construction)
            print(f"size {n}: ready in {time.perf_counter() - t0:.0f} s; querying", flush=True)
            rows.append((n, measure(paths, n, queries, args.top_k)))
            print(HEADER + "\n" + row_line(*rows[-1]) + "\n" + memory_line(*rows[-1]), flush=True)
    finally:
        if tmp is not None:
            tmp.cleanup()

    print(f"\n{len(queries)} SciFact test queries, dense mode, top {args.top_k}, the model on CPU")
    print(HEADER)
    for n, r in rows:
        print(row_line(n, r))
    print("\nmemory and disk (per million chunks):")
    for n, r in rows:
        print(memory_line(n, r))
    print("targets: search p50 <= 30 ms at 100k, p95 <= 50 ms at 1M")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
