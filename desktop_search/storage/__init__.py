"""Persistent state: SQLite metadata (through SQLAlchemy) and the hnswlib index.

SQLite is the source of truth, embeddings included; the hnsw file and a big
library's top-k index (``topk_index``) are caches that are brought up to
date, or rebuilt, from it.
"""
from __future__ import annotations

from desktop_search.storage.database import Store
from desktop_search.storage.records import Manifest
from desktop_search.storage.vectors import VectorIndex

__all__ = ["Manifest", "Store", "VectorIndex"]
