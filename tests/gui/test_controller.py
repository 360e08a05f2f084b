"""The index controller with a fake worker: the queue and its merge rule, pause, cancel, the rebuild handshake."""
from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QObject, Signal, Slot

from desktop_search.gui.controller import IndexController, JobOutcome
from desktop_search.gui.workers import IndexJob, JobKind, RunFlags
from desktop_search.index.progress import Phase, Progress


class FakeWorker(QObject):
    """Records the jobs it is given (on its own thread) and finishes them when the test says so."""

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, flags: RunFlags) -> None:
        super().__init__()
        self.flags = flags
        self.jobs: list[IndexJob] = []
        self.threads: set[int] = set()
        self.seen_flags: list[tuple[bool, bool]] = []

    @Slot(object)
    def run(self, job: IndexJob) -> None:
        self.threads.add(threading.get_ident())
        self.jobs.append(job)
        self.seen_flags.append((self.flags.cancel.is_set(), self.flags.pause.is_set()))
        self.progress.emit(Progress(Phase.SCANNING))

    @Slot(object)
    def set_settings(self, settings: object) -> None:
        self.settings = settings


@pytest.fixture
def controller(qtbot):
    flags = RunFlags()
    worker = FakeWorker(flags)
    c = IndexController(worker, flags)
    yield c, worker
    c.shutdown()
    assert c.worker_thread.isFinished()


def run_started(qtbot, worker: FakeWorker, n: int) -> None:
    qtbot.waitUntil(lambda: len(worker.jobs) == n, timeout=5000)


def finish(qtbot, c: IndexController, worker: FakeWorker, report: object = "report") -> JobOutcome:
    with qtbot.waitSignal(c.finished, timeout=5000) as blocker:
        worker.finished.emit(report)
    return blocker.args[0]


def test_jobs_run_one_at_a_time_on_the_worker_thread(qtbot, controller):
    c, worker = controller
    assert c.submit(IndexJob(JobKind.UPDATE, add=["/a"]))
    assert c.busy and c.running.add == ["/a"]
    run_started(qtbot, worker, 1)
    assert threading.get_ident() not in worker.threads  # the worker lives on the controller's thread
    assert c.submit(IndexJob(JobKind.UPDATE, add=["/b"]))
    assert [j.add for j in c.pending()] == [["/b"]]
    outcome = finish(qtbot, c, worker)
    assert outcome.job.add == ["/a"] and outcome.report == "report" and outcome.error is None
    run_started(qtbot, worker, 2)
    assert c.running.add == ["/b"] and not c.pending()
    finish(qtbot, c, worker)
    assert not c.busy


def test_plain_updates_merge_in_the_queue(qtbot, controller):
    c, worker = controller
    c.submit(IndexJob(JobKind.UPDATE), auto=True)
    run_started(qtbot, worker, 1)
    # The running update does not cover changes seen after its scan: one more is queued...
    assert c.submit(IndexJob(JobKind.UPDATE), auto=True)
    # ...but only one: further plain updates merge into it, automatic or asked for.
    assert not c.submit(IndexJob(JobKind.UPDATE), auto=True)
    assert not c.submit(IndexJob(JobKind.UPDATE), auto=False)
    # Adding a folder is not a plain update: it is queued.
    assert c.submit(IndexJob(JobKind.UPDATE, add=["/new"]))
    assert [(j.kind, j.add) for j in c.pending()] == [(JobKind.UPDATE, []), (JobKind.UPDATE, ["/new"])]
    finish(qtbot, c, worker)
    outcome = finish(qtbot, c, worker)
    assert outcome.auto is False  # the merged request was the person's: its result is reported as theirs


def test_pause_and_resume_go_through_the_flags(qtbot, controller):
    c, worker = controller
    changes: list[bool] = []
    c.paused_changed.connect(changes.append)
    c.submit(IndexJob())
    c.set_paused(True)
    assert c.paused and c.flags.pause.is_set()
    c.set_paused(True)  # no change, no signal
    c.set_paused(False)
    assert not c.flags.pause.is_set() and changes == [True, False]
    # A run always starts unpaused.
    c.set_paused(True)
    finish(qtbot, c, worker)
    assert not c.paused
    c.submit(IndexJob())
    run_started(qtbot, worker, 2)
    assert worker.seen_flags[-1] == (False, False)


def test_cancel_stops_the_run_wakes_a_paused_one_and_drops_the_queue(qtbot, controller):
    c, worker = controller
    c.submit(IndexJob())
    c.submit(IndexJob(JobKind.UPDATE, add=["/later"]))
    c.set_paused(True)
    with qtbot.waitSignal(c.cancelling):
        c.cancel()
    assert c.flags.cancel.is_set() and not c.flags.pause.is_set() and not c.pending()
    finish(qtbot, c, worker)
    assert not c.busy
    # The next run starts with the flag cleared.
    c.submit(IndexJob())
    run_started(qtbot, worker, 2)
    assert worker.seen_flags[-1] == (False, False)


def test_a_failure_ends_the_job_and_the_next_one_starts(qtbot, controller):
    c, worker = controller
    c.submit(IndexJob())
    c.submit(IndexJob(JobKind.REMOVE, remove="/x"))
    with qtbot.waitSignal(c.finished, timeout=5000) as blocker:
        worker.failed.emit("disk full")
    assert blocker.args[0].error == "disk full" and blocker.args[0].report is None
    run_started(qtbot, worker, 2)
    with qtbot.waitSignal(c.reopen_requested, timeout=5000):  # a removal changed the index under the searcher
        finish(qtbot, c, worker, None)


def test_rebuild_waits_for_the_index_to_be_released_then_reopens(qtbot, controller):
    c, worker = controller
    with qtbot.waitSignal(c.release_requested):
        c.submit(IndexJob(JobKind.REBUILD))
    qtbot.wait(100)
    assert worker.jobs == [] and c.busy  # not before the search side has let go of the files
    c.on_released()
    run_started(qtbot, worker, 1)
    assert worker.jobs[0].kind == JobKind.REBUILD
    c.on_released()  # a stray second reply starts nothing
    qtbot.wait(50)
    assert len(worker.jobs) == 1
    with qtbot.waitSignal(c.reopen_requested, timeout=5000):
        finish(qtbot, c, worker)


def test_nothing_runs_after_shutdown(qtbot):
    flags = RunFlags()
    worker = FakeWorker(flags)
    c = IndexController(worker, flags)
    c.shutdown()
    assert flags.cancel.is_set() and c.worker_thread.isFinished()
    assert not c.submit(IndexJob())
