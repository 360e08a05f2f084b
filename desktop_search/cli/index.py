"""``desktop-search index``: add folders and bring the index up to date, with a progress bar and a report.

The progress bar goes to stderr and the report to stdout. Ctrl-C stops after
the current batch, keeping what was committed; a second Ctrl-C quits at once.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

from desktop_search.cli.search import print_language_notice
from desktop_search.errors import UserFacingError
from desktop_search.index.progress import Progress, format_duration
from desktop_search.ingest.chunking import ChunkSettings
from desktop_search.paths import DataPaths
from desktop_search.settings import Settings

if TYPE_CHECKING:  # SQLAlchemy is imported by the commands that need it
    from desktop_search.storage import Manifest


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

    if args.quantize:
        raise UserFacingError("--quantize is gone: use --precision int8 (ONNX Runtime's int8, about as fast "
                              "and closer to fp32; see README, \"Precision and speed\").")
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
        engine=args.engine or settings.engine,
        chunking=ChunkSettings(
            args.max_tokens if args.max_tokens is not None else base.max_tokens,
            args.overlap if args.overlap is not None else base.overlap_tokens,
            base.title_prefix if args.no_title_prefix is None else False,
        ),
        workers=args.workers,
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
        print_language_notice(paths, options.model, settings)
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
    for note in report.notes:
        print(f"Note: {note}", file=sys.stderr)
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
