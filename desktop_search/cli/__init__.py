"""The command-line front end: ``desktop-search`` / ``python -m desktop_search``.

A thin layer over :mod:`desktop_search.index.indexer` and :mod:`desktop_search.search.searcher`.
A bare ``desktop-search`` opens the GUI.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from desktop_search import __version__
from desktop_search.errors import UserFacingError
from desktop_search.index.progress import Progress, format_duration, load_progress
from desktop_search.ingest.chunking import ChunkSettings
from desktop_search.paths import DataPaths, library_path, resolve_data_dir
from desktop_search.search.terms import PER_DOCUMENT
from desktop_search.settings import Settings

if TYPE_CHECKING:  # SQLAlchemy is imported by the commands that need it
    from desktop_search.storage import Manifest

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="desktop-search",
        description="Offline semantic search over your PDFs and EPUBs. With no command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"desktop-search {__version__}")
    parser.add_argument("--data-dir", help="where the index and settings live (default: the platform's user data dir)")
    parser.add_argument("--model", help="embedding model: a folder, or a name from the catalogue / Hugging Face cache")
    parser.add_argument("--device", help="auto (default), cpu, cuda or mps")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                        help="the model's arithmetic: auto (default: bf16 on CPUs that compute it natively, "
                        "fp16 on CUDA, else fp32), or fp32 (setting: precision)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("index", help="add folders and bring the index up to date")
    p.add_argument("paths", nargs="*", help="folders to add (none: update the folders already in the library)")
    p.add_argument("--include", action="append", default=[], metavar="GLOB", help="only files matching GLOB")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="skip files or folders matching GLOB")
    p.add_argument("--rebuild", action="store_true", help="throw the index away and re-embed everything")
    p.add_argument("--workers", type=int,
                   help="extraction processes (default: one per core up to 8; with a GPU, all cores but two)")
    p.add_argument("--timeout", type=float, default=None, help="seconds allowed to read one file (default 120)")
    p.add_argument("--max-tokens", type=int, help=f"chunk size in model tokens (default {ChunkSettings.max_tokens})")
    p.add_argument("--overlap", type=int, help=f"chunk overlap in tokens (default {ChunkSettings.overlap_tokens})")
    p.add_argument("--no-title-prefix", action="store_true", default=None, help="do not embed the title with each passage")
    p.add_argument("--quantize", action="store_true",
                   help="int8 dynamic quantisation on CPU (about 1.3x faster; nDCG@10 about 0.01 lower on SciFact)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-ocr", action="store_true", help="do not read scanned pages with Tesseract (setting: ocr)")
    p.add_argument("--ocr-languages", metavar="LANGS", help="Tesseract language packs, e.g. eng+jpn "
                   "(default: the system language's pack if installed, plus English; setting: ocr_languages)")
    p.add_argument("--watch", action="store_true", help="keep running and index changes as they happen")
    p.add_argument("--watch-interval", type=float, default=5.0, help=argparse.SUPPRESS)

    p = sub.add_parser("search", help="search the index")
    p.add_argument("text", nargs="*", help="the question or keywords; \"quoted phrases\" must match exactly")
    p.add_argument("--queries", metavar="FILE.jsonl", help='answer many queries: one {"id": ..., "text": ...} per line')
    p.add_argument("--mode", choices=["dense", "keyword", "hybrid"], default=None, help="default: hybrid")
    _result_options(p)

    p = sub.add_parser("similar", help="passages like one passage (\"more like this\")")
    p.add_argument("path", nargs="?", help="the document the passage is in")
    p.add_argument("--page", type=int, help="the passage is the first one on this page (PDF)")
    p.add_argument("--chunk", type=int, metavar="ID", help="the passage's chunk_id, from search --json")
    _result_options(p)

    p = sub.add_parser("status", help="what is indexed, and what failed")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("remove", help="take a folder and its documents out of the index")
    p.add_argument("path")

    p = sub.add_parser("models", help="the model catalogue: list it, or download a model")
    msub = p.add_subparsers(dest="models_command", required=True)
    m = msub.add_parser("list", help="catalogue models: installed or not, size, languages")
    m.add_argument("--json", action="store_true")
    m = msub.add_parser("get", help="download a catalogue model from the Hugging Face Hub (resumable, verified)")
    m.add_argument("name", help="e.g. intfloat/multilingual-e5-small")

    return parser


def _result_options(p: argparse.ArgumentParser) -> None:
    """The options every command that lists results takes."""
    p.add_argument("-k", "--top-k", type=int, default=None, help="number of documents (default 10)")
    p.add_argument("--per-document", type=int, default=PER_DOCUMENT,
                   help=f"passages shown per document (default {PER_DOCUMENT}; 0 = every one that is a hit)")
    p.add_argument("--json", action="store_true", help="one JSON object per result line (passage)")
    p.add_argument("--folder", action="append", default=[], help="only results under this folder")
    p.add_argument("--type", action="append", default=[], choices=["pdf", "epub"], dest="kinds", help="only this file type")


def _setup_logging(verbosity: int, paths: DataPaths | None) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", handlers=handlers, force=True)
    # Per-file warnings are recorded and summarised; on the console they would
    # scroll the progress bar away.
    for name in ("desktop_search.index.indexer", "desktop_search.index.folders"):
        logging.getLogger(name).setLevel(max(level, logging.ERROR) if verbosity == 0 else level)


class ProgressBar:
    """A one-line progress display on stderr, redrawn at most 10 times a second."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr  # looked up now, so a redirected stderr is honoured
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self._last = 0.0
        self._width = 0

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        final = p.phase in ("done", "saving")
        if not final and now - self._last < (0.1 if self.tty else 5.0) and p.phase == "indexing":
            return
        self._last = now
        line = p.line()
        if self.tty:
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._width = len(line)
            if p.phase == "done":
                self.stream.write("\n")
        elif p.phase != "done":
            self.stream.write(line + "\n")
        self.stream.flush()


def cmd_index(args: argparse.Namespace, paths: DataPaths, settings: Settings) -> int:
    from desktop_search.index.indexer import Indexer, IndexOptions
    from desktop_search.ingest.extract.ocr import OcrOptions, language_problem

    # An update keeps the index's own model and chunking unless told otherwise,
    # so `index --max-tokens 128 DIR` followed by a plain `index` just works.
    manifest = _existing_manifest(paths)
    base = ChunkSettings() if manifest is None else ChunkSettings(
        manifest.max_tokens, manifest.overlap_tokens, manifest.title_prefix)
    options = IndexOptions(
        model=args.model or settings.model or (manifest.model_id if manifest else None),
        extra_models=settings.extra_models,
        device=args.device or settings.device,
        precision=args.precision or settings.precision,
        chunking=ChunkSettings(
            args.max_tokens if args.max_tokens is not None else base.max_tokens,
            args.overlap if args.overlap is not None else base.overlap_tokens,
            base.title_prefix if args.no_title_prefix is None else False,
        ),
        workers=args.workers,
        quantize=args.quantize,
        ocr=OcrOptions(enabled=settings.ocr and not args.no_ocr, languages=args.ocr_languages or settings.ocr_languages),
    )
    if options.ocr is not None and (problem := language_problem(options.ocr)):
        raise UserFacingError(problem)
    if args.timeout:
        options.timeout_s = args.timeout
    bar = ProgressBar(enabled=not args.no_progress)
    cancel = threading.Event()
    indexer = Indexer(paths, options, on_progress=bar, cancel=cancel)

    def on_sigint(_sig: int, _frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        print("\nStopping after the current batch (Ctrl-C again to quit now)…", file=sys.stderr)
        cancel.set()

    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        report = indexer.run(args.paths, include=args.include, exclude=args.exclude, rebuild=args.rebuild)
        _print_report(report)
        _print_language_notice(paths, options.model, settings)
        while args.watch and not cancel.is_set():
            # Polling rescans cost well under a second for thousands of files
            # when nothing changed, and need no platform-specific watcher.
            cancel.wait(args.watch_interval)
            if cancel.is_set():
                break
            report = indexer.run()
            if report.added or report.updated or report.deleted or report.moved or report.failed:
                _print_report(report)
    finally:
        signal.signal(signal.SIGINT, old)
    return 0


def _existing_manifest(paths: DataPaths) -> Manifest | None:
    from desktop_search.storage import Store

    if not paths.database.exists():
        return None
    try:
        store = Store(paths.database, readonly=True)
    except UserFacingError:
        return None  # damaged: --rebuild replaces it, and a plain index reports it
    with store:
        return store.manifest()


def _print_report(report: Any) -> None:
    out = sys.stdout
    rate = f", {report.embedded / report.seconds:.1f} passages/s embedded" if report.seconds and report.embedded else ""
    print(
        f"Indexed {report.added} new, {report.updated} changed, {report.moved} moved, {report.deleted} removed, "
        f"{report.unchanged} unchanged; {len(report.failed)} failed; {report.chunks} passages, "
        f"{report.embedded} embedded in {format_duration(report.seconds)}{rate}.",
        file=out,
    )
    if report.slowest is not None:
        print(f"Slowest file: {report.slowest[0]} ({report.slowest[1]:.1f} s to read)", file=out)
    if report.cancelled:
        print("Stopped early: run `desktop-search index` again to finish.", file=out)
    for folder in report.skipped_folders:
        print(f"Not available (kept as it was): {folder}", file=out)
    if report.failed:
        print("Failed files:", file=out)
        for path, error in report.failed:
            print(f"  {path}: {error}", file=out)
    if report.warnings:
        print("Partly read:", file=out)
        for path, error in report.warnings:
            print(f"  {path}: {error}", file=out)


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
                  threads=1, precision=args.precision or settings.precision) as searcher:
        if mode != "keyword":
            note = searcher.embedding_note()
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


def _print_language_notice(paths: DataPaths, model: str | None, settings: Settings) -> None:
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
    from desktop_search.search.searcher import flatten

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


def cmd_status(args: argparse.Namespace, paths: DataPaths, settings: Settings) -> int:
    from desktop_search.index.library_info import read_library_info

    library = read_library_info(paths)
    info = library.to_json()
    info["data_dir"] = str(paths.root)
    info["device"] = _device_description(args.device or settings.device)
    running = load_progress(paths.progress)
    info["indexing"] = dataclasses.asdict(running) if running is not None else None
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return 0
    print(f"Data dir:  {info['data_dir']}")
    print(f"Model:     {library.model or '(none yet)'}")
    print(f"Device:    {info['device']}")
    print(f"Documents: {library.documents}   Passages: {library.chunks} ({library.embedded} embedded)   "
          f"Failed: {len(library.failed)}")
    if running is not None:
        print(f"Indexing:  {running.line()}")
    for f in library.folders:
        print(f"  {f.path}  ({f.indexed} indexed, {f.failed} failed)")
    if library.failed:
        print("Failed files:")
        for problem in library.failed:
            print(f"  {problem.path}: {problem.error}")
    return 0


def _device_description(requested: str) -> str:
    """Names the device without loading a model (torch is imported, though)."""
    try:
        from desktop_search.embed.embedder import device_name, pick_device

        return device_name(pick_device(requested))
    except ImportError:
        return "unknown (torch is not installed)"


def cmd_remove(args: argparse.Namespace, paths: DataPaths, settings: Settings) -> int:
    from desktop_search.index.folders import remove_folder

    target = library_path(args.path)
    n = remove_folder(paths, target)
    print(f"Removed {target}: {n} documents.")
    return 0


def cmd_models(args: argparse.Namespace, paths: DataPaths, settings: Settings) -> int:
    from desktop_search.embed import download

    if args.models_command == "list":
        rows = download.list_models(paths.root, settings.extra_models)
        if args.json:
            for r in rows:
                print(json.dumps({"name": r.name, "installed": str(r.installed) if r.installed else None,
                                  "size_mb": r.size_mb, "languages": r.languages, "default": r.default},
                                 ensure_ascii=False))
            return 0
        for r in rows:
            size = f"{r.size_mb} MB" if r.size_mb else "?"
            where = f"installed: {r.installed}" if r.installed else "not installed"
            print(f"{r.name}{'  (default)' if r.default else ''}\n    {size}, {r.languages}; {where}")
        return 0
    folder = download.download_model(args.name, paths.root)
    if str(folder) not in settings.extra_models:
        settings.extra_models.append(str(folder))
        settings.save(paths.settings)
    entry = download.catalogue_entry(args.name)
    assert entry is not None, "download_model checked the name"
    name = entry["name"]
    print(f"Downloaded and verified {name} into {folder}.")
    print(f"Use it with: desktop-search --model {name} index --rebuild")
    return 0


COMMANDS = {"index": cmd_index, "search": cmd_search, "similar": cmd_similar, "status": cmd_status, "remove": cmd_remove,
            "models": cmd_models}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for stream in (sys.stdout, sys.stderr):
        # File names that are not UTF-8 carry lone surrogates: show them escaped, never crash on them.
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        paths = resolve_data_dir(args.data_dir)
        if args.command is None:
            from desktop_search.gui.app import main as gui_main, startup_probe

            return gui_main(paths, on_shown=startup_probe())
        _setup_logging(args.verbose, paths)
        settings = Settings.load(paths.settings)
        return COMMANDS[args.command](args, paths, settings)
    except UserFacingError as exc:
        print(f"desktop-search: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception:  # a bug: log the traceback, exit non-zero
        logger.exception("Unexpected error (this is a bug; please report it with the traceback above)")
        return 1
