"""The command-line front end: ``desktop-search`` / ``python -m desktop_search``.

A thin layer over :mod:`desktop_search.index.indexer` and :mod:`desktop_search.search.searcher`.
A bare ``desktop-search`` opens the GUI. This module is the entry: the
argument parser, logging and the exit codes; the commands live in
:mod:`~desktop_search.cli.index`, :mod:`~desktop_search.cli.search` and
:mod:`~desktop_search.cli.manage`, each importing what is heavy (SQLAlchemy,
torch) only when it runs.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from desktop_search import __version__
from desktop_search.cli.index import cmd_index
from desktop_search.cli.manage import cmd_models, cmd_remove, cmd_status
from desktop_search.cli.search import cmd_search, cmd_similar
from desktop_search.embed.engine import Engine, Precision
from desktop_search.errors import UserFacingError
from desktop_search.ingest.chunking import ChunkSettings
from desktop_search.paths import DataPaths, resolve_data_dir
from desktop_search.search.terms import PER_DOCUMENT
from desktop_search.settings import Settings

if TYPE_CHECKING:
    from desktop_search.gui.app import StartupProbe

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="desktop-search",
        description="Offline semantic search over your PDFs and EPUBs. With no command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"desktop-search {__version__}")
    parser.add_argument("--data-dir", help="where the index and settings live (default: the platform's user data dir)")
    parser.add_argument("--model", help="embedding model: a folder, or a name from the catalogue / Hugging Face cache")
    parser.add_argument("--device", help="auto (default), cpu, cuda or mps (GPUs need the torch extra)")
    parser.add_argument("--engine", choices=[e.value for e in Engine],
                        help="what runs the model: auto (default: the fastest here, see README), onnx (ONNX Runtime, "
                        "the CPU engine) or torch (the torch extra: GPUs, bf16) (setting: engine)")
    parser.add_argument("--precision", choices=[p.value for p in Precision],
                        help="the model's arithmetic: auto (default: the fastest that keeps retrieval quality here; "
                        "an existing index's own), fp32, int8 (ONNX Runtime), bf16 (torch on the CPU) or fp16 "
                        "(torch on CUDA) (setting: precision)")
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
    p.add_argument("--quantize", action="store_true", help=argparse.SUPPRESS)  # replaced by --precision int8
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


COMMANDS = {"index": cmd_index, "search": cmd_search, "similar": cmd_similar, "status": cmd_status, "remove": cmd_remove,
            "models": cmd_models}


def _print_probe_shown() -> None:
    """The window is on screen: when, and whether torch was loaded by then (one JSON line on stdout)."""
    print(json.dumps({"shown_at": time.time(), "torch_loaded": "torch" in sys.modules, "cpu_s": time.process_time()}),
          flush=True)


def _print_probe_answer(documents: int, model_loaded: bool) -> None:
    """The probe query's first answer is shown: when, how many documents, whether the query model had loaded,
    and the process's CPU seconds so far (what a machine of the same speed, but idle, would take at least)."""
    print(json.dumps({"answered_at": time.time(), "documents": documents, "model_loaded": model_loaded,
                      "cpu_s": time.process_time()}), flush=True)


def _startup_probe() -> StartupProbe | None:
    """The window's start-up probe, when the environment asks for one (see :mod:`desktop_search.gui.app`)."""
    from desktop_search.gui.app import PROBE_ENV, PROBE_QUERY_ENV, StartupProbe

    if not os.environ.get(PROBE_ENV):
        return None
    return StartupProbe(_print_probe_shown, os.environ.get(PROBE_QUERY_ENV) or None, _print_probe_answer)


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
            from desktop_search.gui.app import main as gui_main

            return gui_main(paths, probe=_startup_probe())
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
