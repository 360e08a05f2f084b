"""Query latency, p50/p95 over the test queries: model on the device against the CPU path (one thread, as the CLI)."""
from __future__ import annotations

import argparse
import time

from _common import percentiles
from desktop_search.paths import resolve_data_dir
from desktop_search.search.searcher import Searcher
from gpu.corpus import load_queries, quality_library
from gpu.device import cuda_sync
from gpu.harness import MS, Context, Figures, Step
from gpu.indexing import index_once


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--queries", type=int, default=0)
    p.add_argument("--mode", default="hybrid")


def run(ctx: Context, args: argparse.Namespace) -> Figures:
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
    figures: Figures = {"queries": len(queries), "mode": args.mode}
    for key, values in samples.items():
        p = percentiles(values)
        figures[key] = {"p50_ms": round(p["p50"] * MS, 2), "p95_ms": round(p["p95"] * MS, 2)}
        print(f"  {key:<12} p50 {p['p50'] * MS:7.2f} ms  p95 {p['p95'] * MS:7.2f} ms", flush=True)
    if ctx.device != "cpu":
        figures["search_p50_cpu_over_device"] = round(
            figures["cpu_search"]["p50_ms"] / figures[f"{ctx.device}_search"]["p50_ms"], 2)
    for s in sides.values():
        s.close()
    return figures


def summarize(lat: Figures, ctx: Context) -> list[str]:
    return [f"latency ({lat['mode']}, {lat['queries']} queries): " + "; ".join(
        f"{k} p50 {v['p50_ms']} ms p95 {v['p95_ms']} ms" for k, v in lat.items() if isinstance(v, dict))]


STEP = Step(
    "latency", run, keys=("queries", "mode", "cpu_search", "cpu_embed"),
    add_arguments=add_arguments, summarize=summarize,
)
