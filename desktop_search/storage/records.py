"""What crosses the store's boundary: the manifest, the records the indexer
commits and the rows it reads back.

Plain dataclasses with no database handle, so the pipeline can build and pass
them between threads and the store's table groups can share one vocabulary.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from desktop_search.failures import FailureCode
from desktop_search.language import Lang
from desktop_search.storage import schema
from desktop_search.storage.schema import DocStatus


@dataclass(frozen=True)
class Manifest:
    """What the vectors mean. A mismatch means the index must be rebuilt."""

    model_id: str
    dim: int
    pooling: str
    max_tokens: int
    overlap_tokens: int
    title_prefix: bool
    passage_prefix: str = ""
    query_prefix: str = ""
    schema_version: int = schema.SCHEMA_VERSION

    def differences(self, other: Manifest) -> list[str]:
        mine, theirs = asdict(self), asdict(other)
        return [f"{k}: index has {mine[k]!r}, requested {theirs[k]!r}" for k in mine if mine[k] != theirs[k]]


@dataclass
class ChunkRecord:
    """A chunk ready to store: text, location and its embedding (None: embedded later)."""

    ordinal: int
    text: str
    char_start: int
    char_end: int
    page: int | None = None
    page_label: str | None = None
    section: str | None = None
    href: str | None = None
    embedding: np.ndarray | None = None
    ocr: bool = False  # read by OCR from a scanned page


@dataclass
class DocumentRecord:
    """One file's outcome from a pipeline run, ready to commit."""

    path: str
    folder_id: int
    kind: str
    size: int
    mtime_ns: int
    hash: str
    title: str | None
    author: str | None
    status: DocStatus
    error: str | None = None
    pages: int | None = None
    chunks: list[ChunkRecord] = field(default_factory=list)
    attempts: int = 1  # consecutive failed reads, to stop retrying a file that always fails
    failure: FailureCode | None = None  # why it failed, or why an indexed file was partly read; decides retries
    lang: Lang | None = None  # the main writing system of its text
    # language.substring_words of its passages, when the reader worked them out (the main process does otherwise)
    words: list[str] | None = None
    first_chunk_id: int | None = None  # set by Store.commit_documents: its passages have the ids from here on


@dataclass(frozen=True)
class KnownDocument:
    """A stored document as a rescan compares it with the file on disk."""

    id: int
    path: str
    folder_id: int
    size: int
    mtime_ns: int
    hash: str
    status: DocStatus
    error: str | None = None
    attempts: int = 1
    failure: FailureCode | None = None


@dataclass(frozen=True)
class PendingChunk:
    """A stored passage waiting for its vector, with what its embedding input needs."""

    id: int
    text: str
    title: str | None
