"""The library's folders outside a run: taking one out, and the list's backup.

The folder list lives in the database, which a rebuild throws away (and a
damaged one cannot be read): a copy kept beside it lets the rebuild index the
same folders again.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from desktop_search.errors import UserFacingError
from desktop_search.paths import DataPaths, library_path
from desktop_search.storage import Store, VectorIndex
from desktop_search.storage.files import atomic_write_bytes
from desktop_search.storage.lock import WriterLock
from desktop_search.storage.topk_index import remove_topk_index, update_topk_index
from desktop_search.storage.vectors import remove_files

logger = logging.getLogger(__name__)


def remove_index_files(paths: DataPaths) -> None:
    """Delete the database and vectors (for --rebuild or a damaged store)."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(paths.database) + suffix).unlink(missing_ok=True)
    remove_files(paths)
    remove_topk_index(paths)


def save_folders_backup(paths: DataPaths, folders: Sequence[dict]) -> None:
    """Keep the library folder list outside the database, where a rebuild can still read it."""
    keep = [{"path": f["path"], "include": f["include"], "exclude": f["exclude"]} for f in folders]
    try:
        # ASCII JSON escapes lone surrogates, so a folder name that is not UTF-8 survives the round trip.
        atomic_write_bytes(paths.folders_backup, json.dumps(keep).encode("ascii"))
    except OSError as exc:  # a nicety: the index itself is fine without it
        logger.warning("Cannot save the folder list backup: %s", exc)


def load_folders_backup(paths: DataPaths) -> list[dict]:
    try:
        return json.loads(paths.folders_backup.read_bytes())
    except (OSError, ValueError):
        logger.warning("No readable folder list backup at %s", paths.folders_backup)
        return []


def remove_folder(paths: DataPaths, folder: str) -> int:
    """Take a library folder and its documents out of the index; returns the documents removed."""
    target = library_path(folder)
    with WriterLock(paths.lock):
        with Store(paths.database) as store:
            known = [f["path"] for f in store.folders()]
            if target not in known:
                raise UserFacingError(f"{target} is not in the library. Library folders: {', '.join(known) or 'none'}.")
            n, gone = store.remove_folder(target)
            save_folders_backup(paths, store.folders())
            manifest = store.manifest()
            if manifest is not None and gone:
                update_topk_index(paths, store)  # before the tombstones go: it deletes them too, not rebuilt
                vectors = VectorIndex.open(paths, store, manifest.dim)
                vectors.mark_deleted(gone)
                vectors.save(paths)
                store.clear_tombstones(vectors.max_id)
    return n
