"""Query latency, p50/p95 over the test queries: model on the device against the CPU path (one thread, as the CLI).

Where a slow query's time goes: per query its length in tokens, the query
embedding alone, and the garbage collector's pauses during the search; the
slowest queries are kept with those figures. The app settles its query model
at load (desktop_search.search.warmup: every query length once on a GPU, the
loaded objects frozen out of garbage collection); the device's queries run a
second time after ``gc.unfreeze()``, to show what the freezing is worth.
"""
from __future__ import annotations

import argparse
import gc
import time
from typing import Any

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


class GcPauses:
    """The cyclic garbage collector's pauses, by generation, through ``gc.callbacks``."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._start = 0.0

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._note)

    def _note(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.pauses.append((int(info["generation"]), time.perf_counter() - self._start))

    def take(self) -> tuple[float, int]:
        """(seconds paused, highest generation collected or -1) since the last take."""
        taken, self.pauses = self.pauses, []
        return sum(s for _, s in taken), max((g for g, _ in taken), default=-1)


def timed_queries(sides: dict[str, Any], queries: list[tuple[str, str]], mode: str,
                  label: str = "") -> tuple[dict[str, list[float]], list[dict[str, Any]]]:
    """Search and embed each query on each side, interleaved; per-query records of the device side."""
    samples: dict[str, list[float]] = {}
    records: list[dict[str, Any]] = []
    with GcPauses() as pauses:
        for _, text in queries:  # interleaved, so both sides see the same machine
            for name, s in sides.items():
                pauses.take()
                t0 = time.perf_counter()
                s.search(text, top_k=10, mode=mode)
                t1 = time.perf_counter()
                gc_s, gen = pauses.take()
                s.embedder.encode_queries([text])
                cuda_sync(s.embedder.device)
                t2 = time.perf_counter()
                samples.setdefault(f"{name}_search{label}", []).append(t1 - t0)
                samples.setdefault(f"{name}_embed{label}", []).append(t2 - t1)
                samples.setdefault(f"{name}_gc{label}", []).append(gc_s)
                if name != "cpu" or len(sides) == 1:
                    tokens = len(s.embedder.tokenizer(text)["input_ids"]) if hasattr(s.embedder, "tokenizer") else -1
                    records.append({"query": text[:60], "tokens": tokens, "search_ms": round((t1 - t0) * MS, 2),
                                    "embed_ms": round((t2 - t1) * MS, 2), "gc_ms": round(gc_s * MS, 2), "gc_gen": gen})
    return samples, records


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
    for s in sides.values():
        for _, text in queries[:10]:  # warm up: model load and first calls are not query latency
            s.search(text, mode=args.mode)
    samples, records = timed_queries(sides, queries, args.mode)
    # What freezing the loaded objects out of the garbage collector is worth: the device's queries again, unfrozen.
    frozen = gc.get_freeze_count()
    gc.unfreeze()
    unfrozen, _ = timed_queries({ctx.device: sides[ctx.device]}, queries, args.mode, "_unfrozen")
    samples.update(unfrozen)
    figures: Figures = {"queries": len(queries), "mode": args.mode, "frozen_objects": frozen}
    for key, values in samples.items():
        p = percentiles(values)
        figures[key] = {"p50_ms": round(p["p50"] * MS, 2), "p95_ms": round(p["p95"] * MS, 2),
                        "max_ms": round(max(values) * MS, 2)}
        print(f"  {key:<24} p50 {p['p50'] * MS:7.2f} ms  p95 {p['p95'] * MS:7.2f} ms  max {max(values) * MS:7.2f} ms",
              flush=True)
    search = figures[f"{ctx.device}_search"]
    figures["p95_over_p50"] = round(search["p95_ms"] / search["p50_ms"], 2) if search["p50_ms"] else None
    figures["slowest"] = sorted(records, key=lambda r: -r["search_ms"])[:10]
    print(f"  {ctx.device} search p95/p50 {figures['p95_over_p50']} (target <= 2); slowest queries:", flush=True)
    for r in figures["slowest"][:5]:
        print(f"    {r}", flush=True)
    if ctx.device != "cpu":
        figures["search_p50_cpu_over_device"] = round(
            figures["cpu_search"]["p50_ms"] / figures[f"{ctx.device}_search"]["p50_ms"], 2)
    for s in sides.values():
        s.close()
    return figures


def summarize(lat: Figures, ctx: Context) -> list[str]:
    ratio = lat.get("p95_over_p50")
    met = ratio is not None and ratio <= 2
    return [f"latency ({lat['mode']}, {lat['queries']} queries): " + "; ".join(
        f"{k} p50 {v['p50_ms']} ms p95 {v['p95_ms']} ms" for k, v in lat.items() if isinstance(v, dict)),
        f"  {ctx.device} search p95/p50 {ratio} [target <= 2: {'met' if met else 'NOT met'}]; slowest: "
        + "; ".join(f"{r['search_ms']} ms ({r['tokens']} tokens, embed {r['embed_ms']} ms, gc {r['gc_ms']} ms)"
                    for r in lat.get("slowest", [])[:3])]


STEP = Step(
    "latency", run, keys=("queries", "mode", "cpu_search", "cpu_embed", "cpu_gc", "p95_over_p50", "slowest"),
    add_arguments=add_arguments, summarize=summarize,
)
