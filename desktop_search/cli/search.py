"""``desktop-search search`` and ``similar``: ranked documents with their passages, as text or JSON lines.

Results go to stdout (one JSON object per passage with ``--json``, a
contract); notes about the model or the query's language go to stderr.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from desktop_search.errors import UserFacingError
from desktop_search.paths import DataPaths
from desktop_search.settings import Settings


def _read_queries(path: str) -> list[tuple[str, str]]:
    queries = []
    try:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    queries.append((str(obj["id"]), str(obj["text"])))
                except (ValueError, KeyError, TypeError) as exc:
                    raise UserFacingError(f"{path}, line {n}: expected {{\"id\": ..., \"text\": ...}} ({exc})") from exc
    except OSError as exc:
        raise UserFacingError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    return queries


def cmd_search(args: argparse.Namespace, paths: DataPaths, settings: Settings) -> int:
    from desktop_search.search.searcher import Searcher

    if not paths.database.exists():
        raise UserFacingError("Nothing is indexed yet. Run `desktop-search index FOLDER` first.")
    queries: list[tuple[str | None, str]]
    if args.queries:
        queries = list(_read_queries(args.queries))
    elif args.text:
        queries = [(None, " ".join(args.text))]
    else:
        raise UserFacingError("Give a query, or --queries FILE.jsonl.")
    top_k = args.top_k or settings.top_k
    mode = args.mode or settings.search_mode
    # One short query at a time: a single CPU thread is as fast when the machine
    # is idle, and many times faster when other work keeps the cores busy.
    with Searcher(paths, model=args.model, extra_models=settings.extra_models, device=args.device or settings.device,
                  threads=1, precision=args.precision or settings.precision,
                  engine=args.engine or settings.engine) as searcher:
        if mode != "keyword":
            for note in (searcher.embedding_note(), searcher.query_precision()[1]):
                if note:
                    print(f"desktop-search: {note}", file=sys.stderr)
            _print_notice(searcher.language_notice([text for _qid, text in queries]))
            if len(queries) > 1:
                searcher.prepare([text for _qid, text in queries])
        for qid, text in queries:
            documents = searcher.search_documents(text, top_k=top_k, mode=mode, folders=args.folder, kinds=args.kinds,
                                                  per_document=args.per_document)
            _print_documents(documents, args.json, qid)
    return 0


def _print_notice(notice: Any) -> None:
    """One line on stderr, so `--json` output on stdout stays clean."""
    if notice is not None:
        print(f"Note: {notice.message}", file=sys.stderr)


def print_language_notice(paths: DataPaths, model: str | None, settings: Settings) -> None:
    """After an index run: the note, if any, that the library is in a script the model does not read."""
    from desktop_search.search.searcher import Searcher

    if not paths.database.exists():
        return
    with Searcher(paths, model=model, extra_models=settings.extra_models) as searcher:
        _print_notice(searcher.language_notice())


def cmd_similar(args: argparse.Namespace, paths: DataPaths, settings: Settings) -> int:
    from desktop_search.search.searcher import Searcher

    if not paths.database.exists():
        raise UserFacingError("Nothing is indexed yet. Run `desktop-search index FOLDER` first.")
    if (args.chunk is None) == (args.path is None):
        raise UserFacingError("Give a document (PATH, with --page N for a PDF page), or --chunk ID.")
    # No query to embed: the passage's own vector is the query, so no model loads.
    with Searcher(paths, model=args.model, extra_models=settings.extra_models, threads=1) as searcher:
        chunk = args.chunk
        if chunk is None:
            chunk = searcher.chunk_at(args.path, args.page)
            if chunk is None:
                where = f" on page {args.page}" if args.page is not None else ""
                raise UserFacingError(f"No indexed passage of {args.path}{where}.")
        documents = searcher.similar(chunk, top_k=args.top_k or settings.top_k, folders=args.folder,
                                     kinds=args.kinds, per_document=args.per_document)
        _print_documents(documents, args.json, None)
    return 0


def _print_documents(documents: Sequence[Any], as_json: bool, qid: str | None) -> None:
    """Rows of one document together: JSON lines, or a block per document with its further passages."""
    from desktop_search.search.results import flatten

    out = sys.stdout
    for r in flatten(documents):
        r.query_id = qid
        if as_json:
            out.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
    if as_json:
        return
    for d in documents:
        _print_document(d, out)
    if not documents:
        print("No results.", file=out)


def _print_document(d: Any, out: TextIO) -> None:
    import textwrap

    best = d.best
    snippet = textwrap.shorten(best.text, width=300, placeholder=" …")
    print(f"{d.rank:>2}. [{best.score:.3f}] {best.title}  —  {best.location}", file=out)
    print(f"    {best.path}", file=out)
    print(textwrap.indent(textwrap.fill(snippet, width=96), "    "), file=out)
    for r in d.passages[1:]:
        more = textwrap.shorten(r.text, width=200, placeholder=" …")
        print(textwrap.fill(f"{r.location}: {more}", width=96, initial_indent="    + ", subsequent_indent="      "),
              file=out)
    print(file=out)
