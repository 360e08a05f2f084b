"""Answering queries: dense (hnswlib), keyword (FTS5 bm25) and hybrid (fused).

The searcher opens the store read-only, so it works while another process
indexes; :meth:`Searcher.refresh` picks up chunks committed since it opened.
Passages are keyword-searchable before they have a vector (the index run
embeds them behind): dense and hybrid search rank those by their keyword
score alone, and :meth:`Searcher.embedding_note` says how many there are.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from desktop_search.embed.models import ModelSpec, resolve_model
from desktop_search.errors import IndexMismatchError, UserFacingError
from desktop_search.language import detect_query
from desktop_search.paths import DataPaths, library_path
from desktop_search.search.coverage import LanguageNotice, library_notice, query_notice
from desktop_search.search.fusion import FusionSettings, fuse_levels
from desktop_search.search.query import CJK, ParsedQuery, fts_match, fts_quote, parse_query, trigram_terms
from desktop_search.search.results import DocumentResult, SearchResult, flatten
from desktop_search.search.terms import PER_DOCUMENT
from desktop_search.storage import Manifest, Store, VectorIndex

if TYPE_CHECKING:  # the model module sets offline defaults when imported; only its interface is needed here
    from desktop_search.embed.embedder import TextEmbedder

MODES = ("dense", "keyword", "hybrid")


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


class Searcher:
    """Keeps the model and the vectors loaded across queries."""

    def __init__(
        self,
        paths: DataPaths,
        model: str | None = None,
        extra_models: Sequence[str] = (),
        device: str = "auto",
        embedder: TextEmbedder | None = None,
        fusion: FusionSettings | None = None,
        threads: int | None = None,
        precision: str = "auto",
    ) -> None:
        self.paths = paths
        self.threads = threads
        self.precision = precision
        self.fusion = fusion or FusionSettings()
        self.device = device
        self.store = Store(paths.database, readonly=True)
        self._model = model
        self._extra_models = extra_models
        self._embedder = embedder
        self._lock = threading.RLock()
        self.vectors: VectorIndex | None = None
        self._first_waiting: int | None = None  # oldest passage without a vector, as of the last refresh
        self._chunk_documents = ChunkDocuments()
        self._query_vectors: dict[str, np.ndarray] = {}  # from prepare(), each used once
        self.manifest: Manifest | None = None
        self.spec: ModelSpec | None = None
        self._bind_manifest()

    def _bind_manifest(self) -> bool:
        """Adopt the index's model once the index records one (it may not yet)."""
        if self.manifest is not None:
            return True
        manifest = self.store.manifest()
        if manifest is None:
            return False
        spec = resolve_model(self._model or manifest.model_id, self._extra_models)
        if spec.id != manifest.model_id or spec.dim != manifest.dim:
            raise IndexMismatchError(
                f"This index was built with {manifest.model_id} (dimension {manifest.dim}), "
                f"not {spec.id}. Search with that model, or rebuild the index with `index --rebuild`."
            )
        self.manifest, self.spec = manifest, spec
        return True

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def language_notice(self, queries: Sequence[str] = ()) -> LanguageNotice | None:
        """A notice when the library, or else most of ``queries``, is in a script the model does not read."""
        if not self._bind_manifest():
            return None
        assert self.spec is not None
        return library_notice(self.spec, self.store.language_counts()) or query_notice(self.spec, queries)

    @property
    def embedder(self) -> TextEmbedder:
        """The query model, loaded on first use (the GUI preloads it in a thread)."""
        with self._lock:
            if self._embedder is None:
                from desktop_search.embed.embedder import Embedder

                assert self.spec is not None
                self._embedder = Embedder(self.spec, device=self.device, threads=self.threads,
                                          precision=self.precision)
            return self._embedder

    def refresh(self) -> None:
        """Load the vectors, or add chunks committed since they were loaded."""
        if not self._bind_manifest():
            return
        assert self.manifest is not None
        with self._lock:
            first, top = self.store.embedding_frontier()
            self._first_waiting = first
            self._chunk_documents.refresh(self.store, top)
            if self.vectors is None:
                self.vectors = VectorIndex.open(self.paths, self.store, self.manifest.dim, writable=False)
            elif (top if first is None else first - 1) > self.vectors.max_id:
                self.vectors.catch_up(self.store, apply_tombstones=False)

    def embedding_note(self) -> str | None:
        """One line for the user while passages still wait for their vectors; None when all have one."""
        self.refresh()
        if self._first_waiting is None:
            return None
        embedded, total = self.store.embedding_counts()
        return (f"{total - embedded:,} of {total:,} passages are still being embedded; "
                "until then they are ranked by their keyword score alone.")

    # -- searching -----------------------------------------------------------------

    def search(
        self,
        query: str,
        top_k: int = 10,
        mode: str = "hybrid",
        folders: Sequence[str] = (),
        kinds: Sequence[str] = (),
        per_document: int = PER_DOCUMENT,
    ) -> list[SearchResult]:
        """The rows of :meth:`search_documents`: ``top_k`` documents, their passages together."""
        return flatten(self.search_documents(query, top_k, mode, folders, kinds, per_document))

    def search_documents(
        self,
        query: str,
        top_k: int = 10,
        mode: str = "hybrid",
        folders: Sequence[str] = (),
        kinds: Sequence[str] = (),
        per_document: int = PER_DOCUMENT,
    ) -> list[DocumentResult]:
        """The ``top_k`` best documents, each with up to ``per_document`` passages (0: all its hits)."""
        if mode not in MODES:
            raise UserFacingError(f"Unknown search mode {mode!r}; use one of {', '.join(MODES)}.")
        q = parse_query(query)
        if not q.text:
            return []
        self.refresh()
        if self.manifest is None:
            return []  # nothing indexed yet
        # The pool does not shrink with top_k, so the first ten results of a
        # top-100 search are the results of a top-10 search.
        pool = max(self.fusion.pool, top_k * 4)
        assert self.spec is not None
        # A model that cannot read the query's script ranks by noise: hybrid
        # is then keyword search, with dense only when no word matched.
        lang = detect_query(q.text)
        unread = mode == "hybrid" and not self.spec.reads(lang)
        first_waiting = self._first_waiting
        keyword: list[tuple[int, float]] = []
        exact: set[int] = set()
        if mode in ("keyword", "hybrid") or (mode == "dense" and first_waiting is not None):
            keyword, exact = self._keyword(q, pool)
        dense = self._dense(q, pool) if mode == "dense" or (mode == "hybrid" and not (unread and keyword)) else []
        # Passages without a vector yet: every id from the oldest waiting one up.
        waiting = frozenset() if first_waiting is None else frozenset(c for c, _ in keyword if c >= first_waiting)
        if mode == "dense" and keyword:
            keyword = [cs for cs in keyword if cs[0] in waiting]
            exact = set()
        doc_of = self._chunk_documents.lookup({cid for cid, _ in dense} | {cid for cid, _ in keyword})
        if unread:
            scored = own = keyword or dense
        elif mode == "hybrid" or (mode == "dense" and keyword):
            fusion = self.fusion.for_query(lang) if mode == "hybrid" else self.fusion
            dense_weight = fusion.dense_weight if mode == "hybrid" else 1.0
            weights = [dense_weight, 1.0 - dense_weight]
            scored, own = fuse_levels([dense, keyword], weights, doc_of, fusion, waiting)
        else:
            scored = own = dense or keyword
        if exact:
            # A stable sort keeps each group in its fused order.
            scored = sorted(scored, key=lambda cs: cs[0] not in exact)
        return self._group(scored, own, doc_of, q, top_k, folders, kinds, per_document)

    def similar(
        self,
        chunk_id: int,
        top_k: int = 10,
        folders: Sequence[str] = (),
        kinds: Sequence[str] = (),
        per_document: int = PER_DOCUMENT,
    ) -> list[DocumentResult]:
        """Documents with passages near one passage's vector ("more like this"); that passage is left out."""
        self.refresh()
        if self.vectors is None:
            return []
        vec = self.vectors.vector(chunk_id)
        if vec is None:
            raise UserFacingError(f"Passage {chunk_id} is not in the index (any more); search again.")
        ids, scores = self.vectors.search(vec, max(self.fusion.pool, top_k * 4) + 1)
        scored = [(cid, s) for cid, s in zip(ids.tolist(), scores.tolist(), strict=True) if cid != chunk_id]
        doc_of = self._chunk_documents.lookup(cid for cid, _ in scored)
        return self._group(scored, scored, doc_of, parse_query(""), top_k, folders, kinds, per_document)

    def chunk_at(self, path: str, page: int | None = None) -> int | None:
        """The first passage of ``path`` (on ``page``, if given): what `similar PATH --page N` starts from."""
        return self.store.first_chunk(library_path(path), page)

    def prepare(self, queries: Sequence[str]) -> None:
        """Embed many queries in one batched forward before they are searched one by one.

        For ``search --queries``: a batch costs a fraction of a forward per
        query, which is most of a short query's time.
        """
        self.refresh()
        if self.manifest is None or self.vectors is None:
            return
        texts = list(dict.fromkeys(q.text for q in map(parse_query, queries) if q.text))
        if texts:
            self._query_vectors.update(zip(texts, self.embedder.encode_queries(texts), strict=True))

    def _dense(self, q: ParsedQuery, k: int) -> list[tuple[int, float]]:
        if self.vectors is None:
            return []
        vec = self._query_vectors.pop(q.text, None)
        if vec is None:
            vec = self.embedder.encode_queries([q.text])[0]
        ids, scores = self.vectors.search(vec, k)
        return list(zip(ids.tolist(), scores.tolist(), strict=True))

    def _keyword(self, q: ParsedQuery, k: int) -> tuple[list[tuple[int, float]], set[int]]:
        """bm25 hits, and the passages that hold the whole query as a phrase."""
        if not CJK.search(q.text):
            match = fts_match(q, stopwords=self.fusion.stopwords)
            hits = self.store.keyword_search(match, k) if match else []
            if hits:
                exact: set[int] = set()
                if self.fusion.exact_first and not q.phrases and len(q.words) >= 4:
                    exact = {cid for cid, _ in self.store.keyword_search(fts_quote(" ".join(q.words)), k)}
                return hits, exact
            # No whole word matched: look for the words inside longer ones
            # (German compounds, partial words) with the substring index.
        match = fts_match(q, trigram=True)
        hits = self.store.keyword_search(match, k, trigram=True) if match else []
        short = trigram_terms(q)[1]
        if short:
            # Both bm25 scores count: a passage with the long words and the short ones ranks first.
            total = dict(hits)
            for cid, score in self.store.gram_search(short, k):
                total[cid] = total.get(cid, 0.0) + score
            hits = sorted(total.items(), key=lambda cs: cs[1], reverse=True)[:k]
        return hits, set()

    def _group(
        self, scored: list[tuple[int, float]], own: list[tuple[int, float]], doc_of: dict[int, int],
        q: ParsedQuery, top_k: int, folders: Sequence[str], kinds: Sequence[str], per_document: int,
    ) -> list[DocumentResult]:
        """Documents in the order of ``scored``, each with its passages that are hits in their own right.

        A further passage must rank among the best ``top_k * per_document``
        passages by its own score (``own``), so a long book cannot fill its
        card with weak passages. Rows (with their text) are read a batch at a
        time, and only for passages that can still be shown.
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
            rows = self.store.fetch_chunks(cid for cid, _ in part)
            for cid, score in part:
                row = rows.get(cid)
                if row is None or not wanted(cid):
                    continue  # deleted since the vectors were loaded, or its document is full
                doc = row["document_id"]
                if (kinds and row["kind"] not in kinds) or (
                        folder_prefixes and not any(row["path"].startswith(p) for p in folder_prefixes)):
                    rejected.add(doc)
                    continue
                if q.phrases and not all(p.lower() in row["text"].lower() for p in q.phrases):
                    continue
                if doc not in groups:
                    groups[doc], doc_score[doc] = [], float(score)
                groups[doc].append(_result(row, cid, doc_score[doc], own_score.get(cid, float(score))))
        out = [DocumentResult(rank=i, passages=passages) for i, passages in enumerate(groups.values(), 1)]
        for d in out:
            for p in d.passages:
                p.doc_rank = d.rank
        return out

    def context(self, result: SearchResult, span: int = 1) -> list[dict[str, Any]]:
        """The passage with its neighbours, for a preview."""
        return self.store.neighbours(result.document_id, result.ordinal, span)


def _result(row: dict[str, Any], cid: int, score: float, passage_score: float) -> SearchResult:
    return SearchResult(
        rank=0, score=score, path=row["path"], title=row["title"], page=row["page"], section=row["section"],
        text=row["text"], page_label=row["page_label"], href=row["href"], author=row["author"], kind=row["kind"],
        chunk_id=cid, document_id=row["document_id"], ordinal=row["ordinal"], char_start=row["char_start"],
        char_end=row["char_end"], passage_score=float(passage_score), ocr=bool(row["ocr"]),
    )
