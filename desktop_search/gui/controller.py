"""The index controller: one indexing run at a time, a queue behind it, pause and cancel.

It owns the index worker and its thread, and the run's cancel/pause flags;
the window only calls its methods and listens to its signals. A rebuild
replaces the index files, so before one starts the controller asks the
search side to let go of them (``release_requested``) and waits for
:meth:`on_released`; after a rebuild or a removal it asks for a reopen.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal, SignalInstance

from desktop_search.gui.workers import IndexJob, JobKind, RunFlags, ThreadMovable, start_thread, stop_thread


class IndexWorkerLike(ThreadMovable, Protocol):
    """What the controller needs of a worker (the real one, or a test's fake)."""

    progress: SignalInstance  # Progress
    finished: SignalInstance  # IndexReport | None
    failed: SignalInstance  # str

    def run(self, job: IndexJob) -> None: ...

    def set_settings(self, settings: Any) -> None: ...


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended: its report (None after a removal or a failure), or the failure's message."""

    job: IndexJob
    auto: bool
    report: Any = None
    error: str | None = None


class IndexController(QObject):
    started = Signal(object, bool)  # IndexJob, auto (started by the watcher or the timer)
    progress = Signal(object)  # desktop_search.index.progress.Progress
    finished = Signal(object)  # JobOutcome
    queued = Signal(object)  # IndexJob, waiting for the current run
    paused_changed = Signal(bool)
    cancelling = Signal()
    release_requested = Signal()  # close the index files: a rebuild is about to replace them
    reopen_requested = Signal()  # the index files were replaced or changed underneath

    _run_request = Signal(object)
    _settings_request = Signal(object)

    def __init__(self, worker: IndexWorkerLike, flags: RunFlags, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.flags = flags
        self._queue: deque[tuple[IndexJob, bool]] = deque()
        self._running: tuple[IndexJob, bool] | None = None
        self._waiting_release = False
        self._closed = False
        self.worker_thread = start_thread(worker, "desktop-search-index")
        self._run_request.connect(worker.run)
        self._settings_request.connect(worker.set_settings)
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)

    # -- state ----------------------------------------------------------------------

    @property
    def running(self) -> IndexJob | None:
        return self._running[0] if self._running else None

    @property
    def busy(self) -> bool:
        return self._running is not None

    @property
    def paused(self) -> bool:
        return self.flags.pause.is_set()

    def pending(self) -> list[IndexJob]:
        return [job for job, _auto in self._queue]

    # -- requests -------------------------------------------------------------------

    def submit(self, job: IndexJob, auto: bool = False) -> bool:
        """Start ``job`` now, or queue it behind the current run. False if merged away or closed.

        The merge rule: a plain update (nothing to add) waiting in the queue
        already covers every change, so another one is not queued twice; the
        run that is going does not count, as changes may have come after it
        scanned.
        """
        if self._closed:
            return False
        if self._running is None:
            self._start(job, auto)
            return True
        if job.kind == JobKind.UPDATE and not job.add:
            for i, (queued, queued_auto) in enumerate(self._queue):
                if queued.kind == JobKind.UPDATE and not queued.add:
                    if queued_auto and not auto:
                        self._queue[i] = (queued, False)  # the person asked: report it as theirs
                    return False
        self._queue.append((job, auto))
        self.queued.emit(job)
        return True

    def set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        if paused:
            self.flags.pause.set()
        else:
            self.flags.pause.clear()
        self.paused_changed.emit(paused)

    def cancel(self) -> None:
        """Stop the run after the current file (what is done is kept) and drop the queue."""
        self._queue.clear()
        if self._running is None:
            return
        self.flags.cancel.set()
        self.set_paused(False)  # a paused run must wake up to notice
        self.cancelling.emit()

    def apply_settings(self, settings: Any) -> None:
        self._settings_request.emit(settings)

    def on_released(self) -> None:
        """The search side has closed the index files: the waiting rebuild may start."""
        if self._waiting_release and self._running is not None:
            self._waiting_release = False
            self._run_request.emit(self._running[0])

    def shutdown(self) -> None:
        """Stop the run and the thread; what the indexer committed is kept."""
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        self.flags.cancel.set()
        self.flags.pause.clear()
        stop_thread(self.worker_thread)

    # -- the run ----------------------------------------------------------------------

    def _start(self, job: IndexJob, auto: bool) -> None:
        self._running = (job, auto)
        self.flags.cancel.clear()
        self.set_paused(False)
        self.started.emit(job, auto)
        if job.kind == JobKind.REBUILD:
            self._waiting_release = True
            self.release_requested.emit()  # the run starts in on_released
        else:
            self._run_request.emit(job)

    def _on_progress(self, p: Any) -> None:
        if self._running is not None:
            self.progress.emit(p)

    def _on_finished(self, report: Any) -> None:
        self._end(report, None)

    def _on_failed(self, message: str) -> None:
        self._end(None, message)

    def _end(self, report: Any, error: str | None) -> None:
        if self._running is None:
            return
        job, auto = self._running
        self._running = None
        self.set_paused(False)
        if job.kind in (JobKind.REBUILD, JobKind.REMOVE):
            self.reopen_requested.emit()
        self.finished.emit(JobOutcome(job, auto, report, error))
        if self._queue and not self._closed:
            self._start(*self._queue.popleft())
