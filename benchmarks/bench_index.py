"""Cold index of N SciFact files through the real pipeline, against the bare model.

The pipeline (crawl, extraction pool, chunking, embedding, SQLite, hnsw) is
timed end to end with the model already loaded. The baseline is the bare
forward of the same model over the exact texts the index embedded, in the
same calls, with tokenisation and padding done beforehand, at the same
engine and precision (``--engine``, ``--precision``; fp32 as well, where the
run's precision is another): what the hardware can do with no pipeline at all. It runs twice right after the index run (it
needs the texts the run produced) and the mean is used; on a shared machine
compare several runs.

    PYTHONPATH=$PWD nice -n 10 python benchmarks/bench_index.py            # 300 files, CPU
    PYTHONPATH=$PWD nice -n 10 python benchmarks/bench_index.py --all      # all 5,183 files
    PYTHONPATH=$PWD python benchmarks/bench_index.py --precision int8      # ONNX Runtime int8, both sides
    PYTHONPATH=$PWD python benchmarks/bench_index.py --all --device cuda   # on a GPU

With ``--cli``, what the user waits for instead: the wall time of a cold
``desktop-search index`` process (interpreter start, imports, model load,
pool start, everything) against, in the same run, two bare forwards: over the
passages the app embedded (read back from its index: title and overlap
included, as the app embeds them), and over the same files' text cut into
254-token windows (no overlap, no title: fewer tokens than the app embeds,
the baseline of issue 20), each sorted by length and batched under the
embedder's token budget:

    PYTHONPATH=$PWD python benchmarks/bench_index.py --cli -n 600
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

from _common import LIBRARY, REPO, library_files, link_library, machine_note, sqlite_ro
from desktop_search.embed.embedder import Embedder, Engine, Precision, pad_batch
from desktop_search.embed.hardware import torch_installed
from desktop_search.embed.models import resolve_model
from desktop_search.index.indexer import Indexer, IndexOptions
from desktop_search.paths import resolve_data_dir


class RecordingEmbedder(Embedder):
    """The real embedder, noting every batch of passages the index embeds."""

    calls: list[list[str]]

    @classmethod
    def of(cls, embedder: Embedder) -> RecordingEmbedder:
        """``embedder`` itself, from now on noting its batches: the loaded model is not loaded twice."""
        embedder.__class__ = cls
        recording = cast(RecordingEmbedder, embedder)
        recording.calls = []
        return recording

    def encode_passages(self, texts: Any, ids: Any = None) -> Any:
        self.calls.append(list(texts))
        return super().encode_passages(texts, ids)


def prepare(embedder: Embedder, calls: list[list[str]]) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Tokenise, sort and pad every call exactly as ``Embedder.encode`` does."""
    prepared = []
    for texts in calls:
        ids = embedder._input_ids([embedder.spec.passage_prefix + t for t in texts])
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
        batches, start = [], 0
        while start < len(order):
            size = max(1, embedder.token_budget // max(len(ids[order[start]]), 1))
            part = order[start : start + size]
            start += len(part)
            batches.append(pad_batch([ids[i] for i in part], embedder.pad_id))
        prepared.append(batches)
    return prepared


def bare_forward(embedder: Embedder, prepared: list[list[tuple[np.ndarray, np.ndarray]]]) -> float:
    """Seconds for the engine alone (forward, pooling, normalising) over prepared batches, at the embedder's
    engine and precision: what the hardware does with no pipeline around it."""
    runner = embedder.runner
    t0 = time.perf_counter()
    pending = []
    for batches in prepared:
        for ids, mask in batches:
            out = runner.run(ids, mask, small=False)
            pending.append(out) if runner.deferred else runner.fetch(out)
    for out in pending:
        runner.fetch(out)
    return time.perf_counter() - t0


Batches = tuple[list[tuple[np.ndarray, np.ndarray]], int, int]
"""Padded batches, with how many pieces and tokens they hold."""


def window_batches(embedder: Embedder, files: list[Path], window: int = 254) -> Batches:
    """The files' text in ``window``-token pieces (+ [CLS]/[SEP]), longest first, padded under the token budget."""
    from desktop_search.ingest.pool import read_and_extract

    tok = embedder.tokenizer
    pieces: list[list[int]] = []
    for f in files:
        try:
            doc = read_and_extract(str(f))
        except Exception:  # noqa: BLE001 - a file the app fails on costs the baseline nothing either
            continue
        ids = tok("\n\n".join(s.text for s in doc.segments), add_special_tokens=False)["input_ids"]
        for i in range(0, len(ids), window):
            pieces.append([tok.cls_token_id, *ids[i : i + window], tok.sep_token_id])
    return _batches(embedder, pieces)


def indexed_batches(embedder: Embedder, data: Path) -> Batches:
    """What the app embedded, read back from its index: each passage's text to embed (the title before it where
    the app puts one: :func:`~desktop_search.recipe.embedding_text`), tokenized as the embedder does."""
    from desktop_search.ingest.chunking import ChunkSettings
    from desktop_search.recipe import embedding_text

    with sqlite_ro(data / "index.sqlite3") as con:
        rows = con.execute("SELECT d.title, c.text FROM chunks c JOIN documents d ON d.id = c.document_id").fetchall()
    spec = embedder.spec
    texts = [spec.passage_prefix + embedding_text(title, text, ChunkSettings().title_prefix) for title, text in rows]
    return _batches(embedder, embedder.tokenizer(texts, truncation=True, max_length=spec.max_tokens)["input_ids"])


def _batches(embedder: Embedder, pieces: list[list[int]]) -> Batches:
    pieces.sort(key=len, reverse=True)
    batches, start = [], 0
    while start < len(pieces):
        size = max(1, embedder.token_budget // len(pieces[start]))
        part = pieces[start : start + size]
        start += len(part)
        batches.append(pad_batch(part, embedder.pad_id))
    return batches, len(pieces), sum(len(p) for p in pieces)


def cli_run(library: Path, data: Path, args: argparse.Namespace) -> float:
    """Wall seconds of a cold ``desktop-search index`` process."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "desktop_search", "--data-dir", str(data), "--device", args.device,
                          "--engine", args.engine, "--precision", args.precision, "index", "--no-progress", str(library)],
                         cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"index failed: {out.stderr[-2000:]}")
    print(out.stdout.strip().splitlines()[0])
    return wall


def main_cli(args: argparse.Namespace) -> int:
    files = library_files(None if args.all else args.n)
    print(f"machine before: {machine_note()}")
    with tempfile.TemporaryDirectory(prefix="bench-index-cli-") as tmp:
        library = LIBRARY if args.all else link_library(files, Path(tmp) / "library")
        data = Path(args.data_dir) if args.data_dir else Path(tmp) / "data"
        if (data / "index.sqlite3").exists():
            raise SystemExit(f"{data} already holds an index: a cold run needs an empty data dir")
        app_s = cli_run(library, data, args)
        print(f"machine after the app: {machine_note()}")
        fp32 = Embedder(resolve_model(None), device=args.device, precision=Precision.FP32, engine=args.baseline_engine)
        passages, n_passages, n_passage_tokens = indexed_batches(fp32, data)
    batches, n_windows, n_tokens = window_batches(fp32, files)
    fp32.encode_passages(["warm up the model"] * 8)
    passages_s = bare_forward(fp32, [passages])
    forward_s = bare_forward(fp32, [batches])
    # Where the app runs another engine or precision than this baseline (bf16, int8, ONNX Runtime against torch),
    # the same forward in its arithmetic shows what the pipeline itself costs.
    app_precision = Embedder(resolve_model(None), device=args.device, precision=args.precision, engine=args.engine)
    same_s = None
    if app_precision.arithmetic != fp32.arithmetic:
        app_precision.encode_passages(["warm up the model"] * 8)
        same_s = bare_forward(app_precision, [passages])
    print(f"machine after the baseline: {machine_note()}")
    print(f"\nfiles {len(files)}")
    print(f"desktop-search index (cold process: start, imports, model load, everything; "
          f"{app_precision.name}): {app_s:.2f} s")
    print(f"bare fp32 forward ({fp32.name}) over the {n_passages} passages the app embedded ({n_passage_tokens} "
          f"tokens: titles and overlaps in), sorted by length: {passages_s:.2f} s")
    print(f"RATIO bare fp32 forward over the app's passages / app wall: {passages_s / app_s:.3f}")
    print(f"bare fp32 forward ({fp32.name}), {n_windows} windows of <= 254 tokens ({n_tokens} tokens), no overlap or title, "
          f"sorted by length: {forward_s:.2f} s")
    print(f"RATIO bare fp32 forward over the windows / app wall: {forward_s / app_s:.3f}")
    if same_s is not None:
        print(f"bare forward ({app_precision.name}) over the app's passages: {same_s:.2f} s")
        print(f"RATIO bare {app_precision.precision} forward / app wall (what the pipeline costs beyond the model, "
              f"start-up included): {same_s / app_s:.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=300, help="number of SciFact files (default 300)")
    ap.add_argument("--all", action="store_true", help="the whole 5,183-file library")
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda, auto")
    ap.add_argument("--engine", default="auto", choices=[e.value for e in Engine], help="as the CLI's --engine")
    ap.add_argument("--precision", default="auto", choices=[p.value for p in Precision],
                    help="as the CLI's --precision (the bare forward runs the same, and fp32)")
    ap.add_argument("--baseline-engine", default="torch" if torch_installed() else "onnx",
                    choices=[Engine.ONNX.value, Engine.TORCH.value],
                    help="with --cli: the engine of the bare fp32 forward (default torch where it is installed)")
    ap.add_argument("--workers", type=int, default=None, help="extraction processes (default: the pipeline's choice)")
    ap.add_argument("--batch-chunks", type=int, default=IndexOptions.batch_chunks)
    ap.add_argument("--cli", action="store_true", help="a cold `desktop-search index` process vs the bare forward")
    ap.add_argument("--data-dir", help="with --cli: index into this (empty) dir and keep it, e.g. for retrieval_eval.py")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.cli:
        return main_cli(args)

    spec = resolve_model(None)
    print(f"machine: {machine_note()}")
    t0 = time.perf_counter()
    embedder = RecordingEmbedder.of(Embedder(spec, device=args.device, precision=args.precision, engine=args.engine))
    print(f"model {spec.id} on {embedder.name}, loaded in {time.perf_counter() - t0:.1f} s (not counted below)")
    fp32 = embedder if embedder.precision == Precision.FP32 else Embedder(spec, device=args.device,
                                                                          precision=Precision.FP32)

    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        if args.all:
            library = LIBRARY
            n_files = len(library_files(None))
        else:
            files = library_files(args.n)
            library = link_library(files, Path(tmp) / "library")
            n_files = len(files)
        paths = resolve_data_dir(Path(tmp) / "data")
        options = IndexOptions(device=args.device, precision=args.precision, engine=args.engine,
                               workers=args.workers, batch_chunks=args.batch_chunks)

        # The baseline needs the texts, which only the index run knows; a
        # small warm-up forward first so neither side pays first-call costs.
        embedder.encode_passages(["warm up the model"] * 8)
        fp32.encode_passages(["warm up the model"] * 8)
        t0 = time.perf_counter()
        report = Indexer(paths, options, embedder=embedder).run(add=[str(library)])
        index_s = time.perf_counter() - t0

    calls = embedder.calls
    texts = [t for c in calls for t in c]
    n_chunks = len(texts)
    tok = fp32.tokenizer
    t0 = time.perf_counter()
    n_tokens = sum(len(x) for x in tok([spec.passage_prefix + t for t in texts], truncation=True,
                                       max_length=spec.max_tokens)["input_ids"])
    tokenise_s = time.perf_counter() - t0
    prepared = prepare(embedder, calls)
    forward_after = bare_forward(embedder, prepared)
    forward_before = bare_forward(embedder, prepared)
    forward_s = (forward_after + forward_before) / 2
    fp32_s = bare_forward(fp32, prepare(fp32, calls)) if fp32 is not embedder else forward_s

    t = report.timings
    print(f"\nfiles {n_files} (indexed {report.added}, failed {len(report.failed)}), chunks {n_chunks}, "
          f"tokens {n_tokens}, {len(calls)} embedding calls")
    print(f"pipeline ({embedder.name}): {index_s:.2f} s  = {n_files / index_s:.1f} files/s, "
          f"{n_chunks / index_s:.1f} chunks/s, {n_tokens / index_s:.0f} tokens/s")
    print(f"bare forward, same engine and precision, same texts and batches: {forward_s:.2f} s "
          f"(runs {forward_after:.2f} / {forward_before:.2f}) = {n_chunks / forward_s:.1f} chunks/s, "
          f"{n_tokens / forward_s:.0f} tokens/s")
    print(f"RATIO pipeline / bare forward (throughput): {forward_s / index_s:.3f}  (target >= 0.9)")
    if fp32 is not embedder:
        print(f"bare fp32 forward ({fp32.name}), same texts: {fp32_s:.2f} s; RATIO pipeline / bare fp32 forward: "
              f"{fp32_s / index_s:.3f}")
    print(f"tokenising the same texts alone: {tokenise_s:.2f} s ({tokenise_s / forward_s:.1%} of the bare forward)")
    print("\nwhere the time goes (seconds; stages overlap, so they do not add up to the wall time):")
    rows = [
        ("extract (summed over worker processes)", t.get("extract", 0.0)),
        ("chunking in the workers (summed)", t.get("chunk", 0.0)),
        ("main thread waiting for extraction", t.get("wait", 0.0)),
        ("text commits (passages + full-text rows)", t.get("commit", 0.0)),
        ("embedder tokenise + pad", t.get("tokenize", 0.0)),
        ("embedder forward", t.get("forward", 0.0)),
        ("embedder waiting for the vector store", t.get("store wait", 0.0)),
        ("vector store: SQLite update + hnsw add", t.get("store", 0.0)),
    ]
    for name, sec in rows:
        print(f"  {name:<46} {sec:8.2f} s  {sec / index_s:6.1%} of wall")
    other = index_s - t.get("tokenize", 0.0) - t.get("forward", 0.0)
    print(f"  {'wall not spent in the embedder':<46} {other:8.2f} s  {other / index_s:6.1%} of wall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
