"""The whole program on a big generated library: index, query, memory, disk, window start, rescan.

A library of long PDFs and EPUBs (50 passages a file by default; see
``scale_library.py``) is written by the benchmark itself and indexed through
the real pipeline (``Indexer``: crawl, extraction pool, chunking, keyword
stream, vector stream) with a **stand-in embedder** (hashed word vectors, not
a model): every figure but the model's own is measured. The real default
model's rate is measured in the same run on a sample of the passages, in fp32
and bf16, and the vector graph's insert rate is compared with 3x the faster.

Each phase runs in a process of its own, so its memory peak is its own:

- ``index``: seconds by stage, CPU seconds, resident memory sampled every few
  seconds (with the hnsw graph's share, to show the rest stays flat);
- ``embed``: the real model, fp32 and bf16, passages per second (wall and CPU);
- ``hnsw``: inserts into the full-size graph (wall and CPU), and recall@10
  against exact search (numpy, over every stored vector);
- ``search``: ``Searcher`` latency per mode (p50/p95) with the stand-in's query
  vectors, keyword searches for the middle of a word (no whole word matches:
  the vocabulary's words that hold it are searched), then hybrid with the real
  model embedding each query, and the query embedding alone; the process's
  memory peak;
- ``window``: a real window process (offscreen, start-up probe) from start
  until it is shown and until its first answer to a query comes back;
- ``rescan``: a second ``desktop-search index`` over the unchanged library.

One JSON object ends the output. Figures in seconds are wall time on a
shared machine: the load average is recorded next to each phase, and rates
are given per CPU second too.

    PYTHONPATH=$PWD nice -n 5 python benchmarks/bench_scale.py --passages 100000 --keep /work/scale-data/k100k
    PYTHONPATH=$PWD nice -n 5 python benchmarks/bench_scale.py --passages 1000000 --keep /work/scale-data/k1m
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, percentiles, sqlite_ro
from desktop_search.paths import DataPaths, resolve_data_dir
from scale_library import (
    DIM,
    LibrarySpec,
    StandInEmbedder,
    WordSource,
    cpu_seconds,
    descendants,
    generate,
    process_cpu_s,
    queries,
    rss_mb,
    tree_rss_mb,
    vocabulary,
    words_for_parts,
)

MS = 1000.0
SAMPLE_EVERY_S = 5.0
MODES = ("keyword", "dense", "hybrid")


def load_note() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass(frozen=True)
class Dirs:
    """The generated library and its data dir, side by side under one base, so ``--keep`` reuses both."""

    library: Path
    data: Path

    @property
    def paths(self) -> DataPaths:
        return resolve_data_dir(self.data)

    @property
    def index_results(self) -> Path:
        return self.data / "bench-index.json"


# -- index ----------------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Resident memory of this process and its extraction workers, every few seconds, with the run's counts."""

    def __init__(self, counts: dict[str, float]) -> None:
        super().__init__(daemon=True)
        self.counts = counts
        self.samples: list[dict[str, float]] = []
        self.worker_cpu: dict[int, float] = {}  # the workers' CPU seconds, as last seen (they are not our children)
        self.stop = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        per_vector = hnsw_bytes_per_vector()
        while not self.stop.wait(SAMPLE_EVERY_S):
            for pid in descendants():
                self.worker_cpu[pid] = max(self.worker_cpu.get(pid, 0.0), process_cpu_s(pid))
            embedded = self.counts.get("embedded", 0)
            self.samples.append({
                "t": round(time.monotonic() - start, 1), "files": self.counts.get("files", 0),
                "committed": self.counts.get("committed", 0), "embedded": embedded,
                "rss_mb": round(rss_mb(), 1), "workers_rss_mb": round(tree_rss_mb() - rss_mb(), 1),
                "hnsw_mb": round(embedded * per_vector / 2**20, 1),
            })


def hnsw_bytes_per_vector() -> int:
    """Memory an hnswlib element takes at level 0 (vector, 2M links and their count, label) plus its lock."""
    from desktop_search.storage import vectors

    return 384 * 4 + 2 * vectors.M * 4 + 4 + 8 + 40


def phase_index(dirs: Dirs) -> dict[str, Any]:
    """Index the library with the stand-in embedder; seconds by stage, memory samples."""
    from desktop_search.index.indexer import Indexer, IndexOptions
    from desktop_search.index.progress import Phase, Progress

    embedder = StandInEmbedder()
    counts: dict[str, float] = {}
    marks: dict[str, float] = {}
    start = time.monotonic()

    def on_progress(p: Progress) -> None:
        now = time.monotonic() - start
        if p.phase == Phase.INDEXING:
            counts.update(files=p.files_done, committed=p.chunks_total, embedded=p.chunks_done)
            marks.setdefault("plan", now)
            if p.files_total and p.files_done >= p.files_total:
                marks.setdefault("read", now)
        elif p.phase in (Phase.SAVING, Phase.DONE):
            marks.setdefault(p.phase.value, now)

    sampler = Sampler(counts)
    sampler.start()
    cpu0 = cpu_seconds()
    report = Indexer(dirs.paths, IndexOptions(device="cpu"), embedder=embedder, on_progress=on_progress).run(
        add=[str(dirs.library)])
    wall = time.monotonic() - start
    sampler.stop.set()
    sampler.join()
    t = report.timings
    plan = marks.get("plan", 0.0)
    read = marks.get("read", plan)
    saving = marks.get("saving", wall)
    return {
        "files": report.added, "failed": len(report.failed), "passages": report.chunks, "embedded": report.embedded,
        "index_s": round(wall, 1),
        "index_s_by_stage": {  # wall seconds of the run's consecutive parts
            "crawl_plan_and_first_file": round(plan, 1), "reading_until_keyword_searchable": round(read - plan, 1),
            "vectors_after_reading": round(saving - read, 1), "saving": round(wall - saving, 1),
        },
        "stage_seconds_summed": {k: round(v, 1) for k, v in sorted(t.items())},  # overlapping, summed over threads
        "cpu_s": {"main_process": round(cpu_seconds() - cpu0, 1),
                  "extraction_workers_approx": round(sum(sampler.worker_cpu.values()), 1)},
        "hnsw_add_s": round(t.get("hnsw", 0.0), 1),
        "hnsw_insert_per_s_in_run": round(report.embedded / t["hnsw"], 1) if t.get("hnsw") else None,
        "rss_mb_index_peak": round(rss_mb(field="VmHWM"), 1),
        "rss_samples": thin(sampler.samples, 24),
        "load": load_note(),
    }


def thin(samples: list[dict[str, float]], n: int) -> list[dict[str, float]]:
    """At most ``n`` samples, evenly spread, the last one kept."""
    if len(samples) <= n:
        return samples
    picks = np.linspace(0, len(samples) - 1, n).round().astype(int)
    return [samples[i] for i in sorted(set(picks.tolist()))]


# -- the real model -------------------------------------------------------------------------


def sample_passages(paths: DataPaths, n: int, seed: int = 0) -> list[str]:
    """``n`` stored passages at random, as the index embeds them (title line first)."""
    from desktop_search.ingest.chunking import embedding_text

    with sqlite_ro(paths.database) as con:
        top = con.execute("SELECT max(id) FROM chunks").fetchone()[0] or 0
        ids = np.random.default_rng(seed).choice(np.arange(1, top + 1), min(n, top), replace=False)
        rows = con.execute(f"SELECT c.text, d.title FROM chunks c JOIN documents d ON d.id = c.document_id "
                           f"WHERE c.id IN ({','.join(map(str, ids.tolist()))})").fetchall()
    return [embedding_text(title, text, True) for text, title in rows]


def phase_embed(dirs: Dirs, n: int) -> dict[str, Any]:
    """The real default model on ``n`` stored passages, fp32 and int8 (ONNX Runtime), then bf16 where the torch
    extra is installed, as the index run calls it."""
    from desktop_search.embed.embedder import Embedder, Precision
    from desktop_search.embed.hardware import torch_installed
    from desktop_search.embed.models import resolve_model

    texts = sample_passages(dirs.paths, n)
    out: dict[str, Any] = {"sample": len(texts), "load": load_note()}
    for precision in (Precision.FP32, Precision.INT8, *([Precision.BF16] if torch_installed() else [])):
        embedder = Embedder(resolve_model(None), device="cpu", precision=precision)
        embedder.encode_passages(texts[:8])  # first-call costs
        t0, c0 = time.perf_counter(), cpu_seconds()
        embedder.encode_passages(texts)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        out[precision.value] = {"per_s": round(len(texts) / wall, 2), "per_cpu_s": round(len(texts) / cpu, 2)}
        del embedder
    return out


# -- the vector graph -----------------------------------------------------------------------


def phase_hnsw(dirs: Dirs, n_queries: int, n_insert: int) -> dict[str, Any]:
    """Recall@10 of the saved graph against exact search, then inserts into it at full size."""
    from desktop_search.search.fusion import FusionSettings
    from desktop_search.storage import Store, VectorIndex, vectors

    embedder = StandInEmbedder()
    qvecs = embedder.encode_queries(queries(n_queries))
    paths = dirs.paths
    with Store(paths.database, readonly=True) as store:
        t0 = time.perf_counter()
        index = VectorIndex.open(paths, store, DIM, writable=False)
        load_s = time.perf_counter() - t0
        # Exact top 10 by a full scan, block by block.
        best_s = np.full((len(qvecs), 10), -np.inf, dtype=np.float32)
        best_i = np.zeros((len(qvecs), 10), dtype=np.int64)
        t0 = time.perf_counter()
        read_s = 0.0
        blocks = store.iter_embeddings(block=100_000)
        while True:
            t1 = time.perf_counter()
            block = next(blocks, None)
            read_s += time.perf_counter() - t1
            if block is None:
                break
            ids, vecs = block
            scores = qvecs @ vecs.T
            s = np.concatenate([best_s, scores], axis=1)
            i = np.concatenate([best_i, np.broadcast_to(ids, scores.shape)], axis=1)
            top = np.argpartition(-s, 10, axis=1)[:, :10]
            best_s, best_i = np.take_along_axis(s, top, 1), np.take_along_axis(i, top, 1)
        exact_s = (time.perf_counter() - t0 - read_s) / len(qvecs)
    recall_k10, recall_pool = [], []
    for q, truth in zip(qvecs, best_i, strict=True):
        got, _ = index.search(q, 10)
        recall_k10.append(len(set(got.tolist()) & set(truth.tolist())) / 10)
        pool, _ = index.search(q, FusionSettings().pool)  # what the searcher's dense leg asks for
        recall_pool.append(len(set(pool[:10].tolist()) & set(truth.tolist())) / 10)
    with tempfile.TemporaryDirectory(dir=dirs.data) as tmp:  # the same disk as the index
        t0 = time.perf_counter()
        index.save(resolve_data_dir(tmp))
        save_s = time.perf_counter() - t0
    # Inserts at full size: new passages' vectors, in the vector stream's batches.
    src = WordSource(vocabulary(), 0)
    rng = np.random.default_rng(7)
    texts = [" ".join(src.sentences(rng, int(rng.integers(0, 2000)), 19)) for _ in range(n_insert)]
    new = embedder.encode_passages(texts)
    ids = np.arange(index.max_id + 1, index.max_id + 1 + n_insert, dtype=np.int64)
    t0, c0 = time.perf_counter(), cpu_seconds()
    for at in range(0, n_insert, 512):
        index.add(ids[at : at + 512], new[at : at + 512])
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    return {
        "vectors": index.live_count, "M": index._index.M, "ef_construction": index._index.ef_construction,
        "ef_search": f"max({vectors.EF_SEARCH}, {vectors.EF_PER_RESULT} x results asked, vectors / {vectors.VECTORS_PER_EF})",
        "ef_searcher": vectors.search_ef(FusionSettings().pool, index.live_count), "load_s": round(load_s, 2),
        # The top 10 of what the searcher's dense leg asks for (its pool), as the searcher asks for it.
        "recall_at_10": round(float(np.mean(recall_pool)), 4),
        "recall_at_10_asking_10": round(float(np.mean(recall_k10)), 4),  # a query for 10 alone (ef 256)
        "exact_search_ms_per_query": round(exact_s * MS, 1),
        "inserted": n_insert, "insert_per_s": round(n_insert / wall, 1), "insert_per_cpu_s": round(n_insert / cpu, 1),
        "save_s": round(save_s, 1), "read_stored_vectors_s": round(read_s, 1),
        # A file that cannot be used is rebuilt from SQLite: every stored vector read and inserted.
        "rebuild_estimate_s": round(read_s + index.live_count / (n_insert / wall), 0),
        "rebuild_estimate_cpu_s": round(index.live_count / (n_insert / cpu), 0),
        "load": load_note(),
    }


# -- searching ------------------------------------------------------------------------------


class QueryTimer:
    """The real model embeds each query (so its time counts), the stand-in's vector is searched (so results mean something)."""

    def __init__(self, real: Any, stand_in: StandInEmbedder) -> None:
        self.real, self.stand_in = real, stand_in
        self.spec, self.device, self.precision, self.name = real.spec, real.device, real.precision, real.name
        self.timings = real.timings

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        self.real.encode_queries(texts)
        return self.stand_in.encode_queries(texts)

    def encode_passages(self, texts: list[str], ids: list[np.ndarray | None] | None = None) -> np.ndarray:
        return self.stand_in.encode_passages(texts, ids)


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def phase_search(dirs: Dirs, n_queries: int) -> dict[str, Any]:
    """Searcher latency per mode over the same queries, interleaved; then with the real query model."""
    from desktop_search.embed.embedder import Embedder
    from desktop_search.embed.models import resolve_model
    from desktop_search.search.searcher import Searcher

    texts = queries(n_queries, seed=2)
    stand_in = StandInEmbedder()
    out: dict[str, Any] = {"queries": len(texts)}
    t0 = time.perf_counter()
    searcher = Searcher(dirs.paths, embedder=stand_in, device="cpu")
    searcher.refresh()
    out["open_s"] = round(time.perf_counter() - t0, 2)
    for q in texts[:10]:
        searcher.search(q, mode="hybrid")
    samples: dict[str, list[float]] = {m: [] for m in MODES}
    cpu: dict[str, list[float]] = {m: [] for m in MODES}  # the query runs on this thread: SQLite and hnswlib too
    found = {m: 0 for m in MODES}
    for i, q in enumerate(texts):
        for mode in MODES[i % 3 :] + MODES[: i % 3]:  # rotate the order, so drift hits every mode alike
            t1, c1 = time.perf_counter(), time.thread_time()
            found[mode] += bool(searcher.search_documents(q, mode=mode))
            cpu[mode].append(time.thread_time() - c1)
            samples[mode].append(time.perf_counter() - t1)
    for mode in MODES:
        p, c = percentiles(samples[mode]), percentiles(cpu[mode])
        out[mode] = {"p50_ms": round(p["p50"] * MS, 1), "p95_ms": round(p["p95"] * MS, 1),
                     "cpu_p50_ms": round(c["p50"] * MS, 1), "cpu_p95_ms": round(c["p95"] * MS, 1),
                     "answered": found[mode]}
    # The baseline, in the same run: keyword and hybrid with FTS5 alone, as before the top-k index.
    out["topk_index"] = dirs.paths.topk.exists()
    if out["topk_index"]:
        fts5 = Searcher(dirs.paths, embedder=stand_in, device="cpu", topk_index=False)
        fts5.refresh()
        for mode in ("keyword", "hybrid"):
            times = [timed(partial(fts5.search_documents, q, mode=mode)) for q in texts]
            p = percentiles(times)
            out[f"{mode}_fts5_only"] = {"p50_ms": round(p["p50"] * MS, 1), "p95_ms": round(p["p95"] * MS, 1)}
        fts5.close()
    # Parts of words (a word's middle, as "schifffahrt" in Donaudampfschifffahrt): no whole word
    # matches, so the keyword leg looks for the words that hold them.
    inside = [w[2:-2] for w in words_for_parts(n_queries)]
    times = []
    found_inside = 0
    for piece in inside:
        t1 = time.perf_counter()
        found_inside += bool(searcher.search_documents(piece, mode="keyword"))
        times.append(time.perf_counter() - t1)
    p = percentiles(times)
    out["keyword_inside_words"] = {"p50_ms": round(p["p50"] * MS, 1), "p95_ms": round(p["p95"] * MS, 1),
                                   "answered": found_inside, "queries": len(inside), "examples": inside[:3]}
    out["load_stand_in"] = load_note()
    # The same hybrid queries with the real model embedding each one, and the embedding alone.
    real = Embedder(resolve_model(None), device="cpu", threads=1)
    real.encode_queries(["warm up"])
    searcher.close()
    searcher = Searcher(dirs.paths, embedder=QueryTimer(real, stand_in), device="cpu")  # type: ignore[arg-type]  # a TextEmbedder
    searcher.refresh()
    with_model, embed_only = [], []
    for q in texts:
        with_model.append(timed(partial(searcher.search_documents, q, mode="hybrid")))
        embed_only.append(timed(partial(real.encode_queries, [q])))
    searcher.close()
    pm, pe = percentiles(with_model), percentiles(embed_only)
    out["hybrid_with_model"] = {"p50_ms": round(pm["p50"] * MS, 1), "p95_ms": round(pm["p95"] * MS, 1)}
    out["query_embedding_alone"] = {"p50_ms": round(pe["p50"] * MS, 1), "p95_ms": round(pe["p95"] * MS, 1)}
    out["rss_mb_search_peak"] = round(rss_mb(field="VmHWM"), 1)
    out["load"] = load_note()
    return out


# -- the window and the rescan ----------------------------------------------------------------


def app_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def phase_window(dirs: Dirs, runs: int) -> dict[str, Any]:
    """A real window process: seconds from its start until shown, and until a first answer to a query is shown."""
    from desktop_search.gui.app import PROBE_ENV, PROBE_QUERY_ENV

    query = queries(1, seed=3)[0]
    env = app_env(**{PROBE_ENV: "1", PROBE_QUERY_ENV: query})
    shown, answered, cpu, lines = [], [], [], []
    for _ in range(runs):
        start = time.time()
        proc = subprocess.run([sys.executable, "-m", "desktop_search", "--data-dir", str(dirs.data)], env=env,
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"the window failed:\n{proc.stderr[-3000:]}")
        probe = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        shown.append(probe[0]["shown_at"] - start)
        answer = next(p for p in probe if "answered_at" in p)
        answered.append(answer["answered_at"] - start)
        cpu.append(answer["cpu_s"])
        lines.append(answer)
    return {"query": query, "shown_s": round(statistics.median(shown), 2),
            "window_ready_s": round(statistics.median(answered), 2),
            "window_ready_cpu_s": round(statistics.median(cpu), 2), "runs": runs,
            "answers": lines, "load": load_note()}


def phase_rescan(dirs: Dirs, runs: int) -> dict[str, Any]:
    """``desktop-search index`` over the unchanged library: the command's wall time, and the plan's parts in process."""
    from desktop_search.index.indexer import Indexer
    from desktop_search.index.plan import plan_run
    from desktop_search.ingest.crawl import crawl
    from desktop_search.storage import Store

    cli = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "desktop_search", "--data-dir", str(dirs.data), "index",
                               "--no-progress"], env=app_env(), capture_output=True, text=True, timeout=3600)
        cli.append(time.perf_counter() - t0)
        if proc.returncode != 0 or " 0 new, 0 changed" not in proc.stdout:
            raise RuntimeError(f"the rescan did work or failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    paths = dirs.paths
    walk = timed(lambda: sum(1 for _ in crawl(dirs.library)))
    with Store(paths.database) as store:
        known = timed(store.known_documents)
        plan = timed(lambda: plan_run(store))
    run = timed(lambda: Indexer(paths).run())
    return {"rescan_s": round(statistics.median(cli), 2), "cli_runs_s": [round(x, 2) for x in cli],
            "in_process": {"crawl_s": round(walk, 2), "known_documents_s": round(known, 2), "plan_s": round(plan, 2),
                           "indexer_run_s": round(run, 2)},
            "load": load_note()}


# -- driving the phases -----------------------------------------------------------------------


PHASES: dict[str, Callable[[Dirs, argparse.Namespace], dict[str, Any]]] = {
    "index": lambda d, a: phase_index(d),
    "embed": lambda d, a: phase_embed(d, a.embed_sample),
    "hnsw": lambda d, a: phase_hnsw(d, a.queries, a.inserts),
    "search": lambda d, a: phase_search(d, a.queries),
    "window": lambda d, a: phase_window(d, a.window_runs),
    "rescan": lambda d, a: phase_rescan(d, a.rescan_runs),
}


def run_phase(name: str, dirs: Dirs, args: argparse.Namespace) -> dict[str, Any]:
    """One phase in a fresh process: its memory peak is its own."""
    print(f"[{time.strftime('%H:%M:%S')}] {name} (load {load_note()}) …", file=sys.stderr, flush=True)
    cmd = [sys.executable, __file__, "--phase", name, "--library", str(dirs.library), "--data", str(dirs.data),
           "--queries", str(args.queries), "--inserts", str(args.inserts), "--embed-sample", str(args.embed_sample),
           "--window-runs", str(args.window_runs), "--rescan-runs", str(args.rescan_runs)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=app_env(), stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"phase {name} failed (exit {proc.returncode})")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["phase_s"] = round(time.perf_counter() - t0, 1)
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {json.dumps(result)[:400]}", file=sys.stderr, flush=True)
    return result


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def summary(args: argparse.Namespace, spec: LibrarySpec, dirs: Dirs, gen_s: float | None,
            r: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The run's JSON object: the headline figures first, then every phase's own."""
    index, embed, hnsw, search = r["index"], r["embed"], r["hnsw"], r["search"]
    passages = index["passages"]
    fastest = max(embed["fp32"]["per_cpu_s"], embed["bf16"]["per_cpu_s"])
    db = dirs.paths.database.stat().st_size
    vec = dirs.paths.vectors.stat().st_size
    topk = disk_bytes(dirs.paths.topk) if dirs.paths.topk.exists() else 0
    return {
        "passages": passages, "files": index["files"], "passages_per_file": spec.passages_per_file,
        "embedder": "stand-in (hashed word vectors, not a model): every figure but embed_per_s is the program's own",
        "index_s": index["index_s"], "index_s_by_stage": index["index_s_by_stage"],
        "hnsw_insert_per_s": hnsw["insert_per_s"], "hnsw_insert_per_cpu_s": hnsw["insert_per_cpu_s"],
        "embed_per_s": {"fp32": embed["fp32"]["per_s"], "bf16": embed["bf16"]["per_s"]},
        "embed_per_cpu_s": {"fp32": embed["fp32"]["per_cpu_s"], "bf16": embed["bf16"]["per_cpu_s"]},
        "hnsw_over_fastest_embedding_cpu": round(hnsw["insert_per_cpu_s"] / fastest, 2),
        "recall_at_10": hnsw["recall_at_10"], "recall_at_10_asking_10": hnsw["recall_at_10_asking_10"],
        "hnsw_save_s": hnsw["save_s"], "hnsw_rebuild_from_sqlite_estimate_s": hnsw["rebuild_estimate_s"],
        "hnsw_params": {"M": hnsw["M"], "ef_construction": hnsw["ef_construction"], "ef_search": hnsw["ef_search"]},
        "query_p50_ms": {m: search[m]["p50_ms"] for m in MODES},
        "query_p95_ms": {m: search[m]["p95_ms"] for m in MODES},
        "query_cpu_p95_ms": {m: search[m]["cpu_p95_ms"] for m in MODES},
        "keyword_inside_words_ms": {k: search["keyword_inside_words"][k] for k in ("p50_ms", "p95_ms")},
        "topk_index": search["topk_index"],
        "query_fts5_only_ms": {m: search.get(f"{m}_fts5_only") for m in ("keyword", "hybrid")},
        "hybrid_with_real_query_model_ms": search["hybrid_with_model"],
        "query_embedding_alone_ms": search["query_embedding_alone"],
        "rss_mb_search": search["rss_mb_search_peak"], "rss_mb_index": index["rss_mb_index_peak"],
        "rss_mb_index_samples": index["rss_samples"],
        "bytes_per_passage": {"sqlite": round(db / passages), "hnsw": round(vec / passages),
                              "topk": round(topk / passages), "total": round((db + vec + topk) / passages)},
        "library_bytes_per_passage": round(disk_bytes(dirs.library) / passages),
        "window_ready_s": r["window"]["window_ready_s"], "window_shown_s": r["window"]["shown_s"],
        "window_ready_cpu_s": r["window"]["window_ready_cpu_s"],
        "rescan_s": r["rescan"]["rescan_s"], "rescan_files": index["files"],
        "generate_s": gen_s, "phases": r, "cpu_count": os.cpu_count(), "load_end": load_note(),
    }


def table(s: dict[str, Any]) -> str:
    """The figures a README shows, one per row."""
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in s["index_s_by_stage"].items())
    rate, cpu = s["embed_per_s"], s["embed_per_cpu_s"]
    rows = [
        ("passages (files)", f"{s['passages']:,} ({s['files']:,})"),
        ("index, stand-in embedder", f"{s['index_s']:.0f} s: {stages}"),
        ("real model, passages/s (fp32, bf16)", f"{rate['fp32']:.1f}, {rate['bf16']:.1f} "
                                                f"(per CPU-s {cpu['fp32']:.1f}, {cpu['bf16']:.1f})"),
        ("hnsw inserts/s at full size", f"{s['hnsw_insert_per_s']:.0f} (per CPU-s {s['hnsw_insert_per_cpu_s']:.0f}; "
                                        f"{s['hnsw_over_fastest_embedding_cpu']:.1f}x the fastest embedding)"),
        ("recall@10 vs exact", f"{s['recall_at_10']:.3f} as the searcher asks ({s['recall_at_10_asking_10']:.3f} asking for 10)"),
        ("query p50 / p95 (keyword, dense, hybrid)", ", ".join(
            f"{s['query_p50_ms'][m]:.0f}/{s['query_p95_ms'][m]:.0f} ms" for m in MODES)
         + " (p95 CPU " + ", ".join(f"{s['query_cpu_p95_ms'][m]:.0f}" for m in MODES) + " ms)"),
        *([("keyword / hybrid with FTS5 alone, p50 / p95", ", ".join(
            f"{s['query_fts5_only_ms'][m]['p50_ms']:.0f}/{s['query_fts5_only_ms'][m]['p95_ms']:.0f} ms"
            for m in ("keyword", "hybrid")) + " (the baseline: no top-k index)")] if s["topk_index"] else []),
        ("keyword, part of a word, p50 / p95", f"{s['keyword_inside_words_ms']['p50_ms']:.0f}/"
                                               f"{s['keyword_inside_words_ms']['p95_ms']:.0f} ms"),
        ("hybrid with the real query model p50 / p95", f"{s['hybrid_with_real_query_model_ms']['p50_ms']:.0f}/"
                                                       f"{s['hybrid_with_real_query_model_ms']['p95_ms']:.0f} ms"),
        ("memory: search / index peak", f"{s['rss_mb_search']:.0f} / {s['rss_mb_index']:.0f} MB"),
        ("disk per passage (SQLite + hnsw + top-k index)",
         f"{s['bytes_per_passage']['total']:,} B ({s['bytes_per_passage']['sqlite']:,} + "
         f"{s['bytes_per_passage']['hnsw']:,} + {s['bytes_per_passage']['topk']:,})"),
        ("window shown / first answer", f"{s['window_shown_s']:.1f} / {s['window_ready_s']:.1f} s "
                                        f"({s['window_ready_cpu_s']:.1f} CPU-s)"),
        (f"rescan of {s['rescan_files']:,} unchanged files", f"{s['rescan_s']:.1f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"| {k:<{width}} | {v} |" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passages", type=int, default=100_000)
    ap.add_argument("--passages-per-file", type=int, default=50)
    ap.add_argument("--keep", metavar="DIR", help="build the library and its index here, and reuse them next time")
    ap.add_argument("--queries", type=int, default=200, help="queries per mode, and for recall")
    ap.add_argument("--inserts", type=int, default=10_000, help="vectors inserted into the full-size graph")
    ap.add_argument("--embed-sample", type=int, default=256, help="passages the real model embeds, per precision")
    ap.add_argument("--window-runs", type=int, default=3)
    ap.add_argument("--rescan-runs", type=int, default=2)
    ap.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    ap.add_argument("--library", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.phase:
        print(json.dumps(PHASES[args.phase](Dirs(Path(args.library), Path(args.data)), args)), flush=True)
        return 0

    spec = LibrarySpec(files=-(-args.passages // args.passages_per_file), passages_per_file=args.passages_per_file)
    tmp = None if args.keep else tempfile.TemporaryDirectory(prefix="bench-scale-")
    base = Path(args.keep) if args.keep else Path(tmp.name)  # type: ignore[union-attr]  # one of the two is set
    name = f"{spec.files}x{spec.passages_per_file}"
    dirs = Dirs(base / f"library-{name}", base / f"data-{name}")
    print(f"library of {spec.files:,} files x {spec.passages_per_file} passages at {base} "
          f"({os.cpu_count()} cores, load {load_note()})", file=sys.stderr, flush=True)
    try:
        t0 = time.perf_counter()
        gen_s = round(time.perf_counter() - t0, 1) if generate(dirs.library, spec) else None
        results: dict[str, dict[str, Any]] = {}
        if dirs.index_results.exists():
            results["index"] = dict(json.loads(dirs.index_results.read_text()), reused=True)
        else:
            shutil.rmtree(dirs.data, ignore_errors=True)
            results["index"] = run_phase("index", dirs, args)
            dirs.index_results.write_text(json.dumps(results["index"]))
        for name in ("embed", "hnsw", "search", "window", "rescan"):
            results[name] = run_phase(name, dirs, args)
        s = summary(args, spec, dirs, gen_s, results)
    finally:
        if tmp is not None:
            tmp.cleanup()
    print(table(s))
    print(json.dumps(s))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
