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
    """Chunk id -> document id for every stored passage, kept in memory as runs of ids.

    Ranking needs the document of each of up to two thousand candidates per
    query; an SQL lookup for them was a third of a query's time. A document's
    passages are committed together with consecutive ids
    (:meth:`~desktop_search.storage.documents.DocumentsMixin.commit_documents`),
    so one run (first id, last id, document) stands for all of them: a million
    passages of twenty thousand books take twenty thousand runs, read in half
    a second, where a row per passage took 3.2 s and an array indexed by chunk
    id grew with every id ever given out. A document whose ids are not one run
    (written some other way) keeps a row per passage.

    Chunk ids are never reused and a passage never changes document (a move
    keeps the document's id), so the map only grows: :meth:`refresh` reads the
    passages added since. A deleted passage may linger here; its row is gone,
    so it is never shown.
    """

    def __init__(self) -> None:
        self._first = np.zeros(0, dtype=np.int64)  # each run's first chunk id, ascending
        self._last = np.zeros(0, dtype=np.int64)
        self._doc = np.zeros(0, dtype=np.int64)
        self._scattered: dict[int, int] = {}  # passages of documents that are not one run
        self._upto = 0

    @property
    def loaded(self) -> bool:
        """Whether the map has been read from a store that held passages."""
        return self._upto > 0

    def __len__(self) -> int:
        """Runs and scattered passages held: what the map costs in memory."""
        return len(self._first) + len(self._scattered)

    def refresh(self, store: Store, top: int) -> None:
        """Add the passages committed since the last refresh, up to chunk id ``top``."""
        if top <= self._upto:
            return
        runs = store.chunk_document_runs(self._upto)
        whole = runs[:, 1] - runs[:, 0] + 1 == runs[:, 2]
        if not whole.all():
            ids, docs = store.chunk_ids_of(runs[~whole, 3].tolist())
            self._scattered.update(zip(ids.tolist(), docs.tolist(), strict=True))
            runs = runs[whole]
        self._first = np.concatenate([self._first, runs[:, 0]])
        self._last = np.concatenate([self._last, runs[:, 1]])
        self._doc = np.concatenate([self._doc, runs[:, 3]])
        self._upto = max(top, int(runs[:, 1].max(initial=0)))

    def lookup(self, ids: Iterable[int]) -> dict[int, int]:
        """The documents of those of ``ids`` that are known."""
        wanted = np.fromiter(ids, dtype=np.int64)
        at = np.searchsorted(self._first, wanted, side="right") - 1
        inside = at >= 0
        inside[inside] &= wanted[inside] <= self._last[at[inside]]
        out = dict(zip(wanted[inside].tolist(), self._doc[at[inside]].tolist(), strict=True))
        if self._scattered:
            out.update((c, self._scattered[c]) for c in wanted[~inside].tolist() if c in self._scattered)
        return out


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
