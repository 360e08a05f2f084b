"""Answering queries: dense (hnswlib), keyword (FTS5 bm25) and hybrid (fused).

The searcher opens the store read-only, so it works while another process
indexes; :meth:`Searcher.refresh` picks up chunks committed since it opened.
Passages are keyword-searchable before they have a vector (the index run
embeds them behind): dense and hybrid search rank those by their keyword
score alone, and :meth:`Searcher.embedding_note` says how many there are.

The legs (:mod:`~desktop_search.search.keyword`, :mod:`~desktop_search.search.dense`),
their fusion (:mod:`~desktop_search.search.fusion`) and the grouping into
documents (:mod:`~desktop_search.search.grouping`) live in their own modules;
this one decides, per mode, which legs run and how they are combined.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from desktop_search.embed.engine import Precision, follow_index
from desktop_search.embed.models import ModelSpec, resolve_model
from desktop_search.errors import IndexMismatchError, UserFacingError
from desktop_search.language import detect_query
from desktop_search.paths import DataPaths, library_path
from desktop_search.search.coverage import LanguageNotice, library_notice, query_notice
from desktop_search.search.dense import DenseLeg, near_passage
from desktop_search.search.fusion import FusionSettings, fuse_levels
from desktop_search.search.grouping import ChunkDocuments, group_documents
from desktop_search.search.keyword import KeywordLeg
from desktop_search.search.query import parse_query
from desktop_search.search.results import DocumentResult, SearchResult, flatten
from desktop_search.search.terms import PER_DOCUMENT
from desktop_search.search.warmup import settle
from desktop_search.storage import Manifest, Store, VectorIndex
from desktop_search.storage.schema import MetaKey
from desktop_search.storage.topk_index import TopKReader

if TYPE_CHECKING:  # the model module sets offline defaults when imported; only its interface is needed here
    from desktop_search.embed.embedder import TextEmbedder

MODES = ("dense", "keyword", "hybrid")


class DenseLoading(StrEnum):
    """When a searcher loads what dense ranking needs: the vectors and the query model.

    For a million passages that is seconds (a 1.8 GB vector file, torch and
    the model), which a window must not keep its user waiting for.
    """

    FIRST_USE = "first use"  # the first dense or hybrid query waits for them (the CLI)
    BACKGROUND = "background"  # load_dense() brings them in on another thread; queries meanwhile are keyword (the window)


class Searcher:
    """Keeps the model and the vectors loaded across queries.

    Thread-safe for one thread that searches and one that loads
    (:meth:`load_dense`): loading holds locks of its own, never the one a
    keyword query needs.
    """

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
        engine: str = "auto",
        dense_loading: DenseLoading = DenseLoading.FIRST_USE,
        topk_index: bool = True,
    ) -> None:
        """``topk_index``: rank "any of these words" with a big library's top-k index when it is current
        (:mod:`~desktop_search.storage.topk_index`); False keeps to FTS5, the baseline benchmarks compare with."""
        self.paths = paths
        self.threads = threads
        self.precision = precision
        self.engine = engine
        self.fusion = fusion or FusionSettings()
        self.device = device
        self.dense_loading = dense_loading
        self.store = Store(paths.database, readonly=True)
        self._model = model
        self._extra_models = extra_models
        self._embedder = embedder
        self._lock = threading.RLock()  # the frontier and the chunk -> document map
        self._vectors_lock = threading.Lock()  # loading the vectors and catching them up
        self._model_lock = threading.Lock()  # loading the query model
        self.vectors: VectorIndex | None = None
        self._first_waiting: int | None = None  # oldest passage without a vector, as of the last refresh
        self._chunk_documents = ChunkDocuments()
        self._keyword = KeywordLeg(self.store, TopKReader(paths) if topk_index else None)
        self._dense = DenseLeg()
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
        """The query model, loaded on first use (the window loads it in a thread: :meth:`load_dense`)."""
        with self._model_lock:
            if self._embedder is None:
                from desktop_search.embed.embedder import Embedder

                assert self.spec is not None
                self._embedder = Embedder(self.spec, device=self.device, threads=self.threads,
                                          precision=self.query_precision()[0], engine=self.engine)
            settle(self._embedder)
            return self._embedder

    def query_precision(self) -> tuple[Precision, str | None]:
        """What queries are embedded in for this index (:func:`~desktop_search.embed.engine.follow_index`),
        and a one-line note when that differs from how its vectors were made."""
        recorded = self.store.get_meta(MetaKey.EMBEDDING_PRECISION) if self.manifest is not None else None
        return follow_index(self.precision, recorded, query=True)

    @property
    def dense_ready(self) -> bool:
        """Whether dense ranking can run without loading anything first."""
        return self.vectors is not None and self._embedder is not None

    def load_dense(self) -> None:
        """Load the vectors, then the query model; keyword queries on another thread go on meanwhile."""
        if self._catch_up(load_vectors=True):
            self.embedder  # noqa: B018 - the property loads the model

    def refresh(self) -> None:
        """Load the vectors, or add chunks committed since they were loaded."""
        self._catch_up(load_vectors=True)

    def _catch_up(self, load_vectors: bool) -> bool:
        """Take in passages committed since the last call: their documents, and their vectors if
        the vectors are loaded (or ``load_vectors``). False while the index records no model yet."""
        if not self._bind_manifest():
            return False
        assert self.manifest is not None
        with self._lock:
            first, top = self.store.embedding_frontier()
            self._first_waiting = first
            # Reading the whole map takes half a second at a million passages: keyword queries do
            # without it (looking up their hits) until dense ranking, which needs it, is wanted.
            if load_vectors or self._chunk_documents.loaded:
                self._chunk_documents.refresh(self.store, top)
        if self.vectors is None and not load_vectors:
            return True
        with self._vectors_lock:
            if self.vectors is None:
                self.vectors = VectorIndex.open(self.paths, self.store, self.manifest.dim, writable=False)
            elif (top if first is None else first - 1) > self.vectors.max_id:
                self.vectors.catch_up(self.store, apply_tombstones=False)
        return True

    def embedding_note(self) -> str | None:
        """One line for the user while passages still wait for their vectors; None when all have one."""
        self._catch_up(load_vectors=False)
        if self._first_waiting is None:
            return None
        embedded, total = self.store.embedding_counts()
        return (f"{total - embedded:,} of {total:,} passages are still being embedded; "
                "until then they are ranked by their keyword score alone.")

    def _documents_of(self, ids: Iterable[int]) -> dict[int, int]:
        """Chunk id -> document id for these passages: from the map once it is loaded, else from the store."""
        with self._lock:
            if self._chunk_documents.loaded:
                return self._chunk_documents.lookup(ids)
        return self.store.documents_of(ids)

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
        if mode != "keyword" and self.dense_loading == DenseLoading.BACKGROUND and not self.dense_ready:
            mode = "keyword"  # the vectors or the model are still loading: keyword answers until they are in
        self._catch_up(load_vectors=mode != "keyword")
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
        exact: frozenset[int] = frozenset()
        if mode in ("keyword", "hybrid") or (mode == "dense" and first_waiting is not None):
            hits = self._keyword.search(q, pool, self.fusion)
            keyword, exact = hits.ranking, hits.exact
        wants_dense = mode == "dense" or (mode == "hybrid" and not (unread and keyword))
        dense = self._dense.search(self.vectors, q, pool, lambda: self.embedder) if wants_dense else []
        # Passages without a vector yet: every id from the oldest waiting one up.
        waiting = frozenset() if first_waiting is None else frozenset(c for c, _ in keyword if c >= first_waiting)
        if mode == "dense" and keyword:
            keyword = [cs for cs in keyword if cs[0] in waiting]
            exact = frozenset()
        doc_of = self._documents_of({cid for cid, _ in dense} | {cid for cid, _ in keyword})
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
        return group_documents(self.store, scored, own, doc_of, phrases=q.phrases, top_k=top_k,
                               folders=folders, kinds=kinds, per_document=per_document)

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
        scored = near_passage(self.vectors, chunk_id, max(self.fusion.pool, top_k * 4))
        doc_of = self._documents_of(cid for cid, _ in scored)
        return group_documents(self.store, scored, scored, doc_of, phrases=(), top_k=top_k,
                               folders=folders, kinds=kinds, per_document=per_document)

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
            self._dense.prepare(texts, self.embedder)

    def context(self, result: SearchResult, span: int = 1) -> list[dict[str, Any]]:
        """The passage with its neighbours, for a preview."""
        return self.store.neighbours(result.document_id, result.ordinal, span)
