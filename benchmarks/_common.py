"""Helpers shared by the benchmark scripts (not part of the package)."""
from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.conftest import SCIFACT  # corpus paths live in one place

LIBRARY = SCIFACT / "library"


def library_files(n: int | None) -> list[Path]:
    """The first ``n`` SciFact library files (all with None), in a stable order."""
    files = sorted(p for p in LIBRARY.rglob("*") if p.suffix in (".pdf", ".epub"))
    return files if n is None else files[:n]


def link_library(files: list[Path], folder: Path) -> Path:
    """A folder of symlinks to ``files``: a library slice without copying the corpus."""
    folder.mkdir(parents=True, exist_ok=True)
    for p in files:
        os.symlink(p.resolve(), folder / p.name)
    return folder


def percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)

    def pct(p: float) -> float:
        return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]

    return {"p50": pct(50), "p95": pct(95), "mean": statistics.fmean(s), "n": float(len(s))}


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def machine_note() -> str:
    try:
        load = os.getloadavg()
        return f"{os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (shared machine)"
    except OSError:
        return f"{os.cpu_count()} cores"


def sqlite_ro(db: Path) -> closing[sqlite3.Connection]:
    """A read-only connection to an index's database, closed at the end of the ``with``."""
    return closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True))
