"""Passages (the ``chunks`` table) and their vectors.

A passage is stored with its document, keyword-searchable at once; its
embedding follows in a transaction of its own: the embedding stream takes
passages with a NULL embedding oldest first (:meth:`PassagesMixin.pending_chunks`)
and gives them vectors (:meth:`PassagesMixin.store_embeddings`). The hnsw
file is fed from here too (embeddings and tombstones), and searches read
passages back for display.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select

from desktop_search.checkpoints import checkpoint
from desktop_search.storage.connection import StoreBase, batched
from desktop_search.storage.records import PendingChunk
from desktop_search.storage.schema import ReembedState, chunks, deleted_chunks, documents, reembed


def to_blob(vec: np.ndarray | None) -> bytes | None:
    """How a vector is stored: float16 bytes (:func:`from_blobs` reads them back)."""
    return None if vec is None else np.asarray(vec, dtype=np.float16).tobytes()


def from_blobs(rows: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(ids, float32 vectors) from (id, stored vector) rows."""
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float16).reshape(len(rows), -1)
    return ids, vecs.astype(np.float32)


class PassagesMixin(StoreBase):
    """The embedding queue, the vector feed of the hnsw file, and passages read back for display."""

    # -- the embedding queue ----------------------------------------------------------

    def pending_chunks(self, after_id: int, limit: int, upto: int | None = None) -> list[PendingChunk]:
        """Passages without a vector and with ``after_id`` < id (<= ``upto``), oldest first."""
        q = (
            select(chunks.c.id, chunks.c.text, documents.c.title)
            .join(documents, documents.c.id == chunks.c.document_id)
            .where(chunks.c.embedding.is_(None), chunks.c.id > after_id)
            .order_by(chunks.c.id)
            .limit(limit)
        )
        if upto is not None:
            q = q.where(chunks.c.id <= upto)
        with self.engine.connect() as conn:
            return [PendingChunk(int(r.id), r.text, r.title) for r in conn.execute(q)]

    def store_embeddings(self, ids: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        """Give waiting passages their vectors, in one transaction.

        Returns the ids that took a vector: a passage deleted (its file
        replaced) since it was read for embedding is skipped, and one that has
        a vector already keeps it, so nothing is embedded into the index twice.
        """
        if len(ids) == 0:
            return np.zeros(0, dtype=np.int64)
        with self._write() as conn:
            waiting = np.fromiter(conn.exec_driver_sql(
                "SELECT id FROM chunks WHERE embedding IS NULL AND id BETWEEN ? AND ?",
                (int(ids.min()), int(ids.max()))).scalars(), dtype=np.int64)
            keep = np.isin(ids, waiting)
            took = np.asarray(ids, dtype=np.int64)[keep]
            if len(took):
                conn.exec_driver_sql("UPDATE chunks SET embedding = ? WHERE id = ?",
                                     [(to_blob(vec), int(cid)) for vec, cid in zip(vecs[keep], took, strict=True)])
            checkpoint("committing-vectors")
        return took

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

    # -- the vector feed ------------------------------------------------------------------

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
            ids, vecs = from_blobs(rows)
            yield ids, vecs
            last = int(ids[-1])

    def iter_texts(self, after_id: int = 0, block: int = 20000) -> Iterator[tuple[int, str]]:
        """(chunk id, text) of every passage with an id above ``after_id``, in id order, read ``block`` at a time."""
        last = after_id
        while True:
            q = select(chunks.c.id, chunks.c.text).where(chunks.c.id > last).order_by(chunks.c.id).limit(block)
            with self.engine.connect() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            for cid, text in rows:
                yield int(cid), str(text)
            last = int(rows[-1][0])

    def tombstones(self) -> list[int]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(deleted_chunks.c.chunk_id))]

    def clear_tombstones(self, upto_id: int) -> None:
        """The saved hnsw file reflects every deletion up to ``upto_id`` and every re-embedded vector."""
        with self._write() as conn:
            conn.execute(delete(deleted_chunks).where(deleted_chunks.c.chunk_id <= upto_id))
            conn.execute(delete(reembed).where(reembed.c.state == ReembedState.STORED))

    # -- passages read back ---------------------------------------------------------------

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
            for part in batched(ids):
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

    def chunk_document_runs(self, after_id: int) -> np.ndarray:
        """One row per document with passages of id > ``after_id``: (first id, last id, passages, document id).

        Ordered by first id. A document whose passages were committed
        together holds the ids first..last, and no others (``passages`` says
        so: last - first + 1); the searcher keeps these runs, not a row per
        passage. The first read of a whole store goes through the
        (document_id, ordinal) index, which holds every chunk id and is a
        hundredth the size of the table; later reads take only the new rows
        by id (left to itself, SQLite would scan the whole index each time).
        """
        source = "chunks INDEXED BY ix_chunks_document" if after_id <= 0 else "chunks NOT INDEXED"
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                f"SELECT min(id), max(id), count(*), document_id FROM {source} WHERE id > ? GROUP BY document_id",
                (int(after_id),)).all()
        runs = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
        return runs[np.argsort(runs[:, 0], kind="stable")]

    def documents_of(self, chunk_ids: Iterable[int]) -> dict[int, int]:
        """Chunk id -> document id for these passages (those still stored)."""
        out: dict[int, int] = {}
        with self.engine.connect() as conn:
            for part in batched([int(i) for i in chunk_ids]):
                q = select(chunks.c.id, chunks.c.document_id).where(chunks.c.id.in_(part))
                out.update((int(cid), int(doc)) for cid, doc in conn.execute(q))
        return out

    def chunk_ids_of(self, document_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, their document ids) of these documents."""
        rows: list[tuple[int, int]] = []
        with self.engine.connect() as conn:
            for part in batched(list(document_ids)):
                q = select(chunks.c.id, chunks.c.document_id).where(chunks.c.document_id.in_(part))
                rows.extend((int(cid), int(doc)) for cid, doc in conn.execute(q))
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
