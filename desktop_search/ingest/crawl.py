"""Walking library folders for PDFs and EPUBs.

Only regular files count: FIFOs, sockets, devices and folders named like
``x.pdf`` are skipped. Symlinks are followed, but every folder is entered at
most once, so a symlink loop cannot trap the walk. Hidden entries are skipped.
"""
from __future__ import annotations

import fnmatch
import logging
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from desktop_search.ingest.extract import SUPPORTED_SUFFIXES

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoundFile:
    path: str
    size: int
    mtime_ns: int


def _matches(rel: str, name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def crawl(
    root: str | os.PathLike[str],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    errors: list[str] | None = None,
) -> Iterator[FoundFile]:
    """Yield supported files under ``root``.

    ``include``/``exclude`` are glob patterns matched against the path
    relative to ``root`` (with ``/``) and against the bare file name; an
    excluded folder is not entered. Unreadable folders are noted in
    ``errors`` and skipped.
    """
    root = os.path.abspath(root)
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError as exc:
            _note(errors, f"{folder}: {exc.strerror or exc}")
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            continue
        seen.add(key)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            _note(errors, f"{folder}: {exc.strerror or exc}")
            continue
        subdirs: list[str] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            # relpath is the costliest step of a no-change rescan: only when globs need it.
            rel = os.path.relpath(entry.path, root).replace(os.sep, "/") if include or exclude else ""
            if exclude and _matches(rel, entry.name, exclude):
                continue
            try:
                st = entry.stat()  # follows symlinks
            except OSError:
                continue  # a dangling symlink, or gone since the listing
            if stat.S_ISDIR(st.st_mode):
                subdirs.append(entry.path)
            elif stat.S_ISREG(st.st_mode) and Path(entry.name).suffix.lower() in SUPPORTED_SUFFIXES:
                if include and not _matches(rel, entry.name, include):
                    continue
                yield FoundFile(entry.path, st.st_size, st.st_mtime_ns)
        stack.extend(reversed(subdirs))


def _note(errors: list[str] | None, message: str) -> None:
    logger.warning("Cannot read folder %s", message)
    if errors is not None:
        errors.append(message)


@dataclass(frozen=True)
class PatternCounts:
    """What a folder's include/exclude patterns would do to its files."""

    total: int  # supported files under the folder, before the patterns
    kept: int  # files the patterns let through
    excluded_by: dict[str, int]  # exclude pattern -> files it keeps out (itself or through a folder)
    matched_by: dict[str, int]  # include pattern -> files it lets in


def pattern_counts(root: str | os.PathLike[str], include: Sequence[str] = (), exclude: Sequence[str] = ()) -> PatternCounts:
    """Count, without indexing anything, the files each pattern excludes (or lets in).

    The rules are :func:`crawl`'s: an exclude pattern matching a folder keeps
    everything under it out; include patterns apply to files only.
    """
    root = os.path.abspath(root)
    excluded_by = dict.fromkeys(exclude, 0)
    matched_by = dict.fromkeys(include, 0)
    total = kept = 0
    for found in crawl(root):
        total += 1
        rel = os.path.relpath(found.path, root).replace(os.sep, "/")
        parts = rel.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]  # each folder on the way, then the file
        out = False
        for p in exclude:
            if any(_matches(prefix, prefix.rsplit("/", 1)[-1], [p]) for prefix in prefixes):
                excluded_by[p] += 1
                out = True
        hits = [p for p in include if _matches(rel, parts[-1], [p])]
        for p in hits:
            matched_by[p] += 1
        if not out and (not include or hits):
            kept += 1
    return PatternCounts(total, kept, excluded_by, matched_by)
