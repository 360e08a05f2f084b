"""The measurements of benchmarks/gpu_check.sh (issue 14), one subcommand per step.

Each subcommand prints its figures and appends one JSON record to --results, so
a step that fails or runs out of time leaves the others' figures intact;
``summary`` turns the records into the report. Run through gpu_check.sh, which
sets the paths; by hand (after the script has unpacked the corpus):

    python benchmarks/gpu_check.py --device cuda --work /tmp/gpu-check-work --results r.jsonl index --replicas 40
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import percentiles
from bench_index import RecordingEmbedder, bare_forward, prepare
from desktop_search.embed.embedder import Embedder, cpu_cores
from desktop_search.embed.models import ModelSpec, resolve_model
from desktop_search.index.indexer import Indexer, IndexOptions, IndexReport, _default_workers
from desktop_search.index.progress import Phase, Progress
from desktop_search.ingest.pool import ExtractorPool
from desktop_search.paths import DataPaths, resolve_data_dir
from desktop_search.search.searcher import Searcher
from retrieval_eval import corpus_id, mean_metrics

logger = logging.getLogger(__name__)

MS = 1000.0


# -- shared pieces ------------------------------------------------------------------


@dataclass
class Context:
    """What every step needs: where things are, which device, where figures go."""

    device: str
    model: str
    scifact: Path
    work: Path
    results: Path
    gpu_log: Path

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    def spec(self) -> ModelSpec:
        return resolve_model(self.model)

    def record(self, step: str, **figures: Any) -> None:
        with open(self.results, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"step": step, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                 **figures}) + "\n")


class GpuSampler:
    """Samples the GPU's busy share (NVML's utilization.gpu) in a thread, through
    pynvml when it is there, else nvidia-smi; a no-op without a GPU."""

    def __init__(self, ctx: Context, label: str, interval_s: float = 0.2) -> None:
        self.ctx, self.label, self.interval_s = ctx, label, interval_s
        self.samples: list[tuple[float, float, float]] = []  # (time, busy %, memory MiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="gpu-sampler")
        self._read: Callable[[], tuple[float, float]] | None = self._reader() if ctx.cuda else None

    def _reader(self) -> Callable[[], tuple[float, float]] | None:
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)

            def read_nvml() -> tuple[float, float]:
                util = pynvml.nvmlDeviceGetUtilizationRates(handle)
                return float(util.gpu), pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20

            return read_nvml
        except Exception as exc:  # noqa: BLE001 - any NVML trouble: fall back to the command
            logger.info("pynvml unusable (%s); sampling with nvidia-smi", exc)
        if shutil.which("nvidia-smi") is None:
            return None

        def read_smi() -> tuple[float, float]:
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                                  "--format=csv,noheader,nounits", "-i", "0"],
                                 capture_output=True, text=True, timeout=5, check=True).stdout
            busy, mem = out.strip().split(",")[:2]
            return float(busy), float(mem)

        return read_smi

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                busy, mem = self._read()
            except Exception as exc:  # noqa: BLE001 - sampling must never stop the measurement
                logger.warning("GPU sampling failed: %s", exc)
                return
            self.samples.append((time.time(), busy, mem))

    def __enter__(self) -> Self:
        if self._read is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        with open(self.ctx.gpu_log, "a", encoding="utf-8") as fh:
            fh.writelines(f"{self.label},{t:.2f},{busy:.0f},{mem:.0f}\n" for t, busy, mem in self.samples)

    def busy_share(self) -> float | None:
        """Mean busy share (0-1) over the samples; None without samples."""
        return statistics.fmean(s[1] for s in self.samples) / 100 if self.samples else None

    def peak_memory_mib(self) -> float | None:
        return max(s[2] for s in self.samples) if self.samples else None


def library_files(ctx: Context) -> list[Path]:
    return sorted(p for p in (ctx.scifact / "library").rglob("*") if p.suffix in (".pdf", ".epub"))


def replicate(files: Sequence[Path], root: Path, copies: int) -> list[Path]:
    """``copies`` folders of symlinks to ``files``: the same library as new files
    to the index (moves are only matched against vanished documents)."""
    folders = []
    for i in range(copies):
        folder = root / f"copy-{i:03d}"
        if not folder.exists():
            folder.mkdir(parents=True)
            for p in files:
                os.symlink(p.resolve(), folder / p.name)
        folders.append(folder)
    return folders


@dataclass
class TimedRun:
    report: IndexReport
    wall_s: float
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, passages stored)

    @property
    def rate(self) -> float:
        """Passages per second over the whole run: crawl, model already loaded, save."""
        return self.report.chunks / self.wall_s if self.wall_s else 0.0

    @property
    def steady_rate(self) -> float:
        """Passages per second from the first stored batch to the last."""
        pts = [p for p in self.timeline if p[1] > 0]
        if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
            return self.rate
        return (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])


def timed_index(paths: DataPaths, options: IndexOptions, embedder: Any, folders: Sequence[Path],
                seconds: float | None) -> TimedRun:
    """A cold index of ``folders``, stopped like a first Ctrl-C after ``seconds``."""
    cancel = threading.Event()
    timer = threading.Timer(seconds, cancel.set) if seconds else None
    t0 = time.monotonic()
    timeline: list[tuple[float, int]] = []

    def on_progress(p: Progress) -> None:
        if p.phase == Phase.INDEXING:
            timeline.append((time.monotonic() - t0, p.chunks_done))

    indexer = Indexer(paths, options, embedder=embedder, on_progress=on_progress, cancel=cancel)
    if timer:
        timer.start()
    try:
        report = indexer.run(add=[str(f) for f in folders])
    finally:
        if timer:
            timer.cancel()
    return TimedRun(report, time.monotonic() - t0, timeline)


def sample_calls(calls: list[list[str]], cap: int) -> list[list[str]]:
    """Whole embedding calls spread evenly over the run, about ``cap`` passages in all."""
    total = sum(len(c) for c in calls)
    if total <= cap:
        return calls
    step = total / cap
    picked, seen, next_at = [], 0, 0.0
    for c in calls:
        if seen >= next_at:
            picked.append(c)
            next_at += step * len(c)
        seen += len(c)
    return picked


def default_workers_of(device: str) -> int:
    """The extraction workers an index run on ``device`` (as IndexOptions.device) gets when not told."""
    return _default_workers(device) or ExtractorPool().n_workers


def cuda_sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


# -- steps --------------------------------------------------------------------------


def cmd_index(ctx: Context, args: argparse.Namespace) -> None:
    """Cold index of replicas of the library, the bare forward over the same passages, busy share, stages."""
    spec = ctx.spec()
    t0 = time.perf_counter()
    embedder = Embedder(spec, device=ctx.device)
    load_s = time.perf_counter() - t0
    embedder.__class__ = RecordingEmbedder
    embedder.calls = []
    embedder.encode_passages(["warm up the model"] * 64)
    cuda_sync(ctx.device)
    embedder.calls.clear()
    files = library_files(ctx)
    folders = replicate(files, ctx.work / "replicas", args.replicas)
    paths = resolve_data_dir(ctx.work / "index-data")
    options = IndexOptions(model=ctx.model, device=ctx.device, workers=args.workers, batch_chunks=args.batch_chunks)
    workers = args.workers or default_workers_of(ctx.device)
    print(f"model {spec.id} on {embedder.name} ({ctx.device}), loaded in {load_s:.1f} s; "
          f"{len(folders)} copies of {len(files)} files; {workers} extraction workers; "
          f"token budget {embedder.token_budget}; stopping after {args.seconds:.0f} s", flush=True)
    with GpuSampler(ctx, "index") as gpu:
        run = timed_index(paths, options, embedder, folders, args.seconds)
    report = run.report
    calls = embedder.calls
    n = sum(len(c) for c in calls)
    sample = sample_calls(calls, args.bare_cap)
    n_sample = sum(len(c) for c in sample)
    t0 = time.perf_counter()
    prepared = prepare(embedder, sample)
    prepare_s = time.perf_counter() - t0
    n_tokens = sum(int(mask.sum()) for batches in prepared for _, mask in batches)
    bare_forward(embedder, prepared[:2])  # warm up the batch shapes' kernels
    with GpuSampler(ctx, "bare-forward") as gpu_bare:
        bare_s = bare_forward(embedder, prepared)
    bare_rate = n_sample / bare_s if bare_s else 0.0
    t = report.timings
    stages = {k: round(float(t.get(k, 0.0)), 3) for k in ("extract", "wait", "chunk", "stall", "tokenize", "forward",
                                                         "store")}
    figures = {
        "device_name": embedder.name, "model_load_s": round(load_s, 2), "copies": len(folders),
        "batch_chunks": args.batch_chunks,
        "files_per_copy": len(files), "workers": workers, "token_budget": embedder.token_budget,
        "stopped_after_s": args.seconds, "files_indexed": report.added, "files_failed": len(report.failed),
        "passages": report.chunks, "wall_s": round(run.wall_s, 2),
        "passages_per_s": round(run.rate, 1), "steady_passages_per_s": round(run.steady_rate, 1),
        "bare_passages": n_sample, "bare_tokens": n_tokens, "bare_s": round(bare_s, 3),
        "bare_passages_per_s": round(bare_rate, 1), "ratio_to_bare": round(run.rate / bare_rate, 3) if bare_rate else None,
        "steady_ratio_to_bare": round(run.steady_rate / bare_rate, 3) if bare_rate else None,
        "gpu_busy_share": gpu.busy_share(), "gpu_busy_share_bare_forward": gpu_bare.busy_share(),
        "gpu_peak_memory_mib": gpu.peak_memory_mib(), "stages_s": stages,
        "embedding_calls": len(calls), "recorded_passages": n, "bare_prepare_s": round(prepare_s, 1),
    }
    ctx.record("index", **figures)
    print(f"cold index: {report.chunks} passages from {report.added} files ({len(report.failed)} failed) in "
          f"{run.wall_s:.1f} s = {run.rate:.0f} passages/s (steady {run.steady_rate:.0f}/s)")
    print(f"bare forward, {n_sample} of the same passages in the same batches ({n_tokens} tokens): {bare_s:.2f} s = "
          f"{bare_rate:.0f} passages/s")
    if bare_rate:
        print(f"RATIO index / bare forward: {run.rate / bare_rate:.3f} (steady {run.steady_rate / bare_rate:.3f}); "
              "target >= 0.8, and >= 5000 passages/s on one H200")
    print(f"GPU busy share: {_pct(gpu.busy_share())} during the index, {_pct(gpu_bare.busy_share())} during the bare forward")
    print("where the time goes (s; stages overlap; extract is summed over the workers):")
    for k, v in stages.items():
        print(f"  {k:<9} {v:9.2f} s  {v / run.wall_s:6.1%} of wall")


def _pct(x: float | None) -> str:
    return "n/a (no GPU samples)" if x is None else f"{x:.0%}"


def cmd_sweep(ctx: Context, args: argparse.Namespace) -> None:
    """Extraction workers at the default budget, then token budgets at the default workers."""
    spec = ctx.spec()
    embedder = Embedder(spec, device=ctx.device)
    default_budget = embedder.token_budget
    default_workers = default_workers_of(ctx.device)
    workers = sorted(set(args.workers or [default_workers]) | {default_workers})
    budgets = sorted(set(args.budgets or [default_budget]) - {default_budget})
    points = [(w, default_budget) for w in workers] + [(default_workers, b) for b in budgets]
    per_point = args.seconds
    if args.time_limit:  # fit the points into the time left, ~6 s of set-up and save each
        per_point = min(per_point, (args.time_limit - 10) / len(points) - 6)
        while per_point < args.min_seconds and len(points) > 2:
            points.pop()
            per_point = min(args.seconds, (args.time_limit - 10) / len(points) - 6)
    files = library_files(ctx)
    folders = replicate(files, ctx.work / "replicas", args.replicas)
    embedder.encode_passages(["warm up the model"] * 64)
    print(f"{len(points)} points of {per_point:.0f} s each, {len(folders)} copies of {len(files)} files; "
          f"defaults: {default_workers} workers, budget {default_budget}", flush=True)
    rows = []
    for i, (w, b) in enumerate(points):
        embedder.token_budget = b
        paths = resolve_data_dir(ctx.work / f"sweep-{i}")
        with GpuSampler(ctx, f"sweep-w{w}-b{b}") as gpu:
            options = IndexOptions(model=ctx.model, device=ctx.device, workers=w, batch_chunks=args.batch_chunks)
            run = timed_index(paths, options, embedder, folders, per_point)
        row = {"workers": w, "token_budget": b, "passages": run.report.chunks, "wall_s": round(run.wall_s, 2),
               "passages_per_s": round(run.rate, 1), "steady_passages_per_s": round(run.steady_rate, 1),
               "gpu_busy_share": gpu.busy_share(), "token_budget_after": embedder.token_budget}
        rows.append(row)
        print(f"  workers {w:>3}  budget {b:>7}: {run.report.chunks:>7} passages in {run.wall_s:5.1f} s = "
              f"{run.rate:7.0f}/s (steady {run.steady_rate:7.0f}/s)  GPU busy {_pct(gpu.busy_share())}", flush=True)
        shutil.rmtree(paths.root, ignore_errors=True)
    best = max(rows, key=lambda r: r["steady_passages_per_s"]) if rows else None
    ctx.record("sweep", seconds_per_point=round(per_point, 1), default_workers=default_workers,
               default_budget=default_budget, cores=cpu_cores(), points=rows, best=best)
    if best:
        print(f"best: {best['workers']} workers, budget {best['token_budget']} "
              f"({best['steady_passages_per_s']:.0f} passages/s steady)")


def load_queries(ctx: Context, limit: int) -> tuple[list[tuple[str, str]], dict[str, dict[str, int]]]:
    """Test queries with at least one judged document, and their judgements."""
    qrels: dict[str, dict[str, int]] = {}
    for line in (ctx.scifact / "qrels-test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, doc, score = line.split("\t")[:3]
        qrels.setdefault(qid, {})[doc] = int(score)
    queries = []
    for line in (ctx.scifact / "queries-test.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            if str(q["id"]) in qrels:
                queries.append((str(q["id"]), str(q["text"])))
    queries = queries[:limit] if limit else queries
    return queries, {qid: qrels[qid] for qid, _ in queries}


def quality_library(ctx: Context, qrels: dict[str, dict[str, int]], distractors: int) -> tuple[Path, int]:
    """All files (distractors 0), or the judged ones plus that many others."""
    files = library_files(ctx)
    if distractors:
        judged = {d for rel in qrels.values() for d in rel}
        files = [p for p in files if corpus_id(p.name) in judged] + \
                [p for p in files if corpus_id(p.name) not in judged][:distractors]
    return replicate(files, ctx.work / "quality-lib", 1)[0], len(files)


def index_once(ctx: Context, name: str, device: str, library: Path) -> tuple[DataPaths, dict[str, Any]]:
    paths = resolve_data_dir(ctx.work / name)
    if paths.database.exists():
        return paths, {"reused": True}
    t0 = time.perf_counter()
    # The CPU reference is fp32, whatever the host CPU's bf16 support.
    options = IndexOptions(model=ctx.model, device=device, precision="fp32" if device == "cpu" else "auto")
    report = Indexer(paths, options).run(add=[str(library)])
    seconds = time.perf_counter() - t0
    print(f"  {name}: {report.added} files, {report.chunks} passages, {len(report.failed)} failed, on {device}, "
          f"{seconds:.1f} s (model load included)", flush=True)
    return paths, {"files": report.added, "passages": report.chunks, "failed": len(report.failed), "s": round(seconds, 1)}


def top10(searcher: Searcher, queries: Sequence[tuple[str, str]], mode: str) -> dict[str, list[str]]:
    return {qid: [corpus_id(d.best.path) for d in searcher.search_documents(text, top_k=10, mode=mode)]
            for qid, text in queries}


def cmd_quality(ctx: Context, args: argparse.Namespace) -> None:
    """nDCG@10: a fp16 index built on the device against a fp32 CPU index of the same files;
    then, on the CPU index, top 10 from queries embedded on the device against on the CPU."""
    queries, qrels = load_queries(ctx, args.queries)
    library, n_files = quality_library(ctx, qrels, args.distractors)
    print(f"{len(queries)} test queries over {n_files} files", flush=True)
    dev_paths, dev_index = index_once(ctx, "quality-device", ctx.device, library)
    cpu_paths, cpu_index = index_once(ctx, "quality-cpu", "cpu", library)
    on_dev = Searcher(dev_paths, model=ctx.model, device=ctx.device)
    on_cpu = Searcher(cpu_paths, model=ctx.model, device="cpu", precision="fp32")
    cpu_index_dev_queries = Searcher(cpu_paths, model=ctx.model, device=ctx.device, embedder=on_dev.embedder)
    figures: dict[str, Any] = {"queries": len(queries), "files": n_files, "device_index": dev_index,
                               "cpu_index": cpu_index, "device_name": on_dev.embedder.name}
    for mode in args.modes:
        dev_runs, cpu_runs = top10(on_dev, queries, mode), top10(on_cpu, queries, mode)
        dev_ndcg = mean_metrics(dev_runs, qrels)["nDCG@10"]
        cpu_ndcg = mean_metrics(cpu_runs, qrels)["nDCG@10"]
        mixed = top10(cpu_index_dev_queries, queries, mode)
        same = sum(mixed[q] == cpu_runs[q] for q, _ in queries)
        overlap = statistics.fmean(len(set(mixed[q]) & set(cpu_runs[q])) / max(1, len(cpu_runs[q])) for q, _ in queries)
        figures[mode] = {"ndcg10_device_index": round(dev_ndcg, 4), "ndcg10_cpu_index": round(cpu_ndcg, 4),
                         "ndcg10_diff": round(dev_ndcg - cpu_ndcg, 4), "same_top10": same,
                         "mean_top10_overlap": round(overlap, 4)}
        print(f"  {mode:<7} nDCG@10: {ctx.device} index {dev_ndcg:.4f}, cpu fp32 index {cpu_ndcg:.4f}, "
              f"diff {dev_ndcg - cpu_ndcg:+.4f} (target |diff| <= 0.002); queries embedded on {ctx.device} vs cpu "
              f"over the cpu index: same top 10 for {same}/{len(queries)}, mean overlap {overlap:.3f}", flush=True)
    texts = [t for _, t in queries]
    a, b = on_dev.embedder.encode_queries(texts), on_cpu.embedder.encode_queries(texts)
    cos = (a * b).sum(axis=1)
    figures["query_vectors_min_cosine"] = round(float(cos.min()), 6)
    print(f"  query vectors, {ctx.device} vs cpu: min cosine {cos.min():.6f}, mean {cos.mean():.6f}")
    ctx.record("quality", **figures)
    for s in (on_dev, on_cpu, cpu_index_dev_queries):
        s.close()


def cmd_latency(ctx: Context, args: argparse.Namespace) -> None:
    """Query latency, p50/p95 over the test queries: model on the device against the CPU path (one thread, as the CLI)."""
    queries, _ = load_queries(ctx, args.queries)
    paths = resolve_data_dir(ctx.work / "quality-cpu")
    if not paths.database.exists():  # the quality step did not get that far: a small index of its own
        library, _ = quality_library(ctx, load_queries(ctx, 30)[1], 200)
        paths, _ = index_once(ctx, "quality-cpu", "cpu", library)
    sides = {ctx.device: Searcher(paths, model=ctx.model, device=ctx.device),
             "cpu": Searcher(paths, model=ctx.model, device="cpu", threads=1)}
    if ctx.device == "cpu":
        sides = {"cpu": sides["cpu"]}
    samples: dict[str, list[float]] = {}
    for s in sides.values():
        for _, text in queries[:10]:  # warm up: model load and first calls are not query latency
            s.search(text, mode=args.mode)
    for _, text in queries:  # interleaved, so both sides see the same machine
        for name, s in sides.items():
            t0 = time.perf_counter()
            s.search(text, top_k=10, mode=args.mode)
            t1 = time.perf_counter()
            s.embedder.encode_queries([text])
            cuda_sync(s.embedder.device)
            t2 = time.perf_counter()
            samples.setdefault(f"{name}_search", []).append(t1 - t0)
            samples.setdefault(f"{name}_embed", []).append(t2 - t1)
    figures: dict[str, Any] = {"queries": len(queries), "mode": args.mode}
    for key, values in samples.items():
        p = percentiles(values)
        figures[key] = {"p50_ms": round(p["p50"] * MS, 2), "p95_ms": round(p["p95"] * MS, 2)}
        print(f"  {key:<12} p50 {p['p50'] * MS:7.2f} ms  p95 {p['p95'] * MS:7.2f} ms", flush=True)
    if ctx.device != "cpu":
        figures["search_p50_cpu_over_device"] = round(
            figures["cpu_search"]["p50_ms"] / figures[f"{ctx.device}_search"]["p50_ms"], 2)
    ctx.record("latency", **figures)
    for s in sides.values():
        s.close()


def oom_texts(ctx: Context, n: int) -> list[str]:
    """``n`` distinct passages of at least the model's 256 tokens, from the query texts."""
    words = " ".join(t for _, t in load_queries(ctx, 0)[0]).split()
    return [" ".join(words[(i * 37) % (len(words) - 400):][:400]) + f" {i}" for i in range(n)]


def cmd_oom(ctx: Context, args: argparse.Namespace) -> None:
    """A token budget too large for the card: it must halve itself and finish, with a log line."""
    import numpy as np
    import torch

    spec = ctx.spec()
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logging.getLogger("desktop_search.embed.embedder").addHandler(Keep(logging.WARNING))
    n = args.passages or args.budget // 256 * 2  # two batches' worth at the start budget
    texts = oom_texts(ctx, n)
    emb = Embedder(spec, device=ctx.device, token_budget=args.budget)
    how = ""
    if ctx.cuda:
        total = torch.cuda.get_device_properties(0).total_memory
        fraction = min(1.0, args.card_gib * 2**30 / total)
        torch.cuda.set_per_process_memory_fraction(fraction)
        how = f"allocator capped at {args.card_gib} GiB of {total / 2**30:.0f} GiB (a smaller card)"
    else:  # no real OOM on the CPU: the forward raises torch's OOM error over the cap, as in the unit test
        cap_tokens = args.cpu_cap_tokens
        forward = emb.model.forward

        def small_card(*a: Any, **kw: Any) -> Any:
            if kw["input_ids"].numel() > cap_tokens:
                raise torch.OutOfMemoryError(f"simulated: over {cap_tokens} tokens")
            return forward(*a, **kw)

        emb.model.forward = small_card
        how = f"SIMULATED on the CPU: the forward raises torch.OutOfMemoryError over {cap_tokens} tokens"
    print(f"{n} passages, token budget {args.budget}; {how}", flush=True)
    t0 = time.perf_counter()
    try:
        got = emb.encode_passages(texts)
        ok, error = True, None
    except Exception as exc:  # noqa: BLE001 - the figure to report is that it failed, and how
        ok, error, got = False, f"{type(exc).__name__}: {exc}".splitlines()[0], None
    seconds = time.perf_counter() - t0
    figures: dict[str, Any] = {"how": how, "passages": n, "budget_before": args.budget, "budget_after": emb.token_budget,
                               "completed": ok, "error": error, "log_lines": records[:5], "n_log_lines": len(records),
                               "s": round(seconds, 2)}
    if ctx.cuda:
        figures["max_memory_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
        torch.cuda.set_per_process_memory_fraction(1.0)
    if ok:
        ref = Embedder(spec, device=ctx.device, token_budget=8192).encode_passages(texts)
        figures["min_cosine_vs_small_batches"] = round(float((got * ref).sum(axis=1).min()), 6)
        figures["all_finite"] = bool(np.isfinite(got).all())
    ctx.record("oom", **figures)
    print(f"completed: {ok} in {seconds:.1f} s; budget {args.budget} -> {emb.token_budget}; {len(records)} log line(s):")
    for line in records[:5]:
        print(f"  {line}")
    if error:
        print(f"  error: {error}")
    if "min_cosine_vs_small_batches" in figures:
        print(f"  vectors against a run in small batches: min cosine {figures['min_cosine_vs_small_batches']}")


def cmd_env(ctx: Context, args: argparse.Namespace) -> None:
    import torch
    import transformers

    figures = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
               "transformers": transformers.__version__, "cores": cpu_cores(),
               "cuda_available": torch.cuda.is_available(),
               "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    ctx.record("env", **figures)
    print(json.dumps(figures))


# -- the report ---------------------------------------------------------------------


def cmd_summary(ctx: Context, args: argparse.Namespace) -> None:
    """summary.txt: the steps' times and the figures against the issue's targets."""
    records: dict[str, dict[str, Any]] = {}
    if ctx.results.exists():
        for line in ctx.results.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                records[r["step"]] = r
    out: list[str] = []
    env = records.get("env", {})
    out.append(f"GPU check, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, device {ctx.device}: "
               f"{env.get('gpu') or 'no GPU'}; torch {env.get('torch')} (CUDA {env.get('cuda')}), "
               f"Python {env.get('python')}, {env.get('cores')} cores")
    if args.steps:
        out.append("steps (name, exit status, seconds): " + "; ".join(
            " ".join(line.split("\t")) for line in Path(args.steps).read_text().splitlines() if line.strip()))
    st = records.get("status")
    if st:
        out.append(f"status: device reported {st.get('reported')!r}, GPU {st.get('expected')!r}: "
                   f"{'OK' if st.get('ok') else 'MISMATCH'}")
    ix = records.get("index")
    if ix:
        ok = (ix["passages_per_s"] >= 5000, (ix.get("ratio_to_bare") or 0) >= 0.8)
        out.append(
            f"cold index: {ix['passages']} passages in {ix['wall_s']} s = {ix['passages_per_s']:.0f}/s "
            f"(steady {ix['steady_passages_per_s']:.0f}/s) [target >= 5000: {'met' if ok[0] else 'NOT met'}]; "
            f"bare forward {ix['bare_passages_per_s']:.0f}/s; ratio {ix.get('ratio_to_bare')} "
            f"(steady {ix.get('steady_ratio_to_bare')}) [target >= 0.8: {'met' if ok[1] else 'NOT met'}]; "
            f"GPU busy {_pct(ix.get('gpu_busy_share'))}; {ix['workers']} workers, budget {ix['token_budget']}")
        out.append("  stages (s): " + ", ".join(f"{k} {v}" for k, v in ix["stages_s"].items()))
    sw = records.get("sweep")
    if sw:
        out.append(f"sweep ({sw['seconds_per_point']} s a point; defaults {sw['default_workers']} workers, "
                   f"budget {sw['default_budget']}):")
        for r in sw["points"]:
            out.append(f"  workers {r['workers']:>3} budget {r['token_budget']:>7}: {r['passages_per_s']:7.0f}/s "
                       f"(steady {r['steady_passages_per_s']:7.0f}/s) GPU busy {_pct(r['gpu_busy_share'])}")
        if sw.get("best"):
            out.append(f"  best: {sw['best']['workers']} workers, budget {sw['best']['token_budget']}")
    q = records.get("quality")
    if q:
        for mode in ("dense", "hybrid"):
            if mode in q:
                m = q[mode]
                out.append(f"quality {mode}: nDCG@10 {ctx.device} index {m['ndcg10_device_index']}, cpu fp32 "
                           f"{m['ndcg10_cpu_index']}, diff {m['ndcg10_diff']:+} [target |diff| <= 0.002: "
                           f"{'met' if abs(m['ndcg10_diff']) <= 0.002 else 'NOT met'}]; same top 10 "
                           f"{m['same_top10']}/{q['queries']} (overlap {m['mean_top10_overlap']})")
        out.append(f"  {q['queries']} queries over {q['files']} files; query vectors min cosine "
                   f"{q['query_vectors_min_cosine']}")
    lat = records.get("latency")
    if lat:
        out.append(f"latency ({lat['mode']}, {lat['queries']} queries): " + "; ".join(
            f"{k} p50 {v['p50_ms']} ms p95 {v['p95_ms']} ms" for k, v in lat.items() if isinstance(v, dict)))
    oom = records.get("oom")
    if oom:
        out.append(f"out of memory ({oom['how']}): completed {oom['completed']}, budget {oom['budget_before']} -> "
                   f"{oom['budget_after']}, {oom['n_log_lines']} log line(s), min cosine vs small batches "
                   f"{oom.get('min_cosine_vs_small_batches')}" + (f"; error {oom['error']}" if oom.get("error") else ""))
    ran = [line.split("\t")[0] for line in Path(args.steps).read_text().splitlines()] if args.steps else []
    missing = [s for s in ran if s not in records and s != "install"]
    if missing:
        out.append("NO FIGURES from: " + ", ".join(missing) + " (see steps.log)")
    text = "\n".join(out) + "\n"
    Path(args.write).write_text(text, encoding="utf-8")
    print(text, end="")


def cmd_status_check(ctx: Context, args: argparse.Namespace) -> None:
    """Compares the device `desktop-search status --json` reported with the GPU's own name."""
    reported = json.loads(Path(args.status_json).read_text(encoding="utf-8")).get("device")
    expected = None
    if ctx.cuda:
        import torch

        expected = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "(torch sees no GPU)"
    ok = reported == expected if expected else bool(reported)
    ctx.record("status", reported=reported, expected=expected, ok=ok)
    print(f"status reports device {reported!r}; GPU {expected!r}: {'OK' if ok else 'MISMATCH'}")
    if not ok:
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--model", required=True, help="model folder (the carried fp16 copy)")
    ap.add_argument("--scifact", type=Path, required=True, help="folder with library/, queries-test.jsonl, qrels-test.tsv")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--gpu-log", type=Path, required=True)
    sub = ap.add_subparsers(dest="step", required=True)
    sub.add_parser("env")
    p = sub.add_parser("status-check")
    p.add_argument("status_json")
    p = sub.add_parser("index")
    p.add_argument("--replicas", type=int, default=40)
    p.add_argument("--seconds", type=float, default=65.0, help="stop the index (like Ctrl-C) after this long")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--bare-cap", type=int, default=60000, help="passages in the bare-forward baseline (a sample)")
    p.add_argument("--batch-chunks", type=int, default=IndexOptions.batch_chunks)
    p = sub.add_parser("sweep")
    p.add_argument("--replicas", type=int, default=6)
    p.add_argument("--workers", type=int, nargs="*")
    p.add_argument("--budgets", type=int, nargs="*")
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--min-seconds", type=float, default=6.0)
    p.add_argument("--time-limit", type=float, default=0.0, help="fit the points into this many seconds")
    p.add_argument("--batch-chunks", type=int, default=IndexOptions.batch_chunks)
    p = sub.add_parser("quality")
    p.add_argument("--queries", type=int, default=0, help="0: all test queries")
    p.add_argument("--distractors", type=int, default=0, help="0: the whole library")
    p.add_argument("--modes", nargs="+", default=["dense", "hybrid"])
    p = sub.add_parser("latency")
    p.add_argument("--queries", type=int, default=0)
    p.add_argument("--mode", default="hybrid")
    p = sub.add_parser("oom")
    p.add_argument("--budget", type=int, default=2**22)
    p.add_argument("--card-gib", type=float, default=2.0)
    p.add_argument("--cpu-cap-tokens", type=int, default=4096)
    p.add_argument("--passages", type=int, default=0, help="0: two batches' worth at --budget")
    p = sub.add_parser("summary")
    p.add_argument("--steps")
    p.add_argument("--write", required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx = Context(args.device, args.model, args.scifact, args.work, args.results, args.gpu_log)
    ctx.work.mkdir(parents=True, exist_ok=True)
    steps: dict[str, Callable[[Context, argparse.Namespace], None]] = {
        "env": cmd_env, "status-check": cmd_status_check, "index": cmd_index, "sweep": cmd_sweep,
        "quality": cmd_quality, "latency": cmd_latency, "oom": cmd_oom, "summary": cmd_summary,
    }
    steps[args.step](ctx, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
