"""The hnswlib index: a cache of the embeddings stored in SQLite.

The file on disk is saved atomically with a sidecar JSON that records the
highest chunk id it holds. On open, chunks embedded since then are added from
their stored embeddings, tombstoned ids are marked deleted and re-embedded
passages get their new vector, so a file left stale by a crash is caught up in
moments; a missing or unreadable one is rebuilt from SQLite, never re-embedded.

A process holds one index per data dir: the window's searcher and its index
runs share it (:meth:`VectorIndex.open`), rather than each loading the file
(1.8 GB at a million passages) and inserting the same vectors.

The sidecar says which layout of the pair it describes (``format``; absent
in the files of every version before it was written, which are layout 1); a
pair from a newer version is rebuilt from SQLite rather than read as this
version understands it.
"""
from __future__ import annotations

import json
import logging
import os
import struct
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path

import hnswlib
import numpy as np

from desktop_search.checkpoints import checkpoint
from desktop_search.paths import DataPaths
from desktop_search.storage.database import Store
from desktop_search.storage.files import atomic_replace, atomic_write_bytes

logger = logging.getLogger(__name__)

SPACE = "ip"  # inner product over L2-normalised vectors = cosine similarity
# The graph's parameters, chosen on 100k passages of benchmarks/bench_scale.py's library (vectors
# as hard for hnsw as the real model's), 2 cores: recall depends mostly on M and on the ef a
# query searches with, the cost of an insert on M x ef_construction. M 32 with ef_construction
# 100 inserts 952 vectors per CPU second (200: 492; the real model embeds 51 in bf16) and finds
# 0.982 of the exact top 10 when a query searches with ef 1000 (200: 0.989); M 16 reached 0.93,
# M 48 0.997 at 1.6x the cost of 32/100 per insert and 128 more bytes per vector. A file keeps
# the M and ef_construction it was built with (hnswlib saves them), so an older one (200) loads
# and grows as it is; only a rebuild takes the new ones.
M = 32
EF_CONSTRUCTION = 100
EF_SEARCH = 256  # the least ef a query searches with
EF_PER_RESULT = 2  # and at least this many times the results it asks for: ef 1000 for the searcher's 500
# And at least one per this many vectors: at a fixed ef a graph finds less of the exact top 10 as it
# grows. On bench_scale.py's million passages (M 32, ef_construction 100), asking for 500: ef 1000
# found 0.80 of it (0.979 at 100k), 2000 0.89, 4000 0.954 (p95 26 ms on one core), 8000 0.985 (48 ms).
# One per 250 vectors (ef 4040) found 0.953 on one build of that graph and 0.9495 on the next (graphs
# built while indexing differ); one per 200 (ef 5050) 0.965 on the second, for 2-3 ms more a query.
# Under 200,000 vectors the searcher's 1000 is the larger: smaller libraries search as before.
VECTORS_PER_EF = 200
FILE_FORMAT = 1  # the sidecar's "format": hnswlib's file with chunk ids as labels, and the keys saved below
# A run that changed a big file by a few vectors leaves it as it is: a save rewrites and syncs all
# of it (1.8 GB at a million passages), while the next open catches the few up from SQLite (and
# its tombstones and re-embedded vectors, which stay queued until a save) in moments.
DEFER_SAVE_MAX = 2000  # changes a saved file may lag behind SQLite
DEFER_SAVE_SHARE = 0.01  # and at most this share of its vectors: a small file is always saved


# The index each data dir's file is open as in this process, for as long as anyone holds it.
_OPEN: weakref.WeakValueDictionary[str, VectorIndex] = weakref.WeakValueDictionary()
_OPEN_LOCK = threading.Lock()


def _key(paths: DataPaths) -> str:
    return os.path.realpath(paths.vectors)


def search_ef(k: int, vectors: int) -> int:
    """The ef a query for ``k`` results searches a graph of ``vectors`` with (see VECTORS_PER_EF)."""
    return max(EF_SEARCH, EF_PER_RESULT * k, vectors // VECTORS_PER_EF)


class VectorIndex:
    """Thread-safe wrapper: the GUI searches while its worker thread adds."""

    def __init__(self, dim: int, capacity: int = 1024) -> None:
        self.dim = dim
        self._lock = threading.RLock()
        self._index = hnswlib.Index(space=SPACE, dim=dim)
        self._index.init_index(max_elements=max(capacity, 16), ef_construction=EF_CONSTRUCTION, M=M)
        self._index.set_ef(EF_SEARCH)
        self._catch_up_lock = threading.Lock()  # one catch-up at a time: two would add the same vectors
        self._deleted = 0
        self._unsaved = 0  # vectors added or deleted since the file was loaded or saved
        self.max_id = 0  # highest chunk id ever added: the catch-up watermark

    # -- building ----------------------------------------------------------------

    @classmethod
    def open(cls, paths: DataPaths, store: Store, dim: int, writable: bool = True) -> VectorIndex:
        """The data dir's index brought up to date with SQLite: the one this process holds already, or loaded."""
        with _OPEN_LOCK:
            index = _OPEN.get(_key(paths))
            if index is None or index.dim != dim:
                index = cls._load(paths, dim) or cls(dim, capacity=store.chunk_count() + 1024)
                _OPEN[_key(paths)] = index
        index.catch_up(store)
        live, rows = index.live_count, store.embedding_counts()[0]
        if live != rows:
            logger.warning("Vector index holds %d live vectors but the store has %d embedded chunks; rebuilding",
                           live, rows)
            index = cls(dim, capacity=rows + 1024)
            index.catch_up(store, apply_tombstones=False, everything=True)
            with _OPEN_LOCK:
                _OPEN[_key(paths)] = index
        if writable:
            index.save_if_due(paths, store)
        return index

    @staticmethod
    def file_looks_sound(paths: DataPaths) -> bool:
        """A cheap check (no full load) that the saved file is the one its sidecar describes.

        hnswlib's header starts with offsetLevel0, max_elements, cur_element_count and
        size_data_per_element (size_t each); garbage or a truncated file fails this.
        """
        try:
            info = json.loads(paths.vectors_meta.read_text(encoding="utf-8"))
            with open(paths.vectors, "rb") as fh:
                head = fh.read(32)
                size = os.fstat(fh.fileno()).st_size
            count, per_item = struct.unpack("<QQ", head[16:32])
            return count == int(info["count"]) and size >= count * per_item
        except (OSError, ValueError, KeyError, TypeError, struct.error):
            return False

    @classmethod
    def _load(cls, paths: DataPaths, dim: int) -> VectorIndex | None:
        try:
            info = json.loads(paths.vectors_meta.read_text(encoding="utf-8"))
            if info.get("format", 1) > FILE_FORMAT:
                logger.info("Saved vector index is format %s, newer than this version's; rebuilding", info["format"])
                return None
            if info.get("dim") != dim or info.get("space") != SPACE or not paths.vectors.exists():
                logger.info("Saved vector index does not match (dim %s); rebuilding", info.get("dim"))
                return None
            index = cls.__new__(cls)
            index.dim = dim
            index._lock = threading.RLock()
            index._catch_up_lock = threading.Lock()
            index._index = hnswlib.Index(space=SPACE, dim=dim)
            index._index.load_index(str(paths.vectors), max_elements=int(info["count"]) + 1024)
            index._index.set_ef(EF_SEARCH)
            index._deleted = int(info["deleted"])
            index._unsaved = 0
            index.max_id = int(info["max_id"])
            if index._index.get_current_count() != int(info["count"]):
                logger.warning("Vector index file disagrees with its sidecar; rebuilding")
                return None
            return index
        except FileNotFoundError:
            return None
        except Exception:  # any unreadable cache is simply rebuilt
            logger.warning("Vector index at %s is unreadable; rebuilding from stored embeddings", paths.vectors, exc_info=True)
            return None

    def catch_up(self, store: Store, apply_tombstones: bool = True, everything: bool = False) -> int:
        """Add chunks newer than ``max_id`` from their stored embeddings.

        Only up to :meth:`Store.embedded_upto` (the passages behind it wait
        for their vectors), unless ``everything``: a rebuild takes every
        stored vector. ``apply_tombstones`` (a file just loaded) also gives
        re-embedded passages their new vector, which the file may predate.
        """
        added = 0
        with self._catch_up_lock:
            if apply_tombstones:
                self.mark_deleted(t for t in store.tombstones() if t <= self.max_id)
                for ids, vecs in store.replaced_vectors():
                    self.add(ids, vecs)
            upto = None if everything else store.embedded_upto()
            for ids, vecs in store.iter_embeddings(after_id=self.max_id, upto=upto):
                self.add(ids, vecs)
                added += len(ids)
        if added:
            logger.info("Added %d stored vectors to the index", added)
        return added

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        """Add vectors; an id already in the index gets its vector replaced in place (hnswlib updates it)."""
        if len(ids) == 0:
            return
        with self._lock:
            need = self._index.get_current_count() + len(ids)
            if need > self._index.get_max_elements():
                self._index.resize_index(max(need, int(self._index.get_max_elements() * 1.5)))
            self._index.add_items(np.ascontiguousarray(vecs, dtype=np.float32), np.asarray(ids, dtype=np.int64))
            self.max_id = max(self.max_id, int(np.max(ids)))
            self._unsaved += len(ids)

    def add_then_delete(self, ids: np.ndarray, vecs: np.ndarray, deleted: Callable[[], Iterable[int]]) -> None:
        """Add vectors, then mark deleted those of them that ``deleted()`` names, with no catch-up in between.

        Adding an id hnswlib holds as deleted brings it back. A catch-up (the window's searcher shares this
        index with its index runs) may read a passage's stored vector before a commit deletes it and add
        it after; under the catch-up's lock, the deletion is marked after any such add, never before.
        """
        with self._catch_up_lock:
            self.add(ids, vecs)
            self.mark_deleted(np.intersect1d(ids, np.fromiter(deleted(), dtype=np.int64)).tolist())

    def mark_deleted(self, ids) -> None:  # any iterable of ints
        with self._lock:
            for i in ids:
                try:
                    self._index.mark_deleted(int(i))
                    self._deleted += 1
                    self._unsaved += 1
                except RuntimeError:  # already deleted, or never added
                    pass

    # -- reading -------------------------------------------------------------------

    @property
    def live_count(self) -> int:
        with self._lock:
            return self._index.get_current_count() - self._deleted

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` chunk ids and cosine scores for one normalised query vector."""
        with self._lock:
            k = min(k, self.live_count)
            if k <= 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            self._index.set_ef(search_ef(k, self._index.get_current_count()))
            try:
                labels, dist = self._index.knn_query(np.asarray(query, dtype=np.float32).reshape(1, -1), k=k)
            except RuntimeError:  # too few reachable items after deletions
                labels, dist = self._index.knn_query(np.asarray(query, dtype=np.float32).reshape(1, -1), k=max(1, k // 2))
        return labels[0].astype(np.int64), (1.0 - dist[0]).astype(np.float32)

    def vector(self, chunk_id: int) -> np.ndarray | None:
        """The stored vector of one passage, or None if it is not (or no longer) in the index."""
        with self._lock:
            try:
                return np.asarray(self._index.get_items([int(chunk_id)]), dtype=np.float32)[0]
            except RuntimeError:  # never added, or marked deleted
                return None

    # -- saving --------------------------------------------------------------------

    def save_if_due(self, paths: DataPaths, store: Store) -> bool:
        """Save, and clear the tombstones the file then holds, unless the file lags by only a few changes."""
        with self._lock:
            due = self._unsaved >= min(DEFER_SAVE_MAX, self.live_count * DEFER_SAVE_SHARE)
        if not due and self.file_looks_sound(paths):
            logger.info("Vector index file left %d changes behind the store (caught up when next opened)",
                        self._unsaved)
            return False
        self.save(paths)
        store.clear_tombstones(self.max_id)
        return True

    def save(self, paths: DataPaths) -> None:
        """Write the index, then its sidecar, each atomically.

        A crash between the two leaves a sidecar whose count disagrees with
        the file, which ``open`` detects and repairs.
        """
        with self._lock:
            tmp = paths.vectors.with_name(f".{paths.vectors.name}.{uuid.uuid4().hex}.tmp")
            try:
                self._index.save_index(str(tmp))
                os.chmod(tmp, 0o600)  # what the documents say is private
                atomic_replace(tmp, paths.vectors)
                checkpoint("saving")
            finally:
                if tmp.exists():
                    os.unlink(tmp)
            info = {
                "format": FILE_FORMAT,
                "dim": self.dim,
                "space": SPACE,
                "M": self._index.M,
                "ef_construction": self._index.ef_construction,
                "count": self._index.get_current_count(),
                "deleted": self._deleted,
                "max_id": self.max_id,
            }
            self._unsaved = 0
        atomic_write_bytes(paths.vectors_meta, json.dumps(info).encode("utf-8"))


def remove_files(paths: DataPaths) -> None:
    with _OPEN_LOCK:
        _OPEN.pop(_key(paths), None)  # a rebuild starts afresh, whoever still holds the old one
    for p in (paths.vectors, paths.vectors_meta):
        Path(p).unlink(missing_ok=True)
