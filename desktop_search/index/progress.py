"""Progress of long work, as plain data both front ends render.

An index run has two counts that move at their own pace: files read (their
text committed, so keyword-searchable) and passages embedded (semantic search
finds them). Each has its rate and ETA.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)

# A published progress older than this belongs to a run that was killed.
STALE_AFTER_S = 30.0


class Phase(StrEnum):
    """Where a run is; a str, so logs and older callers read it as the bare word."""

    SCANNING = "scanning"
    LOADING_MODEL = "loading model"
    INDEXING = "indexing"
    SAVING = "saving"
    DONE = "done"


@dataclass
class Progress:
    phase: Phase  # scanning | indexing | saving | done
    files_done: int = 0  # read and committed: keyword-searchable
    files_total: int = 0
    chunks_done: int = 0  # passages embedded this run
    chunks_per_s: float = 0.0
    eta_s: float | None = None  # until every passage is embedded (the end of the run)
    current: str | None = None
    failed: int = 0
    chunks_total: int = 0  # passages to embed, as far as known (grows while files are read)
    files_per_s: float = 0.0
    files_eta_s: float | None = None  # until every file is keyword-searchable
    ocr_pages: int = 0  # scanned pages read by OCR so far
    ocr_pages_per_s: float = 0.0

    def __post_init__(self) -> None:
        self.phase = Phase(self.phase)

    def line(self) -> str:
        """One line for a terminal status bar."""
        if self.phase != Phase.INDEXING:
            return f"{self.phase}…"
        ocr = f" | OCR {self.ocr_pages} pages {self.ocr_pages_per_s:.1f} pages/s" if self.ocr_pages else ""
        return self.counts() + ocr

    def counts(self) -> str:
        """Files read and passages embedded, each with its rate and ETA."""
        pct = 100.0 * self.files_done / self.files_total if self.files_total else 100.0
        fails = f" {self.failed} failed" if self.failed else ""
        return (
            f"read {self.files_done}/{self.files_total} files ({pct:4.1f}%) {self.files_per_s:5.1f}/s "
            f"ETA {_eta(self.files_eta_s)}{fails} | embedded {self.chunks_done}/{self.chunks_total} passages "
            f"{self.chunks_per_s:6.1f}/s ETA {_eta(self.eta_s)}"
        )


def save_progress(path: Path, p: Progress) -> None:
    """Publish a running index's progress for `status` (best effort)."""
    from desktop_search.storage.files import atomic_write_bytes

    data = dict(dataclasses.asdict(p), updated=time.time())
    try:
        atomic_write_bytes(path, json.dumps(data).encode("utf-8"))
    except OSError as exc:
        logger.debug("Cannot write %s: %s", path, exc)


def load_progress(path: Path, max_age_s: float = STALE_AFTER_S) -> Progress | None:
    """A running index's last published progress; None when there is none or it is stale (a killed run)."""
    try:
        data = json.loads(path.read_bytes())
        if time.time() - float(data.pop("updated")) > max_age_s:
            return None
        return Progress(**data)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _eta(seconds: float | None) -> str:
    return format_duration(seconds) if seconds is not None else "--:--"


def format_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class RunCounts(Protocol):
    """What an index run has done so far (``index_streams.Counts``)."""

    files_done: int
    passages_committed: int
    embedded: int
    waiting_at_start: int
    failed: int
    embedding_since: float | None


class RateMeter:
    """Rates and ETAs of both counts from the work done since ``start``."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def update(self, p: Progress, counts: RunCounts) -> Progress:
        now = time.monotonic()
        elapsed = max(now - self.start, 1e-6)
        p.files_done, p.failed, p.chunks_done = counts.files_done, counts.failed, counts.embedded
        p.chunks_total = counts.waiting_at_start + counts.passages_committed
        p.files_per_s = p.files_done / elapsed
        p.files_eta_s = (p.files_total - p.files_done) / p.files_per_s if p.files_done else None
        # The embedding rate counts from the first batch given to the model, not the model load.
        embedding_for = now - counts.embedding_since if counts.embedding_since is not None else 0.0
        p.chunks_per_s = p.chunks_done / embedding_for if p.chunks_done and embedding_for > 0 else 0.0
        # Passages still to come from unread files, at this run's passages per file.
        per_file = counts.passages_committed / p.files_done if p.files_done else 0.0
        expected = p.chunks_total + per_file * (p.files_total - p.files_done)
        p.eta_s = (expected - p.chunks_done) / p.chunks_per_s if p.chunks_per_s > 0 else None
        p.ocr_pages_per_s = p.ocr_pages / elapsed
        return p
