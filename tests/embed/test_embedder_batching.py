"""Embedder batching, threads and the out-of-memory fallback: what must not change the vectors (any engine)."""
from __future__ import annotations

import itertools
import logging
from typing import Any

import numpy as np
import pytest

from desktop_search.embed import embedder as embedding
from desktop_search.embed.embedder import Embedder, pad_batch
from desktop_search.embed.engine import DeviceOutOfMemoryError
from desktop_search.embed.models import resolve_model
from desktop_search.embed.onnx_engine import OnnxRunner
from desktop_search.errors import UserFacingError

TEXTS = [
    "short",
    "a somewhat longer passage about proteins and cells " * 3,
    "mid length text about clinical trials",
    "word " * 100,
    "",
    "the last one",
]


def test_token_budget_batching_does_not_change_vectors(tiny_model):
    spec = resolve_model(str(tiny_model))
    one_by_one = Embedder(spec, device="cpu", token_budget=1)  # one text per forward
    batched = Embedder(spec, device="cpu", token_budget=4096)
    a = np.stack([one_by_one.encode([t])[0] for t in TEXTS])
    b = batched.encode(TEXTS)
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)


def test_padding_is_on_the_right_with_a_mask() -> None:
    ids, mask = pad_batch([[101, 7, 102], [101, 102], np.array([5])], pad_id=0)
    assert ids.tolist() == [[101, 7, 102], [101, 102, 0], [5, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 1, 0], [1, 0, 0]]
    assert ids.dtype == mask.dtype == np.int64
    assert pad_batch([], pad_id=0)[0].shape == (0, 0)


def test_timings_accumulate(tiny_model):
    emb = Embedder(resolve_model(str(tiny_model)), device="cpu")
    emb.encode(TEXTS)
    first = dict(emb.timings)
    emb.encode(TEXTS)
    assert first["forward"] > 0 and first["tokenize"] > 0
    assert emb.timings["forward"] > first["forward"]


def test_a_short_query_runs_on_a_one_thread_session_with_the_same_vector(tiny_model, monkeypatch):
    emb = Embedder(resolve_model(str(tiny_model)), device="cpu", engine="onnx", precision="fp32", threads=2)
    assert isinstance(emb.runner, OnnxRunner)
    query = emb.encode(["what causes cancer"])
    assert set(emb.runner._sessions) == {1}  # a typed query: one thread, and no session on two made for it
    passage = emb.encode(["word " * 200] * 2)  # 2 x 128 tokens: over SMALL_TOKENS
    assert set(emb.runner._sessions) == {1, 2}
    monkeypatch.setattr(embedding, "SMALL_TOKENS", 0)  # the query on two threads, for comparison
    np.testing.assert_allclose(emb.encode(["what causes cancer"]), query, atol=1e-6)
    assert passage.shape == (2, emb.dim)


class SmallCard:
    """A runner in front of the real one that fails, as a card that small would, on batches over
    ``max_tokens`` padded tokens; it notes the padded size of every batch tried."""

    def __init__(self, inner: Any, max_tokens: int) -> None:
        self.inner, self.max_tokens = inner, max_tokens
        self.tried: list[int] = []
        self.freed = 0

    def run(self, ids: np.ndarray, mask: np.ndarray, small: bool) -> Any:
        self.tried.append(ids.size)
        if ids.size > self.max_tokens:
            raise DeviceOutOfMemoryError(f"out of memory: tried {ids.size} tokens (fake)")
        return self.inner.run(ids, mask, small)

    def free_memory(self) -> None:
        self.freed += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_out_of_memory_halves_the_budget_and_the_run_goes_on(tiny_model, caplog: pytest.LogCaptureFixture) -> None:
    spec = resolve_model(str(tiny_model))
    expected = Embedder(spec, device="cpu", token_budget=1).encode(TEXTS)  # one text per forward
    emb = Embedder(spec, device="cpu", token_budget=4096)
    card = SmallCard(emb.runner, max_tokens=200)
    emb.runner = card  # a smaller card, on purpose
    with caplog.at_level(logging.WARNING, logger="desktop_search.embed.embedder"):
        got = emb.encode(TEXTS)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert emb.token_budget <= 200  # shrunk until the batches fit, and it stays so
    assert any(t > 200 for t in card.tried) and sum(t <= 200 for t in card.tried) >= 2 and card.freed
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all("Out of memory" in w and "token budget" in w for w in warnings)
    # Halving: each failed batch is followed by one at most half its size (or a single text).
    for before, after in itertools.pairwise(card.tried):
        if before > 200:
            assert after <= max(before // 2, spec.max_tokens)

    card.tried.clear()
    caplog.clear()
    np.testing.assert_allclose(emb.encode(TEXTS), expected, atol=1e-5)
    assert all(t <= 200 for t in card.tried) and not caplog.records  # the next call starts small


def test_out_of_memory_with_one_passage_says_what_to_do(tiny_model) -> None:
    emb = Embedder(resolve_model(str(tiny_model)), device="cpu", token_budget=4096)
    emb.runner = SmallCard(emb.runner, max_tokens=2)  # a card too small for anything
    with pytest.raises(UserFacingError, match="Not even one passage fits.*--device cpu"):
        emb.encode(["a passage longer than the card can hold"])
