"""The SciFact corpus as the steps use it: the library's files, replicas of them, the test queries."""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from gpu.harness import Context
from retrieval_eval import corpus_id


def library_files(ctx: Context) -> list[Path]:
    return sorted(p for p in (ctx.scifact / "library").rglob("*") if p.suffix in (".pdf", ".epub"))


def replicate(files: Sequence[Path], root: Path, copies: int) -> list[Path]:
    """``copies`` folders of symlinks to ``files``: the same library as new files
    to the index (moves are only matched against vanished documents)."""
    folders = []
    for i in range(copies):
        folder = root / f"copy-{i:03d}"
        if not folder.exists():
            folder.mkdir(parents=True)
            for p in files:
                os.symlink(p.resolve(), folder / p.name)
        folders.append(folder)
    return folders


def load_queries(ctx: Context, limit: int) -> tuple[list[tuple[str, str]], dict[str, dict[str, int]]]:
    """Test queries with at least one judged document, and their judgements."""
    qrels: dict[str, dict[str, int]] = {}
    for line in (ctx.scifact / "qrels-test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, doc, score = line.split("\t")[:3]
        qrels.setdefault(qid, {})[doc] = int(score)
    queries = []
    for line in (ctx.scifact / "queries-test.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            if str(q["id"]) in qrels:
                queries.append((str(q["id"]), str(q["text"])))
    queries = queries[:limit] if limit else queries
    return queries, {qid: qrels[qid] for qid, _ in queries}


def quality_library(ctx: Context, qrels: dict[str, dict[str, int]], distractors: int) -> tuple[Path, int]:
    """All files (distractors 0), or the judged ones plus that many others."""
    files = library_files(ctx)
    if distractors:
        judged = {d for rel in qrels.values() for d in rel}
        files = [p for p in files if corpus_id(p.name) in judged] + \
                [p for p in files if corpus_id(p.name) not in judged][:distractors]
    return replicate(files, ctx.work / "quality-lib", 1)[0], len(files)
