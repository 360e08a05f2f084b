"""nDCG@10 of an index built on the device against a fp32 CPU index of the same files (the CPU reference);
then, on the CPU index, top 10 from queries embedded on the device against on the CPU."""
from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence

from desktop_search.search.searcher import Searcher
from gpu.corpus import load_queries, quality_library
from gpu.harness import Context, Figures, Step
from gpu.indexing import index_once
from retrieval_eval import corpus_id, mean_metrics

MODES = ("dense", "hybrid")
TARGET_DIFF = 0.002  # |nDCG@10 diff| the device index may show against the CPU reference


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--queries", type=int, default=0, help="0: all test queries")
    p.add_argument("--distractors", type=int, default=0, help="0: the whole library")
    p.add_argument("--modes", nargs="+", default=list(MODES))


def top10(searcher: Searcher, queries: Sequence[tuple[str, str]], mode: str) -> dict[str, list[str]]:
    return {qid: [corpus_id(d.best.path) for d in searcher.search_documents(text, top_k=10, mode=mode)]
            for qid, text in queries}


def run(ctx: Context, args: argparse.Namespace) -> Figures:
    queries, qrels = load_queries(ctx, args.queries)
    library, n_files = quality_library(ctx, qrels, args.distractors)
    print(f"{len(queries)} test queries over {n_files} files", flush=True)
    dev_paths, dev_index = index_once(ctx, "quality-device", ctx.device, library)
    cpu_paths, cpu_index = index_once(ctx, "quality-cpu", "cpu", library)
    on_dev = Searcher(dev_paths, model=ctx.model, device=ctx.device)
    on_cpu = Searcher(cpu_paths, model=ctx.model, device="cpu", precision="fp32")
    cpu_index_dev_queries = Searcher(cpu_paths, model=ctx.model, device=ctx.device, embedder=on_dev.embedder)
    figures: Figures = {"queries": len(queries), "files": n_files, "device_index": dev_index,
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
              f"diff {dev_ndcg - cpu_ndcg:+.4f} (target |diff| <= {TARGET_DIFF}); queries embedded on {ctx.device} "
              f"vs cpu over the cpu index: same top 10 for {same}/{len(queries)}, mean overlap {overlap:.3f}", flush=True)
    texts = [t for _, t in queries]
    a, b = on_dev.embedder.encode_queries(texts), on_cpu.embedder.encode_queries(texts)
    cos = (a * b).sum(axis=1)
    figures["query_vectors_min_cosine"] = round(float(cos.min()), 6)
    print(f"  query vectors, {ctx.device} vs cpu: min cosine {cos.min():.6f}, mean {cos.mean():.6f}")
    for s in (on_dev, on_cpu, cpu_index_dev_queries):
        s.close()
    return figures


def summarize(q: Figures, ctx: Context) -> list[str]:
    out = []
    for mode in MODES:
        if mode in q:
            m = q[mode]
            out.append(f"quality {mode}: nDCG@10 {ctx.device} index {m['ndcg10_device_index']}, cpu fp32 "
                       f"{m['ndcg10_cpu_index']}, diff {m['ndcg10_diff']:+} [target |diff| <= {TARGET_DIFF}: "
                       f"{'met' if abs(m['ndcg10_diff']) <= TARGET_DIFF else 'NOT met'}]; same top 10 "
                       f"{m['same_top10']}/{q['queries']} (overlap {m['mean_top10_overlap']})")
    out.append(f"  {q['queries']} queries over {q['files']} files; query vectors min cosine "
               f"{q['query_vectors_min_cosine']}")
    return out


STEP = Step(
    "quality", run, keys=("queries", "files", "device_index", "cpu_index", "device_name", "query_vectors_min_cosine"),
    add_arguments=add_arguments, summarize=summarize,
)
