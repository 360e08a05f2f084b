"""Documents: one row per file, written together with its passages.

A batch of files is committed in one transaction with their chunks (whose
triggers fill the full-text tables), so a kill -9 leaves either the old or
the new version of a file, never half of one. A moved or touched file keeps
its passages and their embeddings.
"""
from __future__ import annotations

import re
import time
from collections.abc import Sequence

import numpy as np
from sqlalchemy import Connection, delete, func, insert, select, update

from desktop_search.checkpoints import checkpoint
from desktop_search.failures import parse as parse_failure
from desktop_search.storage.connection import StoreBase, batched, new_id
from desktop_search.storage.passages import to_blob
from desktop_search.storage.records import DocumentRecord, KnownDocument
from desktop_search.storage.schema import DocStatus, chunks, documents

_SURROGATES = re.compile("[\ud800-\udfff]")


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
    # Explicit ids let one executemany insert a whole document; sqlite_sequence
    # still records the high-water mark, so ids are never reused.
    seq = conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name='chunks'").scalar()
    top = conn.execute(select(func.max(chunks.c.id))).scalar()
    return max(seq or 0, top or 0) + 1


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
            for rec in records:
                doc_id = new_id(conn.execute(
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
                                "embedding": to_blob(c.embedding), "ocr": c.ocr,
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
