"""Cold index of replicas of the library against the bare forward over the same passages, busy share, stages."""
from __future__ import annotations

import argparse
import time

from bench_index import RecordingEmbedder, bare_forward, prepare
from desktop_search.embed.embedder import Embedder
from desktop_search.index.indexer import IndexOptions
from desktop_search.paths import resolve_data_dir
from gpu.corpus import library_files, replicate
from gpu.device import GpuSampler, cuda_sync
from gpu.harness import Context, Figures, Step, pct
from gpu.indexing import default_workers_of, timed_index

STAGES = ("extract", "wait", "chunk", "commit", "waiting for reading", "tokenize", "forward", "store wait", "store")
# Issue 25: passages/s of the cold index on one H200, and its share of the bare forward's rate.
TARGET_RATE = 4000
TARGET_RATIO = 0.5


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--replicas", type=int, default=40)
    p.add_argument("--seconds", type=float, default=65.0, help="stop the index (like Ctrl-C) after this long")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--bare-cap", type=int, default=60000, help="passages in the bare-forward baseline (a sample)")
    p.add_argument("--batch-chunks", type=int, default=IndexOptions.batch_chunks)


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


def run(ctx: Context, args: argparse.Namespace) -> Figures:
    spec = ctx.spec()
    t0 = time.perf_counter()
    embedder = RecordingEmbedder.of(Embedder(spec, device=ctx.device))
    load_s = time.perf_counter() - t0
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
        timed = timed_index(paths, options, embedder, folders, args.seconds)
    report = timed.report
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
    stages = {k: round(float(report.timings.get(k, 0.0)), 3) for k in STAGES}
    figures = {
        "device_name": embedder.name, "model_load_s": round(load_s, 2), "copies": len(folders),
        "batch_chunks": args.batch_chunks,
        "files_per_copy": len(files), "workers": workers, "token_budget": embedder.token_budget,
        "stopped_after_s": args.seconds, "files_indexed": report.added, "files_failed": len(report.failed),
        "passages": report.chunks, "wall_s": round(timed.wall_s, 2),
        "passages_per_s": round(timed.rate, 1), "steady_passages_per_s": round(timed.steady_rate, 1),
        "bare_passages": n_sample, "bare_tokens": n_tokens, "bare_s": round(bare_s, 3),
        "bare_passages_per_s": round(bare_rate, 1),
        "ratio_to_bare": round(timed.rate / bare_rate, 3) if bare_rate else None,
        "steady_ratio_to_bare": round(timed.steady_rate / bare_rate, 3) if bare_rate else None,
        "gpu_busy_share": gpu.busy_share(), "gpu_busy_share_bare_forward": gpu_bare.busy_share(),
        "gpu_peak_memory_mib": gpu.peak_memory_mib(), "stages_s": stages,
        "embedding_calls": len(calls), "recorded_passages": n, "bare_prepare_s": round(prepare_s, 1),
    }
    print(f"cold index: {report.chunks} passages from {report.added} files ({len(report.failed)} failed) in "
          f"{timed.wall_s:.1f} s = {timed.rate:.0f} passages/s (steady {timed.steady_rate:.0f}/s)")
    print(f"bare forward, {n_sample} of the same passages in the same batches ({n_tokens} tokens): {bare_s:.2f} s = "
          f"{bare_rate:.0f} passages/s")
    if bare_rate:
        print(f"RATIO index / bare forward: {timed.rate / bare_rate:.3f} (steady {timed.steady_rate / bare_rate:.3f}); "
              f"target >= {TARGET_RATIO}, and >= {TARGET_RATE} passages/s on one H200")
    print(f"GPU busy share: {pct(gpu.busy_share())} during the index, {pct(gpu_bare.busy_share())} during the bare forward")
    print("where the time goes (s; stages overlap; extract is summed over the workers):")
    for k, v in stages.items():
        print(f"  {k:<9} {v:9.2f} s  {v / timed.wall_s:6.1%} of wall")
    return figures


def summarize(ix: Figures, ctx: Context) -> list[str]:
    ok = (ix["passages_per_s"] >= TARGET_RATE, (ix.get("ratio_to_bare") or 0) >= TARGET_RATIO)
    return [
        f"cold index: {ix['passages']} passages in {ix['wall_s']} s = {ix['passages_per_s']:.0f}/s "
        f"(steady {ix['steady_passages_per_s']:.0f}/s) [target >= {TARGET_RATE}: {'met' if ok[0] else 'NOT met'}]; "
        f"bare forward {ix['bare_passages_per_s']:.0f}/s; ratio {ix.get('ratio_to_bare')} "
        f"(steady {ix.get('steady_ratio_to_bare')}) [target >= {TARGET_RATIO}: {'met' if ok[1] else 'NOT met'}]; "
        f"GPU busy {pct(ix.get('gpu_busy_share'))}; {ix['workers']} workers, budget {ix['token_budget']}",
        "  stages (s): " + ", ".join(f"{k} {v}" for k, v in ix["stages_s"].items()),
    ]


STEP = Step(
    "index", run,
    keys=("passages", "wall_s", "passages_per_s", "steady_passages_per_s", "bare_passages_per_s", "ratio_to_bare",
          "steady_ratio_to_bare", "gpu_busy_share", "workers", "token_budget", "stages_s"),
    add_arguments=add_arguments, summarize=summarize,
)
