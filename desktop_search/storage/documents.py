"""Documents: one row per file, written together with its passages.

A batch of files is committed in one transaction with their chunks (whose
triggers fill the full-text tables) and their new words (the vocabulary), so a kill -9 leaves either the old or
the new version of a file, never half of one. A moved or touched file keeps
its passages and their embeddings.

The rows of a commit go in through plain SQL with their ids given, not
SQLAlchemy's ``insert()``: building and caching a statement per document cost
the indexer's main thread more than SQLite's own work. Passages go in many
rows to a statement: one row per statement makes the full-text triggers cost
2.5 times as much (measured: 2.96 s against 1.20 s of CPU for SciFact's
10,551 passages into the trigram index; FTS5 flushes its pending terms at
every statement's savepoint).
"""
from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterator, Sequence

import numpy as np
from sqlalchemy import Connection, delete, func, select, update

from desktop_search.checkpoints import checkpoint
from desktop_search.failures import parse as parse_failure
from desktop_search.language import substring_words
from desktop_search.storage.connection import StoreBase, batched
from desktop_search.storage.passages import to_blob
from desktop_search.storage.records import ChunkRecord, DocumentRecord, KnownDocument
from desktop_search.storage.schema import DocStatus, chunks, documents, stored_path

_SURROGATES = re.compile("[\ud800-\udfff]")
_DOCUMENT_COLUMNS = ("id", "folder_id", "path", "kind", "size", "mtime_ns", "hash", "title", "author", "status", "error",
                     "failure", "attempts", "pages", "lang", "indexed_at")
_CHUNK_COLUMNS = ("id", "document_id", "ordinal", "page", "page_label", "section", "href", "char_start", "char_end", "text",
                  "embedding", "ocr")
_INSERT_DOCUMENT = (f"INSERT INTO documents ({', '.join(_DOCUMENT_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(_DOCUMENT_COLUMNS))})")
# Words a commit looks up in the vocabulary in one statement, and how many this process
# remembers the vocabulary holds (about 15 MB), so a run looks up each word once: for
# SciFact's 10,551 passages, 35,105 lookups instead of 155,047 (one per file's word).
WORDS_PER_INSERT = 500
KNOWN_WORDS = 200_000
# Passage rows per INSERT: 64 x 12 parameters stay under SQLite's oldest limit
# of 999, and more rows to a statement save little more (1.26 s at 256).
ROWS_PER_INSERT = 64


@functools.cache
def _insert_chunks(rows: int) -> str:
    """An INSERT of ``rows`` passages (SQLite keeps the prepared statement for the next batch)."""
    row = f"({', '.join('?' * len(_CHUNK_COLUMNS))})"
    return f"INSERT INTO chunks ({', '.join(_CHUNK_COLUMNS)}) VALUES {', '.join([row] * rows)}"


@functools.cache
def _insert_words(n: int) -> str:
    """Adds ``n`` words to the vocabulary; returns those it did not hold (for its trigram index)."""
    return f"INSERT OR IGNORE INTO vocab (word) VALUES {', '.join(['(?)'] * n)} RETURNING word"


def _chunk_rows(first_id: int, doc_id: int, recs: Sequence[ChunkRecord]) -> Iterator[tuple[object, ...]]:
    for i, c in enumerate(recs):
        yield (first_id + i, doc_id, c.ordinal, c.page, c.page_label, c.section, c.href, c.char_start, c.char_end, c.text,
               to_blob(c.embedding), c.ocr)


def _displayable(value: str | None) -> str | None:
    """Text SQLite can store: lone surrogates (from non-UTF-8 file names) become U+FFFD."""
    if value is None:
        return None
    return _SURROGATES.sub("\ufffd", value)


def drop_documents(conn: Connection, ids: Sequence[int]) -> list[int]:
    """Delete documents and their chunks in the caller's transaction; returns the chunk ids."""
    gone: list[int] = []
    for part in batched(list(ids)):
        gone.extend(conn.execute(select(chunks.c.id).where(chunks.c.document_id.in_(part))).scalars())
        conn.execute(delete(chunks).where(chunks.c.document_id.in_(part)))
        conn.execute(delete(documents).where(documents.c.id.in_(part)))
    return gone


def _next_chunk_id(conn: Connection) -> int:
    # Explicit ids let one statement insert many passages; sqlite_sequence
    # still records the high-water mark, so ids are never reused.
    seq = conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name='chunks'").scalar()
    top = conn.execute(select(func.max(chunks.c.id))).scalar()
    return max(seq or 0, top or 0) + 1


def _next_document_id(conn: Connection) -> int:
    """The id SQLite would give the next document (its rowid default: the largest plus one)."""
    return int(conn.execute(select(func.max(documents.c.id))).scalar() or 0) + 1


class DocumentsMixin(StoreBase):
    """The ``documents`` table and the chunk rows each commit writes with it."""

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
            old = [i for part in batched(paths)
                   for i in conn.execute(select(documents.c.id).where(documents.c.path.in_(part))).scalars()]
            gone = drop_documents(conn, old)
            next_id = _next_chunk_id(conn)
            doc_id = _next_document_id(conn)
            doc_rows: list[tuple[object, ...]] = []
            chunk_rows: list[tuple[object, ...]] = []
            for rec in records:
                doc_rows.append((
                    doc_id, rec.folder_id, stored_path(rec.path), rec.kind, rec.size, rec.mtime_ns, rec.hash,
                    _displayable(rec.title), _displayable(rec.author), rec.status.value, _displayable(rec.error),
                    rec.failure.value if rec.failure is not None else None, rec.attempts, rec.pages,
                    rec.lang.value if rec.lang else None, now,
                ))
                chunk_rows.extend(_chunk_rows(next_id, doc_id, rec.chunks))
                rec.first_chunk_id = next_id
                ids = np.arange(next_id, next_id + len(rec.chunks), dtype=np.int64)
                next_id += len(rec.chunks)
                doc_id += 1
                have = [i for i, c in enumerate(rec.chunks) if c.embedding is not None]
                if have:
                    vecs = np.stack([np.asarray(rec.chunks[i].embedding, dtype=np.float32) for i in have])
                    ids = ids[have]
                else:
                    ids, vecs = ids[:0], np.zeros((0, 0), dtype=np.float32)
                out.append((ids, vecs))
            if doc_rows:
                conn.exec_driver_sql(_INSERT_DOCUMENT, doc_rows)
            for part in batched(chunk_rows, ROWS_PER_INSERT):
                conn.exec_driver_sql(_insert_chunks(len(part)), tuple(v for row in part for v in row))
            words: set[str] = set()
            for rec in records:
                words.update(rec.words if rec.words is not None else substring_words(c.text for c in rec.chunks))
            words -= self.known_words
            for part in batched(sorted(words), WORDS_PER_INSERT):
                new = conn.exec_driver_sql(_insert_words(len(part)), tuple(part)).scalars().all()
                if new:
                    conn.exec_driver_sql("INSERT INTO vocab_tri (word) VALUES (?)", [(w,) for w in new])
            checkpoint("committing")
        if len(self.known_words) + len(words) > KNOWN_WORDS:
            self.known_words.clear()
        self.known_words |= words  # committed: in the vocabulary now
        return out, gone

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
            return drop_documents(conn, ids)
