"""The re-embed queue (``reembed``) and the record of how the stored vectors were made.

A passage whose vector an older recipe made (:mod:`desktop_search.recipe`)
keeps that vector, in SQLite and in the hnsw file, and searches use it, until
an index run has embedded every new passage and then computes it again:
:meth:`ReembedMixin.stale_chunks` hands those passages out oldest first and
:meth:`ReembedMixin.replace_embeddings` swaps the vector in. The row then
stays, ``stored``, until the hnsw file is saved with the new vector
(``clear_tombstones``), so a file left stale by a crash is given it again
when it is next opened (:meth:`ReembedMixin.replaced_vectors`).
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sqlalchemy import func, select

from desktop_search.checkpoints import checkpoint
from desktop_search.storage.connection import StoreBase
from desktop_search.storage.passages import from_blobs, to_blob
from desktop_search.storage.records import PendingChunk
from desktop_search.storage.schema import MetaKey, ReembedState, chunks, documents, meta, reembed


def merged(recorded: str | None, used: str) -> str:
    """A comma-separated set of what made the stored vectors, with ``used`` in it."""
    have = set(recorded.split(",")) if recorded else set()
    return ",".join(sorted(have | {used}))


class ReembedMixin(StoreBase):
    """Passages due for a new vector, and the recipe's record in ``meta``."""

    def stale_chunks(self, after_id: int, limit: int) -> list[PendingChunk]:
        """Queued passages still on their old vector, with id > ``after_id``, oldest first."""
        q = (
            select(chunks.c.id, chunks.c.text, documents.c.title)
            .join(reembed, reembed.c.chunk_id == chunks.c.id)
            .join(documents, documents.c.id == chunks.c.document_id)
            .where(reembed.c.state == ReembedState.WAITING, chunks.c.id > after_id)
            .order_by(chunks.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [PendingChunk(int(r.id), r.text, r.title) for r in conn.execute(q)]

    def replace_embeddings(self, ids: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        """Give queued passages their new vectors, in one transaction; returns the ids that took one
        (a passage deleted since it was read, and with it its queue row, is skipped)."""
        took: list[int] = []
        with self._write() as conn:
            for cid, vec in zip(ids, vecs, strict=True):
                res = conn.exec_driver_sql(
                    "UPDATE reembed SET state = ? WHERE chunk_id = ? AND state = ?",
                    (ReembedState.STORED, int(cid), ReembedState.WAITING))
                if res.rowcount == 1:
                    conn.exec_driver_sql("UPDATE chunks SET embedding = ? WHERE id = ?", (to_blob(vec), int(cid)))
                    took.append(int(cid))
            checkpoint("committing-vectors")
        return np.asarray(took, dtype=np.int64)

    def reembed_waiting(self) -> int:
        """How many queued passages still wait for their new vector."""
        with self.engine.connect() as conn:
            q = select(func.count()).select_from(reembed).where(reembed.c.state == ReembedState.WAITING)
            return int(conn.execute(q).scalar_one())

    def replaced_vectors(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, float32 vectors) of the passages whose new vector the saved hnsw file may not hold yet."""
        q = (
            select(chunks.c.id, chunks.c.embedding).join(reembed, reembed.c.chunk_id == chunks.c.id)
            .where(reembed.c.state == ReembedState.STORED).order_by(chunks.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        if rows:
            yield from_blobs(rows)

    def record_arithmetic(self, engine: str, precision: str) -> None:
        """Add the engine and precision that just made vectors to the index's record of them."""
        with self._write() as conn:
            for key, used in ((MetaKey.EMBEDDING_ENGINE, engine), (MetaKey.EMBEDDING_PRECISION, precision)):
                recorded = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()
                if recorded != merged(recorded, used):
                    self._set_meta(conn, key, merged(recorded, used))
