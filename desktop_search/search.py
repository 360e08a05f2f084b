"""Answering queries: dense (hnswlib), keyword (FTS5 bm25) and hybrid (RRF).

The searcher opens the store read-only, so it works while another process
indexes; :meth:`Searcher.refresh` picks up chunks committed since it opened.
"""
from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


from desktop_search.errors import IndexMismatchError, UserFacingError
from desktop_search.models import ModelSpec, resolve_model
from desktop_search.paths import DataPaths
from desktop_search.storage import Store, VectorIndex

logger = logging.getLogger(__name__)

MODES = ("dense", "keyword", "hybrid")
RRF_K = 60
FETCH_FIRST = 4  # rows fetched first per result wanted; more only if filters drop them
_PHRASE = re.compile(r'"([^"]+)"')
_WORD = re.compile(r"\w+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


@dataclass
class SearchResult:
    """One ranked passage; ``to_json`` is the CLI's stable contract."""

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

    @property
    def location(self) -> str:
        """"p. 12", "p. xii (12)" or the chapter title, for display."""
        if self.page is not None:
            return f"p. {self.page_label} ({self.page})" if self.page_label else f"p. {self.page}"
        return self.section or "—"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.query_id is None:
            data.pop("query_id")
        return data


@dataclass(frozen=True)
class ParsedQuery:
    text: str  # the query without quote marks, for embedding
    phrases: tuple[str, ...]  # "quoted phrases" that must match exactly
    words: tuple[str, ...]


def parse_query(query: str) -> ParsedQuery:
    query = unicodedata.normalize("NFKC", query).strip()
    phrases = tuple(p.strip() for p in _PHRASE.findall(query) if p.strip())
    return ParsedQuery(text=query.replace('"', " ").strip(), phrases=phrases, words=tuple(_WORD.findall(query.lower())))


def fts_match(q: ParsedQuery, trigram: bool = False) -> str | None:
    """An FTS5 MATCH expression: any word (bm25 ranks), all quoted phrases."""
    def quote(s: str) -> str:
        return '"' + s.replace('"', '""') + '"'

    if trigram:
        terms = [w for w in q.words if len(w) >= 3]
        ors = " OR ".join(quote(w) for w in terms)
    else:
        ors = " OR ".join(quote(w) for w in q.words)
    ands = " AND ".join(quote(p) for p in q.phrases)
    if ands and ors:
        return f"({ors}) AND {ands}"
    return ands or ors or None


class Searcher:
    """Keeps the model and the vectors loaded across queries."""

    def __init__(
        self,
        paths: DataPaths,
        model: str | None = None,
        extra_models: Sequence[str] = (),
        device: str = "auto",
        embedder: Any | None = None,
    ) -> None:
        self.paths = paths
        self.device = device
        self.store = Store(paths.database, readonly=True)
        self.manifest = self.store.manifest()
        self._embedder = embedder
        self._lock = threading.RLock()
        self.vectors: VectorIndex | None = None
        self.spec: ModelSpec | None = None
        if self.manifest is not None:
            self.spec = resolve_model(model or self.manifest.model_id, extra_models)
            if self.spec.id != self.manifest.model_id or self.spec.dim != self.manifest.dim:
                raise IndexMismatchError(
                    f"This index was built with {self.manifest.model_id} (dimension {self.manifest.dim}), "
                    f"not {self.spec.id}. Search with that model, or rebuild the index with `index --rebuild`."
                )

    def close(self) -> None:
        self.store.close()

    @property
    def embedder(self) -> Any:
        """The query model, loaded on first use (the GUI preloads it in a thread)."""
        with self._lock:
            if self._embedder is None:
                from desktop_search.embedding import Embedder

                assert self.spec is not None
                self._embedder = Embedder(self.spec, device=self.device)
            return self._embedder

    def refresh(self) -> None:
        """Load the vectors, or add chunks committed since they were loaded."""
        if self.manifest is None:
            self.manifest = self.store.manifest()
            if self.manifest is None:
                return
        with self._lock:
            if self.vectors is None:
                self.vectors = VectorIndex.open(self.paths, self.store, self.manifest.dim, writable=False)
            elif self.store.max_chunk_id() > self.vectors.max_id:
                self.vectors.catch_up(self.store, apply_tombstones=False)

    # -- searching -----------------------------------------------------------------

    def search(
        self,
        query: str,
        top_k: int = 10,
        mode: str = "hybrid",
        folders: Sequence[str] = (),
        kinds: Sequence[str] = (),
        per_document: int = 1,
    ) -> list[SearchResult]:
        """Ranked passages; at most ``per_document`` from any one document."""
        if mode not in MODES:
            raise UserFacingError(f"Unknown search mode {mode!r}; use one of {', '.join(MODES)}.")
        q = parse_query(query)
        if not q.text or self.manifest is None:
            return []
        self.refresh()
        pool = max(100, top_k * 20)
        ranked: list[list[tuple[int, float]]] = []
        if mode in ("dense", "hybrid"):
            ranked.append(self._dense(q, pool))
        if mode in ("keyword", "hybrid"):
            ranked.append(self._keyword(q, pool))
        if mode == "hybrid":
            scored = rrf(ranked)
        else:
            scored = ranked[0]
        return self._materialise(scored, q, top_k, folders, kinds, per_document)

    def _dense(self, q: ParsedQuery, k: int) -> list[tuple[int, float]]:
        if self.vectors is None:
            return []
        vec = self.embedder.encode_queries([q.text])[0]
        ids, scores = self.vectors.search(vec, k)
        return list(zip(ids.tolist(), scores.tolist()))

    def _keyword(self, q: ParsedQuery, k: int) -> list[tuple[int, float]]:
        if _CJK.search(q.text):
            match = fts_match(q, trigram=True)
            return self.store.keyword_search(match, k, trigram=True) if match else []
        match = fts_match(q)
        return self.store.keyword_search(match, k) if match else []

    def _materialise(
        self, scored: list[tuple[int, float]], q: ParsedQuery, top_k: int,
        folders: Sequence[str], kinds: Sequence[str], per_document: int,
    ) -> list[SearchResult]:
        # Fetch rows in rank order, a slice at a time: most queries need only the
        # first few dozen of the hundreds of candidates (their text is the cost).
        rows: dict[int, dict[str, Any]] = {}
        fetched = 0
        folder_prefixes = [str(Path(f).expanduser().absolute()).rstrip("/") + "/" for f in folders]
        per_doc: dict[int, int] = {}
        out: list[SearchResult] = []
        for i, (cid, score) in enumerate(scored):
            if i >= fetched:
                step = max(FETCH_FIRST * top_k, fetched, 16)
                rows.update(self.store.fetch_chunks(c for c, _ in scored[fetched : fetched + step]))
                fetched += step
            row = rows.get(cid)
            if row is None:
                continue  # deleted since the vectors were loaded
            if kinds and row["kind"] not in kinds:
                continue
            if folder_prefixes and not any(row["path"].startswith(p) for p in folder_prefixes):
                continue
            if q.phrases and not all(p.lower() in row["text"].lower() for p in q.phrases):
                continue
            if per_document and per_doc.get(row["document_id"], 0) >= per_document:
                continue
            per_doc[row["document_id"]] = per_doc.get(row["document_id"], 0) + 1
            out.append(
                SearchResult(
                    rank=len(out) + 1, score=float(score), path=row["path"], title=row["title"], page=row["page"],
                    section=row["section"], text=row["text"], page_label=row["page_label"], href=row["href"],
                    author=row["author"], kind=row["kind"], chunk_id=cid, document_id=row["document_id"],
                    ordinal=row["ordinal"], char_start=row["char_start"], char_end=row["char_end"],
                )
            )
            if len(out) >= top_k:
                break
        return out

    def context(self, result: SearchResult, span: int = 1) -> list[dict[str, Any]]:
        """The passage with its neighbours, for a preview."""
        return self.store.neighbours(result.document_id, result.ordinal, span)


def rrf(rankings: Sequence[Sequence[tuple[int, float]]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of several rankings of chunk ids."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, (cid, _s) in enumerate(ranking):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
