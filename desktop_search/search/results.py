"""What a search returns: ranked passages (rows) grouped into documents.

Kept free of heavy imports, like :mod:`desktop_search.search.terms`: the
front ends name these types before the index or the model has loaded.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from desktop_search.search.terms import format_location


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
