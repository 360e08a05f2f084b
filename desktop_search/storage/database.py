"""SQLite metadata store, accessed through SQLAlchemy Core.

WAL mode lets searches read while one indexer writes. Every document is
written in a transaction together with its chunks and their full-text rows,
so a kill -9 leaves either the old or the new document, never half of one.
Embeddings come later, in transactions of their own (``store_embeddings``):
a passage with a NULL embedding is keyword-searchable and waits, oldest
first, for the embedding stream, in this run or the next.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from sqlalchemy import Connection, CursorResult, Engine, case, create_engine, delete, event, func, insert, select, text, update
from sqlalchemy.exc import DatabaseError, OperationalError

from desktop_search.checkpoints import checkpoint
from desktop_search.errors import IndexCorruptError, IndexMismatchError, StorageError
from desktop_search.failures import FailureCode, parse as parse_failure
from desktop_search.language import Lang, cjk_grams
from desktop_search.storage import schema
from desktop_search.storage.schema import DocStatus, chunks, documents, folders, meta

logger = logging.getLogger(__name__)

_IN_CHUNK = 500  # bound on SQL parameters per IN (...) clause
_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Manifest:
    """What the vectors mean. A mismatch means the index must be rebuilt."""

    model_id: str
    dim: int
    pooling: str
    max_tokens: int
    overlap_tokens: int
    title_prefix: bool
    passage_prefix: str = ""
    query_prefix: str = ""
    schema_version: int = schema.SCHEMA_VERSION

    def differences(self, other: Manifest) -> list[str]:
        mine, theirs = asdict(self), asdict(other)
        return [f"{k}: index has {mine[k]!r}, requested {theirs[k]!r}" for k in mine if mine[k] != theirs[k]]


@dataclass
class ChunkRecord:
    """A chunk ready to store: text, location and its embedding (None: embedded later)."""

    ordinal: int
    text: str
    char_start: int
    char_end: int
    page: int | None = None
    page_label: str | None = None
    section: str | None = None
    href: str | None = None
    embedding: np.ndarray | None = None
    ocr: bool = False  # read by OCR from a scanned page


@dataclass
class DocumentRecord:
    """One file's outcome from a pipeline run, ready to commit."""

    path: str
    folder_id: int
    kind: str
    size: int
    mtime_ns: int
    hash: str
    title: str | None
    author: str | None
    status: DocStatus
    error: str | None = None
    pages: int | None = None
    chunks: list[ChunkRecord] = field(default_factory=list)
    attempts: int = 1  # consecutive failed reads, to stop retrying a file that always fails
    failure: FailureCode | None = None  # why it failed, or why an indexed file was partly read; decides retries
    lang: Lang | None = None  # the main writing system of its text


@dataclass(frozen=True)
class KnownDocument:
    id: int
    path: str
    folder_id: int
    size: int
    mtime_ns: int
    hash: str
    status: DocStatus
    error: str | None = None
    attempts: int = 1
    failure: FailureCode | None = None


@dataclass(frozen=True)
class PendingChunk:
    """A stored passage waiting for its vector, with what its embedding input needs."""

    id: int
    text: str
    title: str | None


def _disk_full(path: Path) -> bool:
    try:
        return shutil.disk_usage(path.parent).free < 1024**2
    except OSError:
        return False


def _displayable(value: str | None) -> str | None:
    """Text SQLite can store: lone surrogates (from non-UTF-8 file names) become U+FFFD."""
    if value is None:
        return None
    return _SURROGATES.sub("\ufffd", value)


def _to_blob(vec: np.ndarray | None) -> bytes | None:
    return None if vec is None else np.asarray(vec, dtype=np.float16).tobytes()


def _new_id(result: CursorResult[Any]) -> int:
    """The primary key an INSERT gave its row."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("INSERT returned no primary key")
    return int(key[0])


def _batched(seq: Sequence[Any], n: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


class Store:
    """The metadata database of one data dir."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        if readonly and not path.exists():
            raise StorageError(f"No index at {path.parent}. Run `desktop-search index FOLDER` first.")
        if readonly:
            # A reader must never create files or take write locks in the data dir.
            uri = f"file:{quote(str(path))}?mode=ro"
            if not os.access(path.parent, os.W_OK) and not Path(f"{path}-shm").exists():
                # WAL needs a -shm file that a read-only folder cannot get; with none there,
                # no writer is active, so reading the file as immutable is safe.
                uri += "&immutable=1"
            def creator() -> sqlite3.Connection:
                return sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)

            self.engine: Engine = create_engine("sqlite://", creator=creator)
        else:
            try:
                # Owner-only from the start; SQLite gives the -wal and -shm files the same mode.
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            except OSError:
                pass  # SQLite's own open reports the problem in its words
            self.engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(self.engine, "connect", self._on_connect)
        try:
            self._refuse_old_schema()
            if not readonly:
                with self.engine.begin() as conn:
                    schema.metadata.create_all(conn)
                    fill_grams = schema.upgrade(conn)
                    rebuild = schema.drop_outdated_fts(conn)
                    for ddl in schema.FTS_DDL:
                        conn.exec_driver_sql(ddl)
                    if rebuild:
                        schema.rebuild_fts(conn)
                    if fill_grams:
                        schema.fill_cjk_index(conn)
            with self.engine.connect() as conn:
                conn.execute(select(func.count()).select_from(meta)).scalar_one()
        except DatabaseError as exc:
            self.engine.dispose()
            user_error = self._classify(exc)
            if user_error is None:
                raise
            raise user_error from exc

    def _refuse_old_schema(self) -> None:
        """An index written by another storage schema is refused before anything touches it."""
        with self.engine.connect() as conn:
            if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").scalar() is None:
                return  # a new database
            raw = conn.execute(select(meta.c.value).where(meta.c.key == "manifest")).scalar_one_or_none()
        if raw is None:
            return
        version = json.loads(raw).get("schema_version")
        if version == schema.SCHEMA_VERSION:
            return
        self.engine.dispose()
        older = isinstance(version, int) and version < schema.SCHEMA_VERSION
        raise IndexMismatchError(
            f"The index at {self.path.parent} was written by "
            + ("an older" if older else "a newer")
            + f" version of desktop-search (storage schema {version}; this version uses {schema.SCHEMA_VERSION}). "
            + ("Run `desktop-search index --rebuild` to rebuild it from your folders (the folder list is kept)."
               if older else "Use that version, or run `desktop-search index --rebuild` to rebuild it.")
        )

    def _classify(self, exc: Exception) -> Exception | None:
        """Map SQLite's environment faults to user-facing errors, by SQLite's result code; None for bugs."""
        orig = getattr(exc, "orig", exc)
        code = getattr(orig, "sqlite_errorcode", None)
        if not isinstance(code, int):
            return None
        primary = code & 0xFF  # extended codes (SQLITE_IOERR_SHMMAP, ...) carry the primary one in the low byte
        msg = str(orig)
        if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            return IndexCorruptError(
                f"The index database {self.path} is damaged ({msg}). "
                "Run `desktop-search index --rebuild` to rebuild it from your folders."
            )
        if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
            return StorageError(f"Cannot write the index at {self.path.parent}: {msg}")
        if primary == sqlite3.SQLITE_FULL or (primary == sqlite3.SQLITE_IOERR and _disk_full(self.path)):
            # A full disk can surface as an I/O error, e.g. when the -shm file cannot be mapped.
            return StorageError(f"The disk holding {self.path.parent} is full. Free some space and run again.")
        if primary == sqlite3.SQLITE_IOERR:
            return StorageError(f"Cannot write the index at {self.path.parent}: the disk reported an I/O error.")
        return None

    def _on_connect(self, dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # The CJK n-gram index's triggers call it on every chunk insert and delete.
        dbapi_conn.create_function("cjk_grams", 1, cjk_grams, deterministic=True)
        cur = dbapi_conn.cursor()
        if not self.readonly:
            cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash; only power loss can lose
        # the last commits, and it cannot corrupt the database.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction that turns environment faults into user errors."""
        if self.readonly:
            raise StorageError("This index is open read-only.")
        try:
            with self.engine.begin() as conn:
                yield conn
        except DatabaseError as exc:
            user_error = self._classify(exc)
            if user_error is None:
                raise
            raise user_error from exc

    # -- manifest and bookkeeping -------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()

    def _set_meta(self, conn: Any, key: str, value: str) -> None:
        conn.execute(delete(meta).where(meta.c.key == key))
        conn.execute(insert(meta).values(key=key, value=value))

    def manifest(self) -> Manifest | None:
        raw = self.get_meta("manifest")
        if raw is None:
            return None
        data = json.loads(raw)
        return Manifest(**data)

    def check_manifest(self, wanted: Manifest) -> None:
        """Record ``wanted`` on a new index; refuse a different one on an old index."""
        have = self.manifest()
        if have is None:
            with self._write() as conn:
                self._set_meta(conn, "manifest", json.dumps(asdict(wanted)))
            return
        diffs = have.differences(wanted)
        if diffs:
            raise IndexMismatchError(
                "This index was built with different settings ("
                + "; ".join(diffs)
                + "). Use the index's model and settings, or run `desktop-search index --rebuild` "
                "to re-embed every document with the new ones."
            )

    # -- folders ---------------------------------------------------------------------

    def add_folder(self, path: str, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> int:
        with self._write() as conn:
            row = conn.execute(select(folders.c.id).where(folders.c.path == path)).scalar_one_or_none()
            if row is not None:
                conn.execute(
                    update(folders)
                    .where(folders.c.id == row)
                    .values(include=json.dumps(list(include)), exclude=json.dumps(list(exclude)))
                )
                return int(row)
            res = conn.execute(
                insert(folders).values(
                    path=path, include=json.dumps(list(include)), exclude=json.dumps(list(exclude)), added_at=time.time()
                )
            )
            return _new_id(res)

    def folders(self) -> list[dict[str, Any]]:
        """Folders with per-folder counts of indexed and failed documents."""
        counts = (
            select(
                documents.c.folder_id,
                func.sum(case((documents.c.status == DocStatus.INDEXED, 1), else_=0)).label("indexed"),
                func.sum(case((documents.c.status == DocStatus.FAILED, 1), else_=0)).label("failed"),
            )
            .group_by(documents.c.folder_id)
            .subquery()
        )
        q = select(folders, counts.c.indexed, counts.c.failed).outerjoin(counts, counts.c.folder_id == folders.c.id)
        with self.engine.connect() as conn:
            return [
                {
                    "id": r.id,
                    "path": r.path,
                    "include": json.loads(r.include),
                    "exclude": json.loads(r.exclude),
                    "indexed": int(r.indexed or 0),
                    "failed": int(r.failed or 0),
                }
                for r in conn.execute(q.order_by(folders.c.path))
            ]

    def remove_folder(self, path: str) -> tuple[int, list[int]]:
        """Drop a folder with its documents: (documents removed, chunk ids deleted)."""
        with self._write() as conn:
            fid = conn.execute(select(folders.c.id).where(folders.c.path == path)).scalar_one_or_none()
            if fid is None:
                return 0, []
            doc_ids = list(conn.execute(select(documents.c.id).where(documents.c.folder_id == fid)).scalars())
            gone = self._delete_documents(conn, doc_ids)
            conn.execute(delete(folders).where(folders.c.id == fid))
            return len(doc_ids), gone

    # -- documents ---------------------------------------------------------------------

    def known_documents(self, folder_id: int | None = None) -> dict[str, KnownDocument]:
        q = select(
            documents.c.id, documents.c.path, documents.c.folder_id, documents.c.size,
            documents.c.mtime_ns, documents.c.hash, documents.c.status, documents.c.error, documents.c.attempts,
            documents.c.failure,
        )
        if folder_id is not None:
            q = q.where(documents.c.folder_id == folder_id)
        with self.engine.connect() as conn:
            return {
                r.path: KnownDocument(r.id, r.path, r.folder_id, r.size, r.mtime_ns, r.hash, DocStatus(r.status), r.error,
                                      r.attempts, failure=parse_failure(r.failure))
                for r in conn.execute(q)
            }

    def commit_documents(self, records: Sequence[DocumentRecord]) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[int]]:
        """Write a batch of files in one transaction, replacing earlier versions.

        Returns, per record, the new chunk ids and their vectors (none for
        passages stored without one, which wait for :meth:`store_embeddings`),
        and the ids of the chunks that were replaced, for the caller to apply
        to the vector index once the commit has succeeded.
        """
        out: list[tuple[np.ndarray, np.ndarray]] = []
        now = time.time()
        with self._write() as conn:
            paths = [r.path for r in records]
            old = [i for part in _batched(paths)
                   for i in conn.execute(select(documents.c.id).where(documents.c.path.in_(part))).scalars()]
            gone = self._delete_documents(conn, old)
            next_id = self._next_chunk_id(conn)
            for rec in records:
                doc_id = _new_id(conn.execute(
                    insert(documents).values(
                        folder_id=rec.folder_id, path=rec.path, kind=rec.kind, size=rec.size, mtime_ns=rec.mtime_ns,
                        hash=rec.hash, title=_displayable(rec.title), author=_displayable(rec.author),
                        status=rec.status, error=_displayable(rec.error), attempts=rec.attempts,
                        failure=rec.failure.value if rec.failure is not None else None,
                        pages=rec.pages, indexed_at=now, lang=rec.lang.value if rec.lang else None,
                    )
                ))
                ids = np.arange(next_id, next_id + len(rec.chunks), dtype=np.int64)
                next_id += len(rec.chunks)
                if rec.chunks:
                    conn.execute(
                        insert(chunks),
                        [
                            {
                                "id": int(cid), "document_id": doc_id, "ordinal": c.ordinal, "page": c.page,
                                "page_label": c.page_label, "section": c.section, "href": c.href,
                                "char_start": c.char_start, "char_end": c.char_end, "text": c.text,
                                "embedding": _to_blob(c.embedding), "ocr": c.ocr,
                            }
                            for cid, c in zip(ids, rec.chunks, strict=True)
                        ],
                    )
                have = [i for i, c in enumerate(rec.chunks) if c.embedding is not None]
                if have:
                    vecs = np.stack([np.asarray(rec.chunks[i].embedding, dtype=np.float32) for i in have])
                    ids = ids[have]
                else:
                    ids, vecs = ids[:0], np.zeros((0, 0), dtype=np.float32)
                out.append((ids, vecs))
            checkpoint("committing")
        return out, gone

    @staticmethod
    def _next_chunk_id(conn: Any) -> int:
        # Explicit ids let one executemany insert a whole document; sqlite_sequence
        # still records the high-water mark, so ids are never reused.
        seq = conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name='chunks'").scalar()
        top = conn.execute(select(func.max(chunks.c.id))).scalar()
        return max(seq or 0, top or 0) + 1

    def pending_chunks(self, after_id: int, limit: int) -> list[PendingChunk]:
        """Passages without a vector and with id > ``after_id``, oldest first."""
        q = (
            select(chunks.c.id, chunks.c.text, documents.c.title)
            .join(documents, documents.c.id == chunks.c.document_id)
            .where(chunks.c.embedding.is_(None), chunks.c.id > after_id)
            .order_by(chunks.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [PendingChunk(int(r.id), r.text, r.title) for r in conn.execute(q)]

    def store_embeddings(self, ids: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        """Give waiting passages their vectors, in one transaction.

        Returns the ids that took a vector: a passage deleted (its file
        replaced) since it was read for embedding is skipped, and one that has
        a vector already keeps it, so nothing is embedded into the index twice.
        """
        took: list[int] = []
        with self._write() as conn:
            for cid, vec in zip(ids, vecs, strict=True):
                res = conn.exec_driver_sql("UPDATE chunks SET embedding = ? WHERE id = ? AND embedding IS NULL",
                                           (_to_blob(vec), int(cid)))
                if res.rowcount == 1:
                    took.append(int(cid))
            checkpoint("committing-vectors")
        return np.asarray(took, dtype=np.int64)

    def embedding_counts(self) -> tuple[int, int]:
        """(passages with a vector, all passages); the pending count reads a partial index."""
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(chunks)).scalar_one()
            pending = conn.execute(select(func.count()).where(chunks.c.embedding.is_(None))).scalar_one()
        return int(total) - int(pending), int(total)

    def embedding_frontier(self) -> tuple[int | None, int]:
        """(the oldest passage waiting for its vector or None, the highest passage id), in one cheap query.

        The embedding stream takes passages oldest first and new passages get
        higher ids, so the passages with a vector are exactly those below the
        oldest waiting one.
        """
        with self.engine.connect() as conn:
            first, top = conn.exec_driver_sql(
                "SELECT (SELECT min(id) FROM chunks WHERE embedding IS NULL), (SELECT max(id) FROM chunks)").one()
        return (None if first is None else int(first)), int(top or 0)

    def embedded_upto(self) -> int:
        """Every passage with an id up to this one has its vector."""
        first, top = self.embedding_frontier()
        return top if first is None else first - 1

    def move_document(self, doc_id: int, new_path: str, folder_id: int, size: int, mtime_ns: int) -> None:
        """Point a document at its new path, keeping its chunks and embeddings."""
        with self._write() as conn:
            conn.execute(
                update(documents)
                .where(documents.c.id == doc_id)
                .values(path=new_path, folder_id=folder_id, size=size, mtime_ns=mtime_ns)
            )

    def touch_document(self, doc_id: int, size: int, mtime_ns: int) -> None:
        """Record a new mtime for a file whose content hash did not change."""
        with self._write() as conn:
            conn.execute(update(documents).where(documents.c.id == doc_id).values(size=size, mtime_ns=mtime_ns))

    def delete_documents(self, ids: Sequence[int]) -> list[int]:
        """Delete documents; returns the ids of their chunks."""
        with self._write() as conn:
            return self._delete_documents(conn, ids)

    @staticmethod
    def _delete_documents(conn: Any, ids: Sequence[int]) -> list[int]:
        gone: list[int] = []
        for part in _batched(list(ids)):
            gone.extend(conn.execute(select(chunks.c.id).where(chunks.c.document_id.in_(part))).scalars())
            conn.execute(delete(chunks).where(chunks.c.document_id.in_(part)))
            conn.execute(delete(documents).where(documents.c.id.in_(part)))
        return gone

    # -- chunks and vectors -------------------------------------------------------------

    def max_chunk_id(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(chunks.c.id))).scalar() or 0)

    def chunk_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(chunks)).scalar_one())

    def iter_embeddings(self, after_id: int = 0, upto: int | None = None,
                        block: int = 20000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (ids, float32 vectors) for embedded chunks with ``after_id`` < id <= ``upto``, in blocks."""
        last = after_id
        while True:
            q = select(chunks.c.id, chunks.c.embedding).where(chunks.c.id > last, chunks.c.embedding.is_not(None))
            if upto is not None:
                q = q.where(chunks.c.id <= upto)
            with self.engine.connect() as conn:
                rows = conn.execute(q.order_by(chunks.c.id).limit(block)).all()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16).reshape(len(rows), -1)
            yield ids, vecs.astype(np.float32)
            last = int(ids[-1])

    def tombstones(self) -> list[int]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(schema.deleted_chunks.c.chunk_id))]

    def clear_tombstones(self, upto_id: int) -> None:
        with self._write() as conn:
            conn.execute(delete(schema.deleted_chunks).where(schema.deleted_chunks.c.chunk_id <= upto_id))

    def fetch_chunks(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Chunk rows with their document's fields, keyed by chunk id."""
        ids = [int(i) for i in ids]
        cols = [
            chunks.c.id, chunks.c.ordinal, chunks.c.page, chunks.c.page_label, chunks.c.section, chunks.c.href,
            chunks.c.char_start, chunks.c.char_end, chunks.c.text, chunks.c.document_id, chunks.c.ocr,
            documents.c.path, documents.c.title, documents.c.author, documents.c.kind, documents.c.folder_id,
        ]
        out: dict[int, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for part in _batched(ids):
                q = select(*cols).join(documents, documents.c.id == chunks.c.document_id).where(chunks.c.id.in_(part))
                for r in conn.execute(q):
                    out[r.id] = dict(r._mapping)
        return out

    def first_chunk(self, path: str, page: int | None = None) -> int | None:
        """The id of the first passage of the document at ``path`` (on ``page``, if given)."""
        q = (
            select(chunks.c.id).join(documents, documents.c.id == chunks.c.document_id)
            .where(documents.c.path == path).order_by(chunks.c.ordinal).limit(1)
        )
        if page is not None:
            q = q.where(chunks.c.page == page)
        with self.engine.connect() as conn:
            found = conn.execute(q).scalar()
        return None if found is None else int(found)

    def chunk_document_rows(self, after_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, their document ids) for every chunk with id > ``after_id``."""
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT id, document_id FROM chunks WHERE id > ?", (int(after_id),)).all()
        arr = np.asarray(rows, dtype=np.int64).reshape(-1, 2)
        return arr[:, 0], arr[:, 1]

    def neighbours(self, document_id: int, ordinal: int, span: int = 1) -> list[dict[str, Any]]:
        """Chunks around one hit, for showing a passage in its context."""
        q = (
            select(chunks.c.id, chunks.c.ordinal, chunks.c.page, chunks.c.page_label, chunks.c.section, chunks.c.text)
            .where(chunks.c.document_id == document_id)
            .where(chunks.c.ordinal.between(ordinal - span, ordinal + span))
            .order_by(chunks.c.ordinal)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def keyword_search(self, match: str, limit: int, trigram: bool = False, table: str | None = None) -> list[tuple[int, float]]:
        """FTS5 bm25 search; returns (chunk id, score) with higher = better."""
        table = table or ("chunks_tri" if trigram else "chunks_fts")
        sql = text(f"SELECT rowid, bm25({table}) AS s FROM {table} WHERE {table} MATCH :q ORDER BY s LIMIT :n")
        with self.engine.connect() as conn:
            try:
                rows = conn.execute(sql, {"q": match, "n": limit}).all()
            except OperationalError as exc:  # malformed MATCH expression
                logger.debug("FTS query %r failed: %s", match, exc)
                return []
        return [(int(r[0]), -float(r[1])) for r in rows]

    def substring_search(self, terms: Sequence[str], limit: int) -> list[tuple[int, int]]:
        """(chunk id, how many of ``terms`` it contains), most first.

        A full scan, for the one- and two-character CJK words that the
        trigram index cannot match.
        """
        if not terms:
            return []
        found = " + ".join(f"(instr(text, :t{i}) > 0)" for i in range(len(terms)))
        sql = text(f"SELECT id, {found} AS n FROM chunks WHERE n > 0 ORDER BY n DESC, id LIMIT :limit")
        params: dict[str, Any] = {f"t{i}": t for i, t in enumerate(terms)}
        params["limit"] = limit
        with self.engine.connect() as conn:
            return [(int(r[0]), int(r[1])) for r in conn.execute(sql, params)]

    def gram_search(self, terms: Sequence[str], limit: int) -> list[tuple[int, float]]:
        """Passages holding any of these one- or two-character CJK words, bm25-ranked.

        An index lookup in the n-gram index; an index opened read-only before
        that index existed falls back to a scan.
        """
        if not terms:
            return []
        with self.engine.connect() as conn:
            has_index = not schema.missing(conn, "chunks_cjk")
        if not has_index:
            return [(cid, float(n)) for cid, n in self.substring_search(terms, limit)]
        return self.keyword_search(" OR ".join('"' + t.lower() + '"' for t in terms), limit, table="chunks_cjk")

    def language_counts(self) -> dict[Lang | None, int]:
        """Indexed documents per main writing system (None: not recorded)."""
        with self.engine.connect() as conn:
            if schema.missing(conn, "documents", "lang"):
                return {}
            rows = conn.execute(
                select(documents.c.lang, func.count()).where(documents.c.status == DocStatus.INDEXED).group_by(documents.c.lang)
            ).all()
        out: dict[Lang | None, int] = {}
        for lang, n in rows:
            try:
                key = Lang(lang) if lang else None
            except ValueError:
                key = None
            out[key] = out.get(key, 0) + int(n)
        return out

    # -- reporting -----------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            n_docs = conn.execute(select(func.count()).where(documents.c.status == DocStatus.INDEXED)).scalar_one()
            n_chunks = conn.execute(select(func.count()).select_from(chunks)).scalar_one()
            n_waiting = conn.execute(select(func.count()).where(chunks.c.embedding.is_(None))).scalar_one()
            failed = [
                {"path": r.path, "error": r.error}
                for r in conn.execute(
                    select(documents.c.path, documents.c.error)
                    .where(documents.c.status == DocStatus.FAILED).order_by(documents.c.path)
                )
            ]
            warnings = [
                {"path": r.path, "error": r.error}
                for r in conn.execute(
                    select(documents.c.path, documents.c.error)
                    .where((documents.c.status == DocStatus.INDEXED) & documents.c.error.is_not(None))
                    .order_by(documents.c.path)
                )
            ]
        return {"documents": int(n_docs), "chunks": int(n_chunks), "embedded": int(n_chunks) - int(n_waiting),
                "failed": failed, "warnings": warnings}
