"""Retrieval quality on the Japanese JSQuAD library: MRR@10, passage R@10 and document R@10 per mode.

Indexes ``../shared/corpora/jsquad/library`` with the given model (reusing the
index when the data dir already holds one) and runs its 600 questions through
the same :class:`~desktop_search.search.searcher.Searcher` the CLI uses, as
``search --queries … --json --top-k 10 --per-document 0`` would: passage
level looks at the first 10 rows it prints (``--per-document`` changes
that), where a passage is right when its file is the question's document and
its page (PDF) or section ``第N節`` (EPUB) is the answer paragraph's; document
level asks whether the file is among the 10 documents returned.

Examples::

    # the default model
    python benchmarks/multilingual_eval.py --data-dir /tmp/jsquad-default

    # a multilingual model (a folder, e.g. the evaluation proxy of multilingual-e5-small)
    python benchmarks/multilingual_eval.py --data-dir /tmp/jsquad-me5 --model /work/me5-proxy

    # fusion settings side by side
    python benchmarks/multilingual_eval.py --data-dir /tmp/jsquad-me5 --model /work/me5-proxy \\
        --modes hybrid --fusion default= --fusion w7=dense_weight=0.7
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import machine_note
from desktop_search.ingest.chunking import ChunkSettings
from desktop_search.paths import resolve_data_dir
from desktop_search.search.fusion import FusionSettings
from desktop_search.search.results import SearchResult
from desktop_search.search.searcher import MODES, Searcher
from retrieval_eval import CachingEmbedder, ensure_index, fmt_row

JSQUAD = REPO.parent / "shared" / "corpora" / "jsquad"
TOP_K = 10


def load(corpus: Path) -> tuple[list[tuple[str, str]], dict[str, tuple[str, int]]]:
    """The questions, and for each its (document file name, paragraph unit)."""
    with open(corpus / "queries.jsonl", encoding="utf-8") as fh:
        queries = [(str(o["id"]), str(o["text"])) for o in map(json.loads, filter(str.strip, fh))]
    with open(corpus / "qrels.tsv", encoding="utf-8", newline="") as fh:
        qrels = {row["query-id"]: (row["doc"], int(row["unit"])) for row in csv.DictReader(fh, delimiter="\t")}
    return [q for q in queries if q[0] in qrels], qrels


def unit_of(result: SearchResult) -> int | None:
    """The paragraph number of a result: its PDF page, or N of its EPUB section 第N節."""
    if result.page is not None:
        return result.page
    section = result.section or ""
    if section.startswith("第") and section.endswith("節") and section[1:-1].isdigit():
        return int(section[1:-1])
    return None


def scores(results: Sequence[SearchResult], doc: str, unit: int) -> dict[str, float]:
    """MRR@10 and R@10 at passage level (the first 10 rows), R@10 at document level (the 10 documents)."""
    hits = [Path(r.path).name == doc and unit_of(r) == unit for r in results[:TOP_K]]
    first = next((i for i, h in enumerate(hits) if h), None)
    return {
        "MRR@10": 1.0 / (first + 1) if first is not None else 0.0,
        "passage R@10": float(first is not None),
        "document R@10": float(any(Path(r.path).name == doc for r in results)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="index here, or reuse the index already here")
    parser.add_argument("--model", help="model folder or name (default: the default model)")
    parser.add_argument("--corpus", type=Path, default=JSQUAD, help="a library laid out like jsquad/")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--fusion", action="append", default=[], metavar="NAME=SPEC",
                        help='a named FusionSettings variant; "default=" is the shipped defaults (repeatable)')
    parser.add_argument("--per-document", type=int, default=0,
                        help="passages per document, as the CLI's --per-document (default 0: every hit)")
    parser.add_argument("--json", metavar="FILE", help="write every figure as JSON too")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    paths = resolve_data_dir(args.data_dir)
    ensure_index(paths, args.corpus / "library", ChunkSettings(), model=args.model)
    queries, qrels = load(args.corpus)
    variants = [(n, FusionSettings.parse(rest)) for n, _, rest in (s.partition("=") for s in args.fusion or ["default="])]

    print(f"# {args.corpus.name}: {len(queries)} questions; model {args.model or 'default'}; {machine_note()}")
    cols = ["mode", "fusion", "MRR@10", "passage R@10", "document R@10", "q/s"]
    widths = [7, 12, 7, 12, 13, 5]
    print(fmt_row(cols, widths))
    embedder: Any = None
    results: list[dict[str, Any]] = []
    for mode in args.modes:
        for name, fusion in variants if mode != "dense" else variants[:1]:
            with Searcher(paths, model=args.model, embedder=embedder, fusion=fusion, threads=1) as searcher:
                if embedder is None and mode != "keyword":
                    embedder = CachingEmbedder(searcher.embedder)
                    searcher._embedder = embedder
                start = time.monotonic()
                per_query = [
                    scores(searcher.search(text, top_k=TOP_K, mode=mode, per_document=args.per_document), *qrels[qid])
                    for qid, text in queries
                ]
                rate = len(queries) / max(time.monotonic() - start, 1e-9)
            m = {k: sum(s[k] for s in per_query) / len(per_query) for k in per_query[0]}
            print(fmt_row([mode, name if mode != "dense" else "-", *(f"{m[k]:.4f}" for k in cols[2:5]), f"{rate:.0f}"],
                          widths), flush=True)
            results.append({"mode": mode, "fusion": name, "settings": fusion.__dict__, "queries": len(queries), **m})
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
