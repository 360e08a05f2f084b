"""From a ranking of passages to a ranking of documents, each with its best passages.

The filters (folders, file types, quoted phrases) apply here, on the rows
read for the passages that can still be shown, and so do the per-document
caps that keep a long book from filling its card with weak passages.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from desktop_search.paths import library_path
from desktop_search.search.results import DocumentResult, SearchResult
from desktop_search.storage import Store


class ChunkDocuments:
    """Chunk id -> document id for every stored passage, kept in memory.

    Ranking needs the document of each of up to two thousand candidates per
    query; an SQL lookup for them was a third of a query's time. Chunk ids
    are never reused and a passage never changes document (a move keeps the
    document's id), so the map only grows: :meth:`refresh` reads the rows
    added since. A deleted passage may linger here; its row is gone, so it is
    never shown.
    """

    def __init__(self) -> None:
        self._docs = np.zeros(0, dtype=np.int64)  # index: chunk id; 0 = no such chunk
        self._upto = 0

    def refresh(self, store: Store, top: int) -> None:
        if top <= self._upto:
            return
        ids, docs = store.chunk_document_rows(self._upto)
        if len(ids):
            if int(ids.max()) >= len(self._docs):
                grown = np.zeros(max(int(ids.max()) + 1, int(len(self._docs) * 1.5)), dtype=np.int64)
                grown[: len(self._docs)] = self._docs
                self._docs = grown
            self._docs[ids] = docs
        self._upto = top

    def lookup(self, ids: Iterable[int]) -> dict[int, int]:
        docs, n = self._docs, len(self._docs)
        return {cid: int(docs[cid]) for cid in ids if cid < n and docs[cid]}


def group_documents(
    store: Store,
    scored: list[tuple[int, float]],
    own: list[tuple[int, float]],
    doc_of: dict[int, int],
    *,
    phrases: Sequence[str],
    top_k: int,
    folders: Sequence[str],
    kinds: Sequence[str],
    per_document: int,
) -> list[DocumentResult]:
    """Documents in the order of ``scored``, each with its passages that are hits in their own right.

    A further passage must rank among the best ``top_k * per_document``
    passages by its own score (``own``), so a long book cannot fill its
    card with weak passages. Rows (with their text) are read a batch at a
    time, and only for passages that can still be shown. A passage must
    hold every one of ``phrases``.
    """
    folder_prefixes = [library_path(f).rstrip(os.sep) + os.sep for f in folders]
    own_score = dict(own)
    own_rank = {cid: i for i, (cid, _s) in enumerate(own)}
    limit = top_k * per_document if per_document else len(own)
    cap = per_document or len(own)
    groups: dict[int, list[SearchResult]] = {}
    doc_score: dict[int, float] = {}
    rejected: set[int] = set()  # documents outside the folder or type filters

    def wanted(cid: int) -> bool:
        doc = doc_of.get(cid)
        if doc is None or doc in rejected:
            return False
        if doc in groups:
            return len(groups[doc]) < cap and own_rank.get(cid, limit) < limit
        return len(groups) < top_k

    step = max(2 * top_k, 50)
    for start in range(0, len(scored), step):
        part = [cs for cs in scored[start : start + step] if wanted(cs[0])]
        if not part:
            continue
        rows = store.fetch_chunks(cid for cid, _ in part)
        for cid, score in part:
            row = rows.get(cid)
            if row is None or not wanted(cid):
                continue  # deleted since the vectors were loaded, or its document is full
            doc = row["document_id"]
            if (kinds and row["kind"] not in kinds) or (
                    folder_prefixes and not any(row["path"].startswith(p) for p in folder_prefixes)):
                rejected.add(doc)
                continue
            if phrases and not all(p.lower() in row["text"].lower() for p in phrases):
                continue
            if doc not in groups:
                groups[doc], doc_score[doc] = [], float(score)
            groups[doc].append(_result(row, cid, doc_score[doc], own_score.get(cid, float(score))))
    out = [DocumentResult(rank=i, passages=passages) for i, passages in enumerate(groups.values(), 1)]
    for d in out:
        for p in d.passages:
            p.doc_rank = d.rank
    return out


def _result(row: dict[str, Any], cid: int, score: float, passage_score: float) -> SearchResult:
    return SearchResult(
        rank=0, score=score, path=row["path"], title=row["title"], page=row["page"], section=row["section"],
        text=row["text"], page_label=row["page_label"], href=row["href"], author=row["author"], kind=row["kind"],
        chunk_id=cid, document_id=row["document_id"], ordinal=row["ordinal"], char_start=row["char_start"],
        char_end=row["char_end"], passage_score=float(passage_score), ocr=bool(row["ocr"]),
    )
