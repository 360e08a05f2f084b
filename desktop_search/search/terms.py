"""Query words and passage locations, written one way for the CLI, the cards and the preview.

Kept free of heavy imports: the window's result cards use it before the
index (SQLAlchemy, hnswlib) or the model (torch) have loaded.
"""
from __future__ import annotations

import unicodedata

from desktop_search.language import WORD

PER_DOCUMENT = 3  # passages shown per document (the best, and further hits) unless asked otherwise


# Function words that only add noise to an OR query ranked by bm25, and are not
# worth a highlight. Keyword search keeps them when the query has nothing else,
# and always inside "quoted phrases".
STOPWORDS = frozenset(
    "a about above after again against all also am an and any are as at be because been before being below "
    "between both but by can could did do does doing down during each few for from further had has have having "
    "he her here hers him his how i if in into is it its itself just me more most my no nor not now of off on "
    "once only or other our ours out over own same she should so some such than that the their theirs them then "
    "there these they this those through to too under until up very was we were what when where which while who "
    "whom why will with would you your yours".split()
)


def words(text: str) -> list[str]:
    """The lower-cased words of ``text`` (NFKC-normalised, so full-width forms match)."""
    return WORD.findall(unicodedata.normalize("NFKC", text).lower())


def highlight_terms(query: str) -> list[str]:
    """The query's words worth highlighting, longest first (so overlaps prefer them)."""
    return sorted({w for w in words(query) if w not in STOPWORDS}, key=len, reverse=True)


def format_location(page: int | None, page_label: str | None = None, section: str | None = None) -> str:
    """"p. 12", "p. xii (12)" or "ch. <chapter title>": where a passage is, as every view says it."""
    if page is not None:
        return f"p. {page_label} ({page})" if page_label and page_label != str(page) else f"p. {page}"
    return f"ch. {section}" if section else "—"
