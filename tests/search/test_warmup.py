"""What a query should not pay for is paid when the query model loads: query lengths on a GPU, the GC's walks."""
from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pytest

from desktop_search.search import warmup


class Model:
    """Counts the queries it embeds, by length in words."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.lengths: list[int] = []

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        self.lengths.extend(len(t.split()) for t in texts)
        return np.zeros((len(texts), 4), dtype=np.float32)


@pytest.fixture
def freezes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """gc.freeze calls, not made for real: the test process keeps collecting."""
    calls: list[int] = []
    monkeypatch.setattr(gc, "get_freeze_count", lambda: len(calls))
    monkeypatch.setattr(gc, "freeze", lambda: calls.append(1))
    return calls


def test_on_a_gpu_every_likely_query_length_runs_once_at_load(freezes: list[int]) -> None:
    model: Any = Model("cuda:0")
    warmup.settle(model)
    assert model.lengths == list(range(1, warmup.WARM_QUERY_WORDS + 1))
    warmup.settle(model)  # once a model
    assert len(model.lengths) == warmup.WARM_QUERY_WORDS
    assert freezes == [1]


def test_on_a_cpu_nothing_runs_and_the_gc_is_frozen_once_a_process(freezes: list[int]) -> None:
    first: Any = Model("cpu")
    second: Any = Model("cpu")
    warmup.settle(first)
    warmup.settle(second)
    assert first.lengths == second.lengths == [] and freezes == [1]


def test_a_searcher_settles_its_model_when_it_loads_it(tiny_model, data_dir, tmp_path, freezes: list[int]) -> None:
    from desktop_search.index.indexer import Indexer, IndexOptions
    from desktop_search.search.searcher import Searcher
    from tests.conftest import make_pdf

    (tmp_path / "lib").mkdir()
    make_pdf(tmp_path / "lib" / "a.pdf", ["Statins lower cholesterol."])
    Indexer(data_dir, IndexOptions(model=str(tiny_model), device="cpu")).run(add=[tmp_path / "lib"])
    with Searcher(data_dir, model=str(tiny_model), device="cpu") as searcher:
        assert searcher.search("statins", mode="dense")
        assert searcher.embedder in warmup._settled and freezes == [1]
