"""The vector stream: stored embeddings go to the hnsw index, and the file is saved mid-run, but not too often."""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable

import numpy as np

from desktop_search.index import streams
from desktop_search.index.streams import Counts, EmbeddedBatch, StreamClock, VectorStream


class SlowToSave:
    """A vector index whose save takes as long as a big file's, counting its adds and saves."""

    def __init__(self, save_s: float) -> None:
        self.save_s = save_s
        self.added = 0
        self.saves = 0

    def add_then_delete(self, ids: np.ndarray, vecs: np.ndarray, deleted: Callable[[], Iterable[int]]) -> None:
        self.added += len(ids)

    def save(self, paths: object) -> None:
        time.sleep(self.save_s)
        self.saves += 1


class TakesEverything:
    def store_embeddings(self, ids: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        return ids


def test_a_slow_save_waits_until_saving_is_a_small_share_of_the_time(data_dir) -> None:
    vectors = SlowToSave(save_s=0.05)
    inbox: queue.Queue[EmbeddedBatch | None] = queue.Queue()
    for start in range(0, 200, 10):
        inbox.put(EmbeddedBatch(np.arange(start, start + 10), np.zeros((10, 4), dtype=np.float32)))
    inbox.put(None)
    stream = VectorStream(TakesEverything(), vectors, data_dir, threading.Lock(), inbox,  # type: ignore[arg-type]  # stand-ins
                          Counts(), StreamClock(), save_interval_s=0.0)
    stream.run()
    assert stream.error is None and vectors.added == 200
    # Saved after the first batch; the next save would be due 0.05 / SAVE_SHARE = 1 s later, and the run took less.
    assert vectors.saves == 1 and 0.05 / streams.SAVE_SHARE >= 1.0


class RecordsAdds:
    """A vector index that records each hnsw call's ids."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def add_then_delete(self, ids: np.ndarray, vecs: np.ndarray, deleted: Callable[[], Iterable[int]]) -> None:
        assert len(ids) == len(vecs)
        self.calls.append(ids.tolist())

    def save(self, paths: object) -> None:
        pass


class RefusesOdd:
    """A store in which the odd passages were deleted since they were read for embedding."""

    def store_embeddings(self, ids: np.ndarray, vecs: np.ndarray) -> np.ndarray:
        return ids[ids % 2 == 0]


class WatchedLock:
    """The write lock, telling when the stream first asks for it."""

    def __init__(self) -> None:
        self.held = threading.Lock()
        self.asked = threading.Event()

    def __enter__(self) -> WatchedLock:
        self.asked.set()
        self.held.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.held.release()


def test_batches_that_wait_are_stored_together_and_go_into_hnsw_in_one_call(data_dir) -> None:
    """While a commit holds the write lock the model queues batches; they cost one wait and one hnsw call,
    and what the store refused (deleted passages) does not reach hnsw."""
    vectors = RecordsAdds()
    inbox: queue.Queue[EmbeddedBatch | None] = queue.Queue()
    lock = WatchedLock()
    stream = VectorStream(RefusesOdd(), vectors, data_dir, lock, inbox,  # type: ignore[arg-type]  # stand-ins
                          Counts(), StreamClock(), save_interval_s=3600.0)
    with lock.held:  # a commit of text in progress
        stream.start()
        inbox.put(EmbeddedBatch(np.arange(0, 4), np.zeros((4, 4), dtype=np.float32)))
        assert lock.asked.wait(10)  # the stream took the first batch and waits for the lock
        for start in (4, 8):
            inbox.put(EmbeddedBatch(np.arange(start, start + 4), np.zeros((4, 4), dtype=np.float32)))
    inbox.put(None)
    stream.join(10)
    assert stream.error is None and not stream.is_alive()
    assert vectors.calls == [[0, 2], [4, 6, 8, 10]]  # the two that waited: one call
    assert stream.counts.embedded == 6
