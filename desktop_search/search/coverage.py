"""Whether the embedding model can read the library and the query, and what to say if not.

An English-only model turns Japanese into ``[UNK]`` and Hangul into jamo:
its dense ranking is noise there. The searcher then leans on keyword search,
and the front ends tell the user which model would read the text.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from desktop_search.embed.models import ModelSpec, multilingual_model_name
from desktop_search.language import Lang, detect_query


class NoticeScope(str, Enum):
    LIBRARY = "library"
    QUERY = "query"


@dataclass(frozen=True)
class LanguageNotice:
    """The library or a query is mostly in a writing system the model does not read."""

    scope: NoticeScope
    lang: Lang
    model: str
    suggested: str  # a catalogue model that reads it

    @property
    def message(self) -> str:
        what = "Most of the library" if self.scope is NoticeScope.LIBRARY else "This search"
        return (
            f"{what} is {self.lang.label} text, which the model {self.model} does not read, so results come from "
            f"keyword search only. For better results use a multilingual model: "
            f"`desktop-search models get {self.suggested}`, then `desktop-search --model {self.suggested} index --rebuild`."
        )


def _unread_majority(spec: ModelSpec, counts: Mapping[Lang | None, int]) -> Lang | None:
    """The writing system the model does not read that more than half of ``counts`` is in."""
    total = sum(n for lang, n in counts.items() if lang is not None)
    if not total:
        return None
    lang, n = max(((lang, n) for lang, n in counts.items() if lang is not None), key=lambda ln: ln[1])
    return lang if n * 2 > total and not spec.reads(lang) else None


def library_notice(spec: ModelSpec, counts: Mapping[Lang | None, int]) -> LanguageNotice | None:
    """A notice when most indexed documents are in a writing system the model does not read."""
    lang = _unread_majority(spec, counts)
    return LanguageNotice(NoticeScope.LIBRARY, lang, spec.id, multilingual_model_name()) if lang else None


def query_notice(spec: ModelSpec, queries: Iterable[str]) -> LanguageNotice | None:
    """A notice when most of ``queries`` are in a writing system the model does not read."""
    counts: dict[Lang | None, int] = {}
    for query in queries:
        lang = detect_query(query)
        counts[lang] = counts.get(lang, 0) + 1
    lang = _unread_majority(spec, counts)
    return LanguageNotice(NoticeScope.QUERY, lang, spec.id, multilingual_model_name()) if lang else None
