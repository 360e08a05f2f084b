"""SQLite metadata store, accessed through SQLAlchemy Core.

WAL mode lets searches read while one indexer writes. Every document is
written in a transaction together with its chunks and their full-text rows,
so a kill -9 leaves either the old or the new document, never half of one.
Embeddings come later, in transactions of their own (``store_embeddings``):
a passage with a NULL embedding is keyword-searchable and waits, oldest
first, for the embedding stream, in this run or the next.

:class:`Store` is composed of one mixin per table group, each in its own
module over the typed base :class:`~desktop_search.storage.connection.StoreBase`
(the engine, ``_write()`` and the manifest):

- ``folders``: library folders and their patterns;
- ``documents``: committing, moving and deleting files' rows;
- ``passages``: the embedding queue, the vector feed and passages read back;
- ``keyword_index``: the full-text tables;
- ``reporting``: counts for the library summary;
- ``reembed``: passages due for a new vector, and how the vectors were made.

Opening a file and bringing an older format up to date is ``upgrade`` (its
steps are in ``migrations``); the records
that cross the boundary are in ``records``. Mixins rather than a facade
holding per-table objects: every caller keeps calling ``store.method()`` on
one object, each method is written once where its table group lives (a
facade would repeat some forty signatures as forwarders), and the groups
share one engine and one write transaction through the base, not by passing
it around.
"""
from __future__ import annotations

from desktop_search.storage.documents import DocumentsMixin
from desktop_search.storage.folders import FoldersMixin
from desktop_search.storage.keyword_index import KeywordIndexMixin
from desktop_search.storage.passages import PassagesMixin
from desktop_search.storage.reembed import ReembedMixin
from desktop_search.storage.reporting import ReportingMixin


class Store(FoldersMixin, DocumentsMixin, PassagesMixin, KeywordIndexMixin, ReportingMixin, ReembedMixin):
    """The metadata database of one data dir."""
