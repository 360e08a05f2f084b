"""The dense leg: a query's vector against the passages' vectors in the hnsw index.

The query model loads only when a query needs it; vectors embedded ahead
in one batch (:meth:`DenseLeg.prepare`) save most of a short query's time.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from desktop_search.errors import UserFacingError
from desktop_search.search.query import ParsedQuery
from desktop_search.storage import VectorIndex

if TYPE_CHECKING:  # the model module sets offline defaults when imported; only its interface is needed here
    from desktop_search.embed.embedder import TextEmbedder


class DenseLeg:
    """Ranks passages by the cosine of their vector with the query's."""

    def __init__(self) -> None:
        self._prepared: dict[str, np.ndarray] = {}  # query text -> vector, from prepare(), each used once

    def prepare(self, texts: Sequence[str], embedder: TextEmbedder) -> None:
        """Embed many query texts in one batched forward, for :meth:`search` to use."""
        self._prepared.update(zip(texts, embedder.encode_queries(texts), strict=True))

    def search(
        self, vectors: VectorIndex | None, q: ParsedQuery, k: int, embedder: Callable[[], TextEmbedder],
    ) -> list[tuple[int, float]]:
        """The ``k`` nearest passages (chunk id, cosine; best first); none before vectors are loaded.

        ``embedder`` is called only when the query was not prepared: it may load the model.
        """
        if vectors is None:
            return []
        vec = self._prepared.pop(q.text, None)
        if vec is None:
            vec = embedder().encode_queries([q.text])[0]
        ids, scores = vectors.search(vec, k)
        return list(zip(ids.tolist(), scores.tolist(), strict=True))


def near_passage(vectors: VectorIndex, chunk_id: int, k: int) -> list[tuple[int, float]]:
    """The passages nearest one stored passage ("more like this"): ``k + 1`` asked, that passage left out."""
    vec = vectors.vector(chunk_id)
    if vec is None:
        raise UserFacingError(f"Passage {chunk_id} is not in the index (any more); search again.")
    ids, scores = vectors.search(vec, k + 1)
    return [(cid, s) for cid, s in zip(ids.tolist(), scores.tolist(), strict=True) if cid != chunk_id]
