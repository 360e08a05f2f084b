"""A token budget too large for the card: it must halve itself and finish, with a log line."""
from __future__ import annotations

import argparse
import logging
import time

from desktop_search.embed.embedder import Embedder
from gpu.corpus import load_queries
from gpu.harness import Context, Figures, Step

EMBEDDER_LOG = "desktop_search.embed.embedder"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget", type=int, default=2**22)
    p.add_argument("--card-gib", type=float, default=2.0)
    p.add_argument("--cpu-cap-tokens", type=int, default=4096)
    p.add_argument("--passages", type=int, default=0, help="0: two batches' worth at --budget")


def oom_texts(ctx: Context, n: int) -> list[str]:
    """``n`` distinct passages of at least the model's 256 tokens, from the query texts."""
    words = " ".join(t for _, t in load_queries(ctx, 0)[0]).split()
    return [" ".join(words[(i * 37) % (len(words) - 400):][:400]) + f" {i}" for i in range(n)]


class _Keep(logging.Handler):
    """Keeps the messages of the embedder's warnings: the budget's halving must say so."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def simulate_small_card(emb: Embedder, cap_tokens: int) -> str:
    """No real out-of-memory on the CPU: the forward raises torch's OOM error over the cap, as in the unit test."""
    import torch

    from desktop_search.embed.torch_engine import TorchRunner

    runner = emb.runner
    assert isinstance(runner, TorchRunner), "the GPU check runs the torch engine"
    forward = runner._forward

    def small_card(input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if input_ids.numel() > cap_tokens:
            raise torch.OutOfMemoryError(f"simulated: over {cap_tokens} tokens")
        return forward(input_ids, mask)

    runner._forward = small_card  # type: ignore[method-assign]  # a smaller card, on purpose
    return f"SIMULATED on the CPU: the forward raises torch.OutOfMemoryError over {cap_tokens} tokens"


def run(ctx: Context, args: argparse.Namespace) -> Figures:
    import numpy as np
    import torch

    spec = ctx.spec()
    keep = _Keep(logging.WARNING)
    logging.getLogger(EMBEDDER_LOG).addHandler(keep)
    records = keep.messages
    n = args.passages or args.budget // 256 * 2  # two batches' worth at the start budget
    texts = oom_texts(ctx, n)
    emb = Embedder(spec, device=ctx.device, token_budget=args.budget, engine="torch")  # the GPU engine
    if ctx.cuda:
        total = torch.cuda.get_device_properties(0).total_memory
        fraction = min(1.0, args.card_gib * 2**30 / total)
        torch.cuda.set_per_process_memory_fraction(fraction)
        how = f"allocator capped at {args.card_gib} GiB of {total / 2**30:.0f} GiB (a smaller card)"
    else:
        how = simulate_small_card(emb, args.cpu_cap_tokens)
    print(f"{n} passages, token budget {args.budget}; {how}", flush=True)
    t0 = time.perf_counter()
    try:
        got = emb.encode_passages(texts)
        ok, error = True, None
    except Exception as exc:  # noqa: BLE001 - the figure to report is that it failed, and how
        ok, error, got = False, f"{type(exc).__name__}: {exc}".splitlines()[0], None
    finally:
        logging.getLogger(EMBEDDER_LOG).removeHandler(keep)
    seconds = time.perf_counter() - t0
    figures: Figures = {"how": how, "passages": n, "budget_before": args.budget, "budget_after": emb.token_budget,
                        "completed": ok, "error": error, "log_lines": records[:5], "n_log_lines": len(records),
                        "s": round(seconds, 2)}
    if ctx.cuda:
        figures["max_memory_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
        torch.cuda.set_per_process_memory_fraction(1.0)
    if got is not None:
        ref = Embedder(spec, device=ctx.device, token_budget=8192).encode_passages(texts)
        figures["min_cosine_vs_small_batches"] = round(float((got * ref).sum(axis=1).min()), 6)
        figures["all_finite"] = bool(np.isfinite(got).all())
    print(f"completed: {ok} in {seconds:.1f} s; budget {args.budget} -> {emb.token_budget}; {len(records)} log line(s):")
    for line in records[:5]:
        print(f"  {line}")
    if error:
        print(f"  error: {error}")
    if "min_cosine_vs_small_batches" in figures:
        print(f"  vectors against a run in small batches: min cosine {figures['min_cosine_vs_small_batches']}")
    return figures


def summarize(oom: Figures, ctx: Context) -> list[str]:
    return [f"out of memory ({oom['how']}): completed {oom['completed']}, budget {oom['budget_before']} -> "
            f"{oom['budget_after']}, {oom['n_log_lines']} log line(s), min cosine vs small batches "
            f"{oom.get('min_cosine_vs_small_batches')}" + (f"; error {oom['error']}" if oom.get("error") else "")]


STEP = Step(
    "oom", run, keys=("how", "passages", "budget_before", "budget_after", "completed", "error", "n_log_lines"),
    add_arguments=add_arguments, summarize=summarize,
)
