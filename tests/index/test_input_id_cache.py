"""The model input ids handed from the text stream to the embed stream: by chunk id, bounded, forgotten once passed."""
from __future__ import annotations

import numpy as np

from desktop_search.embed.tokenizer import PassageIds
from desktop_search.index.input_ids import InputIdCache


def lists(got: list[np.ndarray | None]) -> list[list[int] | None]:
    return [None if x is None else x.tolist() for x in got]


def test_ids_are_found_by_chunk_id_and_forgotten_once_the_embedder_is_past_them() -> None:
    cache = InputIdCache()
    cache.put(10, PassageIds.of([[1, 2], [3]]))
    cache.put(20, PassageIds.of([[4, 5, 6], [7]]))
    assert cache.tokens == 7
    # 12 has no ids here (a passage left by a killed run, say): it is tokenized from its text.
    assert lists(cache.take(np.array([10, 11, 12, 20]))) == [[1, 2], [3], None, [4, 5, 6]]
    assert cache.tokens == 4  # the first document is done; the second's last passage still waits
    assert lists(cache.take(np.array([21]))) == [[7]]
    assert cache.tokens == 0 and lists(cache.take(np.array([10, 21]))) == [None, None]


def test_memory_stays_under_the_bound() -> None:
    cache = InputIdCache(max_tokens=5)
    cache.put(1, PassageIds.of([[1, 2, 3]]))
    cache.put(2, PassageIds.of([[4, 5, 6]]))  # no room: its passage will be tokenized
    cache.put(3, PassageIds.of([[7, 8]]))
    assert cache.tokens == 5
    assert lists(cache.take(np.array([1, 2, 3]))) == [[1, 2, 3], None, [7, 8]]
