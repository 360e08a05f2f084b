"""Answering queries: dense (hnswlib), keyword (FTS5 bm25) and hybrid (fused).

The searcher opens the store read-only, so it works while another process
indexes; :meth:`Searcher.refresh` picks up chunks committed since it opened.
Passages are keyword-searchable before they have a vector (the index run
embeds them behind): dense and hybrid search rank those by their keyword
score alone, and :meth:`Searcher.embedding_note` says how many there are.
"""
from __future__ import annotations

import os
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from desktop_search.embed.models import ModelSpec, resolve_model
from desktop_search.errors import IndexMismatchError, UserFacingError
from desktop_search.language import CJK_CHARS, Lang, detect_query, korean_stem
from desktop_search.paths import DataPaths, library_path
from desktop_search.search.coverage import LanguageNotice, library_notice, query_notice
from desktop_search.search.terms import PER_DOCUMENT, STOPWORDS, WORD, format_location
from desktop_search.search.warmup import settle
from desktop_search.storage import Manifest, Store, VectorIndex

if TYPE_CHECKING:  # the model module sets offline defaults when imported; only its interface is needed here
    from desktop_search.embed.embedder import TextEmbedder

MODES = ("dense", "keyword", "hybrid")
_CJK_LANGS = (Lang.JAPANESE, Lang.CHINESE, Lang.KOREAN)
RRF_K = 60
_PHRASE = re.compile(r'"([^"]+)"')
_CJK = re.compile(f"[{CJK_CHARS}]")
_CJK_RUN = re.compile(f"[{CJK_CHARS}]+")


@dataclass
class SearchResult:
    """One ranked passage (a row); ``to_json`` is the CLI's stable contract.

    ``score`` is its document's score, so rows sort by document;
    ``passage_score`` is the passage's own.
    """

    rank: int
    score: float
    path: str
    title: str | None
    page: int | None
    section: str | None
    text: str
    page_label: str | None = None
    href: str | None = None
    author: str | None = None
    kind: str | None = None
    chunk_id: int = 0
    document_id: int = 0
    ordinal: int = 0
    char_start: int = 0
    char_end: int = 0
    query_id: str | None = None
    doc_rank: int = 0
    passage_score: float = 0.0
    ocr: bool = False  # the passage was read by OCR from a scanned page

    @property
    def location(self) -> str:
        """"p. 12", "p. xii (12)" or the chapter, for display."""
        return format_location(self.page, self.page_label, self.section)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.query_id is None:
            data.pop("query_id")
        return data


@dataclass
class DocumentResult:
    """One document in a ranking: its best passage first, then its other hits, best first."""

    rank: int
    passages: list[SearchResult]

    @property
    def best(self) -> SearchResult:
        return self.passages[0]


def flatten(documents: Sequence[DocumentResult]) -> list[SearchResult]:
    """The rows of a grouped ranking: one document's passages together, ``rank`` counting rows."""
    rows = [p for d in documents for p in d.passages]
    for i, r in enumerate(rows, 1):
        r.rank = i
    return rows


@dataclass(frozen=True)
class ParsedQuery:
    text: str  # the query without quote marks, for embedding
    phrases: tuple[str, ...]  # "quoted phrases" that must match exactly
    words: tuple[str, ...]


def parse_query(query: str) -> ParsedQuery:
    query = unicodedata.normalize("NFKC", query).strip()
    phrases = tuple(p.strip() for p in _PHRASE.findall(query) if p.strip())
    return ParsedQuery(text=query.replace('"', " ").strip(), phrases=phrases, words=tuple(WORD.findall(query.lower())))


def _quote(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def keyword_terms(q: ParsedQuery, stopwords: bool = True) -> tuple[str, ...]:
    """The words worth matching: distinct, stopwords dropped unless nothing else is left."""
    words = q.words
    if stopwords:
        words = tuple(w for w in words if w not in STOPWORDS) or words
    return tuple(dict.fromkeys(words))


def trigram_terms(q: ParsedQuery) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(terms for the trigram index, CJK terms too short for it).

    Runs of CJK characters have no spaces between words, so a long run is cut
    into overlapping three-character pieces and bm25 ranks passages by how
    many of them they contain; one- and two-character runs go to the n-gram
    index. A Korean word also searches for its stem without the particle
    (신씨의 -> 신씨), so the same name with another particle matches.
    """
    long: list[str] = []
    short: list[str] = []

    def add(run: str) -> None:
        if len(run) < 3:
            short.append(run)
        else:
            long.extend(run[i : i + 3] for i in range(len(run) - 2))

    for word in q.words:
        pos = 0
        for m in _CJK_RUN.finditer(word):
            latin = word[pos : m.start()]
            if len(latin) >= 3:
                long.append(latin)
            run = m.group()
            add(run)
            stem = korean_stem(run)
            if stem:
                add(stem)
            pos = m.end()
        if len(word) - pos >= 3:
            long.append(word[pos:])
    return tuple(dict.fromkeys(long)), tuple(dict.fromkeys(short))


def fts_match(q: ParsedQuery, trigram: bool = False, stopwords: bool = True) -> str | None:
    """An FTS5 MATCH expression: any term (bm25 ranks), all quoted phrases."""
    if trigram:
        terms = trigram_terms(q)[0]
        phrases = tuple(p for p in q.phrases if len(p) >= 3)
    else:
        terms = keyword_terms(q, stopwords)
        phrases = q.phrases
    ors = " OR ".join(_quote(w) for w in terms)
    ands = " AND ".join(_quote(p) for p in phrases)
    if ands and ors:
        return f"({ors}) AND {ands}"
    return ands or ors or None


@dataclass(frozen=True)
class FusionSettings:
    """How the searcher builds candidate lists and fuses them in hybrid mode.

    The defaults were tuned on the SciFact train split with
    ``benchmarks/retrieval_eval.py``; the test split only reports.
    """

    method: str = "convex"  # "convex" (min-max normalised scores) or "rrf" (reciprocal rank)
    level: str = "document"  # fuse each document's best passage, or raw passages ("chunk")
    rrf_k: float = RRF_K
    dense_weight: float = 0.5  # the dense ranking's share; keyword gets the rest
    # Passages asked of each ranking (at least 4 x top_k). 500 and function
    # words dropped from keyword queries: SciFact train hybrid nDCG@10 0.7412
    # against 0.7394 for 1000 with them kept, at 63 queries/s against 23
    # (a word in every passage makes bm25 score every passage).
    pool: int = 500
    stopwords: bool = True
    exact_first: bool = True  # passages holding the whole query as a phrase rank first
    # Queries in Chinese, Japanese or Korean, with a model that reads them:
    # tuned on the JSQuAD library (benchmarks/multilingual_eval.py), where
    # passage-level fusion with more trust in dense lifted hybrid above both
    # legs; the settings above (SciFact, English) are left as they were.
    cjk_level: str = "chunk"
    cjk_dense_weight: float = 0.7

    def for_query(self, lang: Lang | None) -> FusionSettings:
        """The settings to fuse a query in ``lang`` with."""
        if lang in _CJK_LANGS:
            return replace(self, level=self.cjk_level, dense_weight=self.cjk_dense_weight)
        return self

    @classmethod
    def parse(cls, spec: str) -> FusionSettings:
        """``"method=convex,dense_weight=0.6"`` -> settings (for benchmarks and tuning)."""
        kinds = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            key, _, raw = part.partition("=")
            if key not in kinds:
                raise UserFacingError(f"Unknown fusion setting {key!r}; known: {', '.join(kinds)}.")
            kind = kinds[key]
            if kind == "bool":
                values[key] = raw.lower() in ("1", "true", "yes", "on")
            elif kind in ("int", "float"):
                values[key] = float(raw) if kind == "float" else int(raw)
            else:
                values[key] = raw
        return cls(**values)


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
            settle(self._embedder)
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
        if not _CJK.search(q.text):
            match = fts_match(q, stopwords=self.fusion.stopwords)
            hits = self.store.keyword_search(match, k) if match else []
            if hits:
                exact: set[int] = set()
                if self.fusion.exact_first and not q.phrases and len(q.words) >= 4:
                    exact = {cid for cid, _ in self.store.keyword_search(_quote(" ".join(q.words)), k)}
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


def _contributions(ranking: Sequence[tuple[Any, float]], fusion: FusionSettings) -> dict[Any, float]:
    """Each item's share from one ranking: 1/(k+rank), or its score scaled to 0..1."""
    if fusion.method == "rrf":
        return {key: 1.0 / (fusion.rrf_k + rank + 1) for rank, (key, _s) in enumerate(ranking)}
    if fusion.method != "convex":
        raise UserFacingError(f"Unknown fusion method {fusion.method!r}; use rrf or convex.")
    if not ranking:
        return {}
    scores = [s for _, s in ranking]
    lo, hi = min(scores), max(scores)
    span = hi - lo
    return {key: (s - lo) / span if span > 0 else 1.0 for key, s in ranking}


def _best_per_document(ranking: Sequence[tuple[int, float]], doc_of: dict[int, int]) -> list[tuple[int, float]]:
    """(document id, score of its best passage), in the ranking's order."""
    out: dict[int, float] = {}
    for cid, score in ranking:
        doc = doc_of.get(cid)
        if doc is not None and doc not in out:
            out[doc] = score
    return list(out.items())


def fuse(
    rankings: Sequence[Sequence[tuple[int, float]]],
    weights: Sequence[float],
    doc_of: dict[int, int],
    fusion: FusionSettings,
    keyword_only: frozenset[int] = frozenset(),
) -> list[tuple[int, float]]:
    """Weighted fusion of rankings of chunk ids, best first (see :func:`fuse_levels`)."""
    return fuse_levels(rankings, weights, doc_of, fusion, keyword_only)[0]


def fuse_levels(
    rankings: Sequence[Sequence[tuple[int, float]]],
    weights: Sequence[float],
    doc_of: dict[int, int],
    fusion: FusionSettings,
    keyword_only: frozenset[int] = frozenset(),
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(the fused ranking at ``fusion.level``, the passages' own fused ranking), from one pass.

    Weighted fusion of rankings of chunk ids, best first.

    At document level each ranking first shrinks to one entry per document
    (its best passage), so a document with many middling passages cannot
    outvote one with a single good one; passages are then ordered by their
    document's fused score, and within a document by their own.

    ``keyword_only`` are passages with no vector yet: they score their share
    of the last ranking (keyword) alone, not marked down for missing from
    the others; so are documents that have such a passage and no dense hit.
    """
    def combine(lists: Sequence[Sequence[tuple[Any, float]]], solo: set[Any] | frozenset[Any]) -> dict[Any, float]:
        total: dict[Any, float] = {}
        shares = [_contributions(ranking, fusion) for ranking in lists]
        for share, weight in zip(shares, weights, strict=True):
            for key, value in share.items():
                total[key] = total.get(key, 0.0) + weight * value
        for key in solo:
            if key in shares[-1]:
                total[key] = shares[-1][key]
        return total

    by_chunk = combine(rankings, keyword_only)
    own = sorted(by_chunk.items(), key=lambda kv: kv[1], reverse=True)
    if fusion.level == "chunk":
        return own, own
    solo_docs: set[int] = set()
    if keyword_only:
        with_vectors = {doc_of.get(cid) for ranking in rankings[:-1] for cid, _ in ranking}
        solo_docs = {doc_of[cid] for cid in keyword_only if cid in doc_of} - with_vectors
    by_doc = combine([_best_per_document(r, doc_of) for r in rankings], solo_docs)
    keyed = [(cid, by_doc[doc_of[cid]], s) for cid, s in by_chunk.items() if cid in doc_of]
    keyed.sort(key=lambda t: (t[1], t[2]), reverse=True)
    return [(cid, doc_score) for cid, doc_score, _s in keyed], own


def rrf(rankings: Sequence[Sequence[tuple[int, float]]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Plain reciprocal rank fusion of several rankings of chunk ids."""
    fusion = FusionSettings(method="rrf", level="chunk", rrf_k=k)
    return fuse(rankings, [1.0] * len(rankings), {}, fusion)
