"""Planning a run: the crawl of the library folders compared with the store.

Size and mtime decide first and a content hash confirms, so a rescan of an
unchanged library reads no file: a touched file with the same content is only
re-stamped, a new path holding a vanished document's content is a move (its
passages and vectors kept), a failed file is tried again while the retry
policy allows, and what is gone from a scanned folder is deleted. The plan
changes nothing; :class:`~desktop_search.index.indexer.Indexer` carries it out.
"""
from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field

from desktop_search.ingest.crawl import crawl
from desktop_search.ingest.pool import hash_file
from desktop_search.ingest.retry import should_retry
from desktop_search.storage import Store
from desktop_search.storage.records import KnownDocument
from desktop_search.storage.schema import DocStatus


@dataclass
class RunPlan:
    """What one run does to the store, decided before it changes anything."""

    todo: list[tuple[str, int]] = field(default_factory=list)  # (path, folder id)
    replacing: set[str] = field(default_factory=set)
    moves: list[tuple[KnownDocument, str, int, int, int]] = field(default_factory=list)
    touches: list[tuple[KnownDocument, int, int]] = field(default_factory=list)
    retries: dict[str, int] = field(default_factory=dict)  # path -> attempt number
    deletes: list[KnownDocument] = field(default_factory=list)
    unchanged: int = 0
    skipped_folders: list[str] = field(default_factory=list)


def plan_run(store: Store) -> RunPlan:
    """Crawl every library folder and sort its files into new, changed, moved, retried and deleted."""
    plan = RunPlan()
    known = store.known_documents()
    seen: set[str] = set()
    scanned_folders: set[int] = set()
    changed: list[tuple[str, int, KnownDocument, int, int]] = []
    new: list[tuple[str, int, int, int]] = []
    for folder in store.folders():
        if not os.path.isdir(folder["path"]):
            # An unplugged drive is not a deleted library: keep its documents.
            plan.skipped_folders.append(folder["path"])
            continue
        scanned_folders.add(folder["id"])
        for f in crawl(folder["path"], folder["include"], folder["exclude"]):
            if f.path in seen:
                continue  # nested library folders
            seen.add(f.path)
            k = known.get(f.path)
            if k is None:
                new.append((f.path, folder["id"], f.size, f.mtime_ns))
            elif k.size == f.size and k.mtime_ns == f.mtime_ns:
                if should_retry(k.failure, k.attempts):
                    # A failed file, or one partly read for want of a tool that is now there.
                    plan.todo.append((f.path, folder["id"]))
                    plan.replacing.add(f.path)
                    if k.status == DocStatus.FAILED:
                        plan.retries[f.path] = k.attempts + 1
                else:
                    plan.unchanged += 1
            else:
                changed.append((f.path, folder["id"], k, f.size, f.mtime_ns))
    missing = [k for p, k in known.items() if p not in seen and k.folder_id in scanned_folders]

    for path, fid, k, size, mtime in changed:
        if k.status == DocStatus.INDEXED and _safe_hash(path) == k.hash:
            plan.touches.append((k, size, mtime))
        else:
            plan.todo.append((path, fid))
            plan.replacing.add(path)
    # A new path whose content matches a vanished document is a move.
    by_size: dict[int, list[KnownDocument]] = defaultdict(list)
    for k in missing:
        if k.status == DocStatus.INDEXED:
            by_size[k.size].append(k)
    for path, fid, size, mtime in new:
        candidates = by_size.get(size)
        if candidates:
            digest = _safe_hash(path)
            match = next((c for c in candidates if c.hash == digest), None)
            if match is not None:
                candidates.remove(match)
                plan.moves.append((match, path, fid, size, mtime))
                continue
        plan.todo.append((path, fid))
    moved = {m[0].id for m in plan.moves}
    plan.deletes = [k for k in missing if k.id not in moved]
    return plan


def _safe_hash(path: str) -> str | None:
    try:
        return hash_file(path)
    except OSError:
        return None
