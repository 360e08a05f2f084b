"""The engine table for this machine: every CPU engine and precision, the same batches, one run.

fp32 and int8 run on ONNX Runtime (``--precision int8``: int8 weights per
channel, activations quantised per batch); torch fp32 and bf16 on torch (the
torch extra; bf16 is what ``auto`` picks with it on CPUs that compute bf16
natively). Each prints tokens/s (wall and per CPU-second), its speed against
torch fp32 (the issue 20 baseline; ONNX Runtime fp32 without torch) and its
passage vectors' cosine to ONNX Runtime fp32, next to nDCG@10. The corpus is a subset of
the SciFact library (every document judged for the split's queries plus
random others, --docs in all), extracted and chunked as the index does. The
same passages and the split's queries are embedded by each variant, in
alternating blocks so that load changes on a shared machine hit all alike;
documents are ranked by their best passage (exact search), as dense search
does. The nDCG figures are for this subset (fewer distractors than the full
corpus, so higher than the published full-corpus numbers); the difference
from fp32 is the figure to judge. Tune on train (the default); test reports.

    PYTHONPATH=$PWD nice -n 10 python benchmarks/eval_precision.py --docs 700
    PYTHONPATH=$PWD python benchmarks/eval_precision.py --variants bf16 int8 --split test
    PYTHONPATH=$PWD python benchmarks/eval_precision.py --docs 150 --variants torch-fp32 bf16 int8
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SCIFACT, machine_note
from desktop_search.embed.embedder import Embedder, Precision
from desktop_search.embed.engine import Engine
from desktop_search.embed.hardware import cpu_features, torch_installed
from desktop_search.embed.models import resolve_model
from desktop_search.errors import ExtractionError
from desktop_search.ingest.chunking import Chunker, ChunkSettings, embedding_text
from desktop_search.ingest.pool import read_and_extract
from retrieval_eval import load_qrels, load_queries, metrics, rank_documents


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=700, help="corpus subset size (judged documents + random others)")
    ap.add_argument("--split", default="train", choices=["train", "test"])
    ap.add_argument("--variants", nargs="+", default=None, choices=["torch-fp32", "bf16", "int8"],
                    help="compared with ONNX Runtime fp32 (default: every one this install can run)")
    ap.add_argument("--block", type=int, default=64, help="chunks per alternating timing block")
    args = ap.parse_args(argv)
    if args.variants is None:
        args.variants = ["torch-fp32", "bf16", "int8"] if torch_installed() else ["int8"]
    logging.basicConfig(level=logging.WARNING)
    print(f"machine: {machine_note()}")

    qrels = load_qrels(args.split)
    queries = {qid: text for qid, text in load_queries(args.split) if qid in qrels}
    docmap: dict[str, str] = json.loads((SCIFACT / "docmap.json").read_text())
    judged = sorted({d for rel in qrels.values() for d in rel if d in docmap})
    others = sorted(set(docmap) - set(judged))
    random.Random(0).shuffle(others)
    doc_ids = judged + others[: max(0, args.docs - len(judged))]

    spec = resolve_model(None)
    models = {"fp32": Embedder(spec, device="cpu", precision=Precision.FP32, engine=Engine.ONNX)}
    if "torch-fp32" in args.variants:
        models["torch-fp32"] = Embedder(spec, device="cpu", precision=Precision.FP32, engine=Engine.TORCH)
    if "bf16" in args.variants:
        models["bf16"] = Embedder(spec, device="cpu", precision=Precision.BF16, engine=Engine.TORCH)
        print(f"bf16 in hardware on this CPU: {cpu_features().native_bf16} (without it, bf16 is emulated and slow)")
    if "int8" in args.variants:
        models["int8"] = Embedder(spec, device="cpu", precision=Precision.INT8, engine=Engine.ONNX)
    settings = ChunkSettings(min(ChunkSettings.max_tokens, spec.max_tokens))
    chunker = Chunker(models["fp32"].tokenizer, settings)
    texts, owner = [], []
    for d in doc_ids:
        try:
            doc = read_and_extract(str(SCIFACT / docmap[d]))
        except ExtractionError as exc:
            print(f"  skipped {d}: {exc}")
            continue
        for c in chunker.chunk_segments(doc.segments, chunker.budget(doc.title, spec.passage_prefix)):
            texts.append(embedding_text(doc.title, c.text, settings.title_prefix))
            owner.append(d)
    print(f"corpus: {len(doc_ids)} documents ({len(judged)} judged), {len(texts)} chunks; {len(queries)} queries")

    tokens = sum(map(len, models["fp32"].tokenizer(texts, truncation=True, max_length=spec.max_tokens)["input_ids"]))
    vecs = {name: np.zeros((len(texts), spec.dim), np.float32) for name in models}
    seconds = dict.fromkeys(models, 0.0)
    cpu = dict.fromkeys(models, 0.0)
    for m in models.values():
        m.encode_passages(["warm up"] * 4)
    names = list(models)
    for i in range(0, len(texts), args.block):
        shift = (i // args.block) % len(names)
        for name in names[shift:] + names[:shift]:
            t0, c0 = time.perf_counter(), time.process_time()
            vecs[name][i : i + args.block] = models[name].encode_passages(texts[i : i + args.block])
            seconds[name] += time.perf_counter() - t0
            cpu[name] += time.process_time() - c0
    qids = sorted(queries)
    scores = {}
    for name, model in models.items():
        qv = model.encode_queries([queries[q] for q in qids])
        scores[name] = np.array([metrics(rank_documents(qv[i], vecs[name], owner), qrels[q])["nDCG@10"]
                                 for i, q in enumerate(qids)])
    print_engine_table(models, seconds, cpu, vecs, tokens)
    base = scores["fp32"]
    print(f"\nnDCG@10 dense, SciFact {args.split}, {len(doc_ids)}-document subset; speed over the same {len(texts)} chunks:")
    print(f"  fp32  nDCG {base.mean():.4f}   {seconds['fp32']:.1f} s ({len(texts) / seconds['fp32']:.1f} chunks/s)")
    for name in names[1:]:
        diff = scores[name] - base
        se = diff.std(ddof=1) / math.sqrt(len(diff))
        cos = (vecs["fp32"] * vecs[name]).sum(axis=1)
        print(f"  {name}  nDCG {scores[name].mean():.4f}   {name} - fp32 = {diff.mean():+.4f} (paired s.e. {se:.4f}); "
              f"{seconds[name]:.1f} s ({len(texts) / seconds[name]:.1f} chunks/s)")
        print(f"        passage vectors against fp32: mean cosine {cos.mean():.5f}, min {cos.min():.5f}")
        print(f"        RATIO {name} / fp32 throughput: {seconds['fp32'] / seconds[name]:.2f}x;  "
              f"rule (drop < 0.005 to enable by default): {'enable' if -diff.mean() < 0.005 else 'keep it opt-in'}")
    return 0


def print_engine_table(models: dict[str, Embedder], seconds: dict[str, float], cpu: dict[str, float],
                       vecs: dict[str, np.ndarray], tokens: int) -> None:
    """The engine table the README's "Precision and speed" quotes, for this machine and load."""
    base = "torch-fp32" if "torch-fp32" in models else "fp32"
    print(f"\nengines over the same {tokens:,} tokens, same batches (speed against {models[base].name}):")
    print("  engine and precision                      tokens/s  tokens/CPU-s  vs base  cosine to ORT fp32 (mean / min)")
    for name, model in models.items():
        cos = (vecs["fp32"] * vecs[name]).sum(axis=1)
        print(f"  {model.name:<40} {tokens / seconds[name]:>9,.0f} {tokens / cpu[name]:>13,.0f} "
              f"{seconds[base] / seconds[name]:>7.2f}x  {cos.mean():.5f} / {cos.min():.5f}")


if __name__ == "__main__":
    raise SystemExit(main())
