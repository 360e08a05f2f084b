"""Extraction workers at the default token budget, then token budgets at the default workers."""
from __future__ import annotations

import argparse
import shutil

from desktop_search.embed.embedder import Embedder
from desktop_search.embed.hardware import cpu_cores
from desktop_search.index.indexer import IndexOptions
from desktop_search.paths import resolve_data_dir
from gpu.corpus import library_files, replicate
from gpu.device import GpuSampler
from gpu.harness import Context, Figures, Step, pct
from gpu.indexing import default_workers_of, timed_index


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--replicas", type=int, default=6)
    p.add_argument("--workers", type=int, nargs="*")
    p.add_argument("--budgets", type=int, nargs="*")
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--min-seconds", type=float, default=6.0)
    p.add_argument("--time-limit", type=float, default=0.0, help="fit the points into this many seconds")
    p.add_argument("--batch-chunks", type=int, default=IndexOptions.batch_chunks)


def run(ctx: Context, args: argparse.Namespace) -> Figures:
    embedder = Embedder(ctx.spec(), device=ctx.device)
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
            timed = timed_index(paths, options, embedder, folders, per_point)
        row = {"workers": w, "token_budget": b, "passages": timed.report.chunks, "wall_s": round(timed.wall_s, 2),
               "passages_per_s": round(timed.rate, 1), "steady_passages_per_s": round(timed.steady_rate, 1),
               "gpu_busy_share": gpu.busy_share(), "token_budget_after": embedder.token_budget}
        rows.append(row)
        print(f"  workers {w:>3}  budget {b:>7}: {timed.report.chunks:>7} passages in {timed.wall_s:5.1f} s = "
              f"{timed.rate:7.0f}/s (steady {timed.steady_rate:7.0f}/s)  GPU busy {pct(gpu.busy_share())}", flush=True)
        shutil.rmtree(paths.root, ignore_errors=True)
    best = max(rows, key=lambda r: r["steady_passages_per_s"]) if rows else None
    if best:
        print(f"best: {best['workers']} workers, budget {best['token_budget']} "
              f"({best['steady_passages_per_s']:.0f} passages/s steady)")
    return {"seconds_per_point": round(per_point, 1), "default_workers": default_workers,
            "default_budget": default_budget, "cores": cpu_cores(), "points": rows, "best": best}


def summarize(sw: Figures, ctx: Context) -> list[str]:
    out = [f"sweep ({sw['seconds_per_point']} s a point; defaults {sw['default_workers']} workers, "
           f"budget {sw['default_budget']}):"]
    for r in sw["points"]:
        out.append(f"  workers {r['workers']:>3} budget {r['token_budget']:>7}: {r['passages_per_s']:7.0f}/s "
                   f"(steady {r['steady_passages_per_s']:7.0f}/s) GPU busy {pct(r['gpu_busy_share'])}")
    if sw.get("best"):
        out.append(f"  best: {sw['best']['workers']} workers, budget {sw['best']['token_budget']}")
    return out


STEP = Step(
    "sweep", run, keys=("seconds_per_point", "default_workers", "default_budget", "points", "best"),
    add_arguments=add_arguments, summarize=summarize,
)
