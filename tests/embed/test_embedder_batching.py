"""Embedder speed settings that must not change the vectors."""
from __future__ import annotations

import os

import numpy as np

from desktop_search.embed.embedder import Embedder, cpu_cores
from desktop_search.embed.models import resolve_model

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


def test_timings_accumulate(tiny_model):
    emb = Embedder(resolve_model(str(tiny_model)), device="cpu")
    emb.encode(TEXTS)
    first = dict(emb.timings)
    emb.encode(TEXTS)
    assert first["forward"] > 0 and first["tokenize"] > 0
    assert emb.timings["forward"] > first["forward"]


def test_cpu_threads_follow_the_cores_this_process_may_use(tiny_model):
    import torch

    assert 1 <= cpu_cores() <= (os.cpu_count() or 1)
    Embedder(resolve_model(str(tiny_model)), device="cpu")
    assert torch.get_num_threads() == cpu_cores()


def test_quantized_vectors_stay_close(tiny_model):
    spec = resolve_model(str(tiny_model))
    fp32 = Embedder(spec, device="cpu").encode(TEXTS)
    int8 = Embedder(spec, device="cpu", quantize=True).encode(TEXTS)
    cosine = (fp32 * int8).sum(axis=1)
    assert cosine.min() > 0.9, cosine


def test_a_short_query_runs_on_one_thread_and_gives_the_same_vector(tiny_model):
    import torch

    from desktop_search.embed import embedder as embedding

    emb = Embedder(resolve_model(str(tiny_model)), device="cpu", threads=2)
    seen = []
    forward = emb.model.forward

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return forward(*args, **kwargs)

    emb.model.forward = spy  # type: ignore[method-assign]  # counting the threads of each forward
    query = emb.encode(["what causes cancer"])
    passage = emb.encode(["word " * 200] * 2)  # 2 x 128 tokens: over SMALL_TOKENS
    assert seen == [1, 2]
    assert torch.get_num_threads() == 2  # restored after the query
    emb.model.forward = forward  # type: ignore[method-assign]  # the spy removed
    original = embedding.SMALL_TOKENS
    embedding.SMALL_TOKENS = 0  # the query on two threads, for comparison
    try:
        np.testing.assert_allclose(emb.encode(["what causes cancer"]), query, atol=1e-5)
    finally:
        embedding.SMALL_TOKENS = original
    assert passage.shape == (2, emb.dim)
