"""The pipeline around the model on this machine's cores, with a forward that costs nothing (bench_pipeline.py).

What the main process spends a passage (CPU ms, the forward's own taken out) is what caps the index rate on a
fast GPU: at 0.3 ms a passage the main process alone allows some 3,300 passages/s. The workers' CPU a passage
says how many of them that rate needs.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bench_pipeline import FREE_FORWARD, Setup, figures_of, free_model, run_in_process
from gpu.corpus import library_files, replicate
from gpu.harness import Context, Figures, Step
from gpu.indexing import default_workers_of


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--files", type=int, default=None, help="only the first N files of the library (default: all)")
    p.add_argument("--workers", type=int, default=None, help="default: what an index run on the device gets")


def run(ctx: Context, args: argparse.Namespace) -> Figures:
    workers = args.workers or default_workers_of(ctx.device)
    library = ctx.work / "pipeline-library"
    replicate(library_files(ctx)[: args.files], library, args.replicas)
    model = ctx.work / "free-model"
    if not (model / "config.json").exists():
        free_model(model, tokenizer_from=Path(ctx.model))  # the carried model: no model package on the GPU machine
    figures = figures_of(run_in_process(Setup(model, library, ctx.work / "pipeline-data", workers, None, ctx.device)))
    figures = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    figures.update(model=FREE_FORWARD, device=ctx.device, workers=workers, copies=args.replicas)
    for line in summarize(figures, ctx):
        print(line, flush=True)
    return figures


def summarize(p: Figures, ctx: Context) -> list[str]:
    return [
        f"pipeline ({p['model']}; {p['workers']} workers, {p['cores']} cores, model on {p['device']}): "
        f"{p['passages']} passages in {p['wall_s']:.1f} s = {p['passages_per_s']:.0f}/s; main process "
        f"{p['main_cpu_ms_per_passage']:.3f} ms CPU a passage, {p['main_cpu_ms_per_passage_without_forward']:.3f} "
        f"without the forward (alone it allows {1000 / max(p['main_cpu_ms_per_passage_without_forward'], 1e-3):.0f}/s); "
        f"workers {p['workers_cpu_ms_per_passage']:.3f} ms a passage; cores busy {p['our_busy_share']:.0%}",
        "  main-process threads (CPU s): " + ", ".join(f"{k} {v}" for k, v in p["threads_cpu_s"].items()),
    ]


STEP = Step(
    "pipeline", run,
    keys=("passages", "wall_s", "passages_per_s", "main_cpu_ms_per_passage", "main_cpu_ms_per_passage_without_forward",
          "workers_cpu_ms_per_passage", "threads_cpu_s", "workers", "cores"),
    add_arguments=add_arguments, summarize=summarize,
)
