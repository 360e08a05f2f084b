"""Index runs as the steps measure them: timed and stoppable, or built once and reused."""
from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_search.embed.embedder import TextEmbedder
from desktop_search.index.indexer import Indexer, IndexOptions, IndexReport, _default_workers
from desktop_search.index.progress import Phase, Progress
from desktop_search.ingest.pool import ExtractorPool
from desktop_search.paths import DataPaths, resolve_data_dir
from gpu.harness import Context


@dataclass
class TimedRun:
    report: IndexReport
    wall_s: float
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, passages stored)

    @property
    def rate(self) -> float:
        """Passages per second over the whole run: crawl, model already loaded, save."""
        return self.report.chunks / self.wall_s if self.wall_s else 0.0

    @property
    def steady_rate(self) -> float:
        """Passages per second from the first stored batch to the last."""
        pts = [p for p in self.timeline if p[1] > 0]
        if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
            return self.rate
        return (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])


def timed_index(paths: DataPaths, options: IndexOptions, embedder: TextEmbedder, folders: Sequence[Path],
                seconds: float | None) -> TimedRun:
    """A cold index of ``folders``, stopped like a first Ctrl-C after ``seconds``."""
    cancel = threading.Event()
    timer = threading.Timer(seconds, cancel.set) if seconds else None
    t0 = time.monotonic()
    timeline: list[tuple[float, int]] = []

    def on_progress(p: Progress) -> None:
        if p.phase == Phase.INDEXING:
            timeline.append((time.monotonic() - t0, p.chunks_done))

    indexer = Indexer(paths, options, embedder=embedder, on_progress=on_progress, cancel=cancel)
    if timer:
        timer.start()
    try:
        report = indexer.run(add=[str(f) for f in folders])
    finally:
        if timer:
            timer.cancel()
    return TimedRun(report, time.monotonic() - t0, timeline)


def default_workers_of(device: str) -> int:
    """The extraction workers an index run on ``device`` (as IndexOptions.device) gets when not told."""
    return _default_workers(IndexOptions(device=device)) or ExtractorPool().n_workers


def index_once(ctx: Context, name: str, device: str, library: Path) -> tuple[DataPaths, dict[str, Any]]:
    """An index of ``library`` in ``work/name`` on ``device``, built unless an earlier step left it there."""
    paths = resolve_data_dir(ctx.work / name)
    if paths.database.exists():
        return paths, {"reused": True}
    t0 = time.perf_counter()
    # The CPU reference is fp32, whatever the host CPU's bf16 support.
    options = IndexOptions(model=ctx.model, device=device, precision="fp32" if device == "cpu" else "auto")
    report = Indexer(paths, options).run(add=[str(library)])
    seconds = time.perf_counter() - t0
    print(f"  {name}: {report.added} files, {report.chunks} passages, {len(report.failed)} failed, on {device}, "
          f"{seconds:.1f} s (model load included)", flush=True)
    return paths, {"files": report.added, "passages": report.chunks, "failed": len(report.failed), "s": round(seconds, 1)}
