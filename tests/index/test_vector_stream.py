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
