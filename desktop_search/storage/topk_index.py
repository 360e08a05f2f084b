"""The top-k index of a big library: bm25 top-k that skips what cannot reach the top.

FTS5 ranks a query by scoring every passage that holds any of its words, so
at a million passages a query with one common word scores a fifth of the
library: 100 ms at p95 (``benchmarks/bench_scale.py``). Tantivy keeps the
maximum score of each block of postings and skips the blocks that cannot
enter the top k (block-max WAND): the same queries in 3.5 ms.

It is a cache, as the hnsw file is: SQLite (``chunks_fts``) stays the truth
and answers everything this index does not (quoted phrases, CJK text, parts
of words, libraries under :data:`TOPK_FROM` passages, and any moment the
cache lags the store). The cache is used only when it holds
exactly the store's passages (the same highest id and the same count; ids
are never reused), so its answers are never stale. Index runs bring it up to
date at their end (:func:`update_topk_index`); a killed run leaves the last
commit, which the next run catches up, and anything unreadable is rebuilt.

Its ranking is bm25 as FTS5's is, not to the digit: tantivy's idf is
log(1 + (N - n + 0.5) / (n + 0.5)) where FTS5's drops the "1 +", and its
English stemmer is Snowball's. On SciFact, with it forced on,
``benchmarks/retrieval_eval.py`` test nDCG@10 moved 0.6832 -> 0.6793
(keyword) and 0.7376 -> 0.7350 (hybrid); libraries that small never use it.

On disk: ``topk/current.json`` names the directory in use; a rebuild writes a
new directory and then the pointer, so readers (the window, a CLI search)
keep the one they opened, which Windows would not let us replace.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import tantivy

from desktop_search.checkpoints import checkpoint
from desktop_search.paths import DataPaths
from desktop_search.storage.database import Store
from desktop_search.storage.files import atomic_write_bytes

logger = logging.getLogger(__name__)

# Libraries from this many passages get the top-k index. Below it FTS5's bm25 is fast enough
# (keyword p95 11.6 ms at 100,000 passages; 2.8 with the top-k index) and every ranking stays the
# one the quality benchmarks tuned; above it FTS5 grows with the library (94.6 ms at a million
# passages, 5.4 with the top-k index; benchmarks/bench_scale.py).
TOPK_FROM = 200_000
ENV_FROM = "DESKTOP_SEARCH_TOPK_FROM"  # another threshold, for a slow machine (or 0: every library; the tests)
FORMAT = 1  # the pointer's "format": this schema and analyzer; another value is rebuilt
BLOCK = 20_000  # passages read from SQLite at a time while building
WRITER_HEAP = 100_000_000  # bytes tantivy's writer buffers before it writes a segment
WRITER_THREADS = 2  # the run's other work is done when it writes: a million passages in 68 s on one, 32 on two
# Words as FTS5's word index cuts them (unicode61 remove_diacritics 2 + porter): runs of letters
# and digits, lower case, accents folded, English stems (tantivy's is Snowball's, Porter's successor).
ANALYZER = "simple lowercase ascii_fold stemmer(english)"
FIELD_ID, FIELD_TEXT = "id", "text"


class TopKUpdate(StrEnum):
    """What an index run did to the top-k index."""

    NOT_WANTED = "not wanted"  # the library is under TOPK_FROM passages (and any old index is gone)
    CURRENT = "current"
    CAUGHT_UP = "caught up"
    BUILT = "built"
    FAILED = "failed"  # searches use FTS5 until a later run builds it


class TopKState(StrEnum):
    """Whether searches can use the top-k index now (``status`` shows it)."""

    NONE = "none"  # there is none: a library under the threshold, or one not yet indexed by this version
    CURRENT = "current"  # keyword searches for plain words use it
    BEHIND = "behind"  # it lags the database (an index run is adding files): FTS5 answers until the run's end


@dataclass(frozen=True)
class PassageState:
    """The passages an index holds, as far as telling whether it is current needs."""

    max_id: int
    rows: int


def _analyzer() -> tantivy.TextAnalyzer:
    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.ascii_fold())
            .filter(tantivy.Filter.stemmer("english"))
            .build())


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_integer_field(FIELD_ID, stored=False, indexed=True, fast=True)
    # Frequencies without positions: bm25 needs no more, and phrases go to FTS5.
    sb.add_text_field(FIELD_TEXT, stored=False, tokenizer_name="words", index_option="freq")
    return sb.build()


def _pointer(paths: DataPaths) -> Path:
    return paths.topk / "current.json"


class TopKIndex:
    """One opened top-k index directory."""

    def __init__(self, index: tantivy.Index, directory: Path) -> None:
        self._index = index
        self.directory = directory
        self._analyzer = _analyzer()
        self._schema = index.schema
        self.state = self._read_state()

    @classmethod
    def open(cls, paths: DataPaths) -> TopKIndex | None:
        """The index the pointer names; None when there is none, or it is another format or unreadable."""
        try:
            pointer = json.loads(_pointer(paths).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("Cannot read the top-k index pointer (%s); it will be rebuilt", exc)
            return None
        if not isinstance(pointer, dict) or pointer.get("format") != FORMAT or pointer.get("analyzer") != ANALYZER:
            logger.info("The top-k index is of another format (%r); it will be rebuilt", pointer)
            return None
        directory = paths.topk / str(pointer.get("dir", ""))
        return cls._open_dir(directory)

    @classmethod
    def _open_dir(cls, directory: Path) -> TopKIndex | None:
        try:
            if not tantivy.Index.exists(str(directory)) or not tantivy.Index.is_compatible(str(directory)):
                logger.info("No readable top-k index in %s; it will be rebuilt", directory)
                return None
            index = tantivy.Index.open(str(directory))
            index.register_tokenizer("words", _analyzer())
            return cls(index, directory)
        except (OSError, ValueError) as exc:  # a damaged cache is rebuilt, never trusted
            logger.warning("Cannot open the top-k index in %s (%s); it will be rebuilt", directory, exc)
            return None

    def _read_state(self) -> PassageState:
        searcher = self._index.searcher()
        top = searcher.search(tantivy.Query.all_query(), 1, count=False, order_by_field=FIELD_ID).hits
        return PassageState(max_id=int(top[0][0]) if top else 0, rows=int(searcher.num_docs))

    def reload(self) -> None:
        """See what the writer committed since this was opened."""
        self._index.reload()
        self.state = self._read_state()

    def search(self, words: Sequence[str], k: int) -> list[tuple[int, float]] | None:
        """The ``k`` passages with the highest bm25 for any of ``words`` (chunk id, score; best first).

        None when a word is more than one token here (FTS5 searches such a
        word as a phrase, which this index, without positions, cannot).
        """
        tokens: list[str] = []
        for word in words:
            cut = self._analyzer.analyze(word)
            if len(cut) != 1:
                return None
            tokens.append(cut[0])  # a word twice (two forms of one stem) counts twice, as FTS5's phrases do
        if not tokens:
            return []
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(self._schema, FIELD_TEXT, t)) for t in tokens])
        searcher = self._index.searcher()
        hits = searcher.search(query, k, count=False).hits
        ids = searcher.fast_field_values(FIELD_ID, [address for _, address in hits])
        # Every document has an id (the schema requires none, so the binding's type allows a gap).
        return [(int(cid or 0), float(score)) for (score, _), cid in zip(hits, ids, strict=True)]

    def catch_up(self, store: Store) -> None:
        """Add the passages committed since, and drop the deleted ones the store still lists."""
        old = self.state
        writer = self._index.writer(WRITER_HEAP, WRITER_THREADS)
        try:
            for cid, text in store.iter_texts(after_id=old.max_id, block=BLOCK):
                writer.add_document(tantivy.Document(**{FIELD_ID: cid, FIELD_TEXT: text}))
            for cid in store.tombstones():
                if cid <= old.max_id:
                    writer.delete_documents_by_term(FIELD_ID, cid)
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        finally:
            writer.wait_merging_threads()
        self.reload()

    @classmethod
    def build(cls, paths: DataPaths, store: Store) -> TopKIndex:
        """Write every passage into a new directory, then point readers at it."""
        paths.topk.mkdir(parents=True, exist_ok=True)
        directory = paths.topk / uuid.uuid4().hex
        directory.mkdir()
        index = tantivy.Index(_schema(), path=str(directory), reuse=False)
        index.register_tokenizer("words", _analyzer())
        writer = index.writer(WRITER_HEAP, WRITER_THREADS)
        for cid, text in store.iter_texts(after_id=0, block=BLOCK):
            writer.add_document(tantivy.Document(**{FIELD_ID: cid, FIELD_TEXT: text}))
        writer.commit()
        writer.wait_merging_threads()
        checkpoint("topk-written")
        pointer = {"format": FORMAT, "analyzer": ANALYZER, "dir": directory.name}
        atomic_write_bytes(_pointer(paths), json.dumps(pointer).encode("utf-8"))
        index.reload()
        return cls(index, directory)


def topk_from() -> int:
    """How many passages a library needs for a top-k index: :data:`TOPK_FROM`, or the environment's number."""
    raw = os.environ.get(ENV_FROM, "").strip()
    if raw:
        try:
            return max(0, int(raw))
        except ValueError:
            logger.warning("%s=%r is not a number of passages; using %d", ENV_FROM, raw, TOPK_FROM)
    return TOPK_FROM


def store_state(store: Store) -> PassageState:
    return PassageState(max_id=store.max_chunk_id(), rows=store.indexed_rows())


def update_topk_index(paths: DataPaths, store: Store, wanted_from: int | None = None,
                      on_work: Callable[[], object] | None = None) -> TopKUpdate:
    """Bring the top-k index to the store's passages (an index run's last step; it holds the writer lock).

    ``on_work`` is called before writing anything (a million passages take
    about half a minute to build), so a front end can say what it waits for.
    A failure costs speed, not answers: it is logged, the index is removed,
    and searches use FTS5 until a later run builds it.
    """
    state = store_state(store)
    if state.rows < (topk_from() if wanted_from is None else wanted_from):
        remove_topk_index(paths)
        return TopKUpdate.NOT_WANTED
    try:
        index = TopKIndex.open(paths)
        if index is not None and index.state == state:
            _remove_others(paths, keep=index.directory)
            return TopKUpdate.CURRENT
        if on_work is not None:
            on_work()
        if index is not None:  # (its highest id may be above the store's: the last file was deleted)
            index.catch_up(store)
            if index.state == state:
                _remove_others(paths, keep=index.directory)
                return TopKUpdate.CAUGHT_UP
            logger.info("The top-k index holds %s after catching up, the store %s: rebuilding it", index.state, state)
        logger.info("Building the top-k index of %d passages", state.rows)
        index = TopKIndex.build(paths, store)
        _remove_others(paths, keep=index.directory)
        return TopKUpdate.BUILT
    except (OSError, ValueError, RuntimeError) as exc:  # tantivy reports I/O and index errors as these
        logger.warning("Cannot update the top-k index (%s); keyword search uses the full-text index", exc)
        remove_topk_index(paths)
        return TopKUpdate.FAILED


def _remove_others(paths: DataPaths, keep: Path) -> None:
    """Directories of earlier builds; one a reader still holds open (Windows) goes at a later run."""
    for entry in paths.topk.iterdir():
        if entry.is_dir() and entry != keep:
            shutil.rmtree(entry, ignore_errors=True)


def remove_topk_index(paths: DataPaths) -> None:
    _pointer(paths).unlink(missing_ok=True)
    if paths.topk.exists():
        shutil.rmtree(paths.topk, ignore_errors=True)


class TopKReader:
    """The top-k index for a searcher, when it holds exactly the store's passages; else None (use FTS5).

    It reads the index again only when the files say it changed: the pointer
    (a rebuild) or the index's last commit (tantivy's ``meta.json``, a catch-up).
    While an index run commits passages and the top-k index waits for the run's
    end, a query costs two small SQL reads, not a reload.
    """

    def __init__(self, paths: DataPaths) -> None:
        self.paths = paths
        self._words: TopKIndex | None = None
        self._pointer: tuple[int, int] | None = None  # the pointer file _words was opened from
        self._commit: tuple[int, int] | None = None  # the commit _words was last read at

    def current(self, store: Store) -> TopKIndex | None:
        pointer = _file_version(_pointer(self.paths))
        if pointer is None:
            self._words = self._pointer = None
            return None
        if pointer != self._pointer:  # first use, or a rebuild pointed elsewhere
            self._pointer, self._commit = pointer, None
            self._words = TopKIndex.open(self.paths)  # None if unreadable: tried again when the pointer changes
        elif self._words is not None:
            commit = _file_version(self._words.directory / "meta.json")
            if commit != self._commit:
                self._commit = commit  # taken before reading: a commit meanwhile is read at the next call
                try:
                    self._words.reload()
                except (OSError, ValueError, RuntimeError) as exc:  # a rebuild removed its directory
                    logger.info("The top-k index in %s is gone (%s)", self._words.directory, exc)
                    self._words = self._pointer = None
        words = self._words
        return words if words is not None and words.state == store_state(store) else None


def _file_version(path: Path) -> tuple[int, int] | None:
    """Which version of a file replaced by renames is on disk (a new one has a new inode and time); None if none."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def topk_state(paths: DataPaths, store: Store) -> TopKState:
    if not _pointer(paths).exists():
        return TopKState.NONE
    return TopKState.CURRENT if TopKReader(paths).current(store) is not None else TopKState.BEHIND
