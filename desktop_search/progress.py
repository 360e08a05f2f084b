"""Progress of long work, as plain data both front ends render."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import StrEnum

logger = logging.getLogger(__name__)


class Phase(StrEnum):
    """Where a run is; a str, so logs and older callers read it as the bare word."""

    SCANNING = "scanning"
    LOADING_MODEL = "loading model"
    INDEXING = "indexing"
    SAVING = "saving"
    DONE = "done"


@dataclass
class Progress:
    phase: Phase
    files_done: int = 0
    files_total: int = 0
    chunks_done: int = 0
    chunks_per_s: float = 0.0
    eta_s: float | None = None
    current: str | None = None
    failed: int = 0
    ocr_pages: int = 0  # scanned pages read by OCR so far
    ocr_pages_per_s: float = 0.0

    def __post_init__(self) -> None:
        self.phase = Phase(self.phase)

    def line(self) -> str:
        """One line for a terminal status bar."""
        if self.phase != "indexing":
            return f"{self.phase}…"
        pct = 100.0 * self.files_done / self.files_total if self.files_total else 100.0
        eta = format_duration(self.eta_s) if self.eta_s is not None else "--:--"
        fails = f" {self.failed} failed" if self.failed else ""
        ocr = f" | OCR {self.ocr_pages} pages {self.ocr_pages_per_s:.1f} pages/s" if self.ocr_pages else ""
        return (
            f"{self.files_done}/{self.files_total} files ({pct:4.1f}%) "
            f"{self.chunks_done} chunks {self.chunks_per_s:6.1f} chunks/s ETA {eta}{fails}{ocr}"
        )


def format_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class RateMeter:
    """Chunks/s and ETA from the work done since ``start``."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def update(self, p: Progress) -> Progress:
        elapsed = max(time.monotonic() - self.start, 1e-6)
        p.chunks_per_s = p.chunks_done / elapsed
        p.ocr_pages_per_s = p.ocr_pages / elapsed
        if p.files_done:
            p.eta_s = (p.files_total - p.files_done) * elapsed / p.files_done
        return p
