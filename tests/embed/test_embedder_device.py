"""Device choice, device naming and the out-of-memory fallback, on the CPU with torch mocked."""
from __future__ import annotations

import itertools
import logging
from pathlib import Path

import numpy as np
import pytest

from desktop_search.embed.embedder import Embedder, device_name, pick_device
from desktop_search.embed.models import resolve_model

logger = logging.getLogger(__name__)

TEXTS = [
    "short",
    "a somewhat longer passage about proteins and cells " * 3,
    "mid length text about clinical trials",
    "word " * 100,
    "the last one",
    "statins and muscle pain " * 5,
]
GPU = "NVIDIA H100 80GB HBM3"


@pytest.fixture
def gpus(monkeypatch: pytest.MonkeyPatch):
    """Set which accelerators torch reports: gpus(cuda=True, mps=False)."""
    import torch

    def set_available(cuda: bool, mps: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: GPU)

    return set_available


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_prefers_cuda_then_mps_then_cpu(gpus, cuda: bool, mps: bool, expected: str) -> None:
    gpus(cuda=cuda, mps=mps)
    assert pick_device("auto") == expected
    assert pick_device("") == expected


def test_an_explicit_device_wins_over_what_is_available(gpus) -> None:
    gpus(cuda=True, mps=True)
    assert pick_device("cpu") == "cpu"
    assert pick_device("cuda:1") == "cuda:1"


def test_the_cuda_device_is_named_by_its_gpu(gpus) -> None:
    gpus(cuda=True, mps=False)
    assert device_name(pick_device("auto")) == GPU
    gpus(cuda=False, mps=False)
    assert device_name(pick_device("auto")).startswith("CPU")


def fake_small_card(emb: Embedder, max_tokens: int) -> list[int]:
    """Make the forward raise torch's out-of-memory error for batches over
    ``max_tokens`` padded tokens, as a card that small would; returns the
    padded size of every batch tried."""
    import torch

    tried: list[int] = []
    forward = emb.model.forward

    def forward_on_small_card(*args, **kwargs):
        tokens = kwargs["input_ids"].numel()
        tried.append(tokens)
        if tokens > max_tokens:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {tokens} tokens (fake)")
        return forward(*args, **kwargs)

    emb.model.forward = forward_on_small_card  # type: ignore[method-assign]  # a smaller card, on purpose
    return tried


def test_out_of_memory_halves_the_budget_and_the_run_goes_on(tiny_model: Path, caplog: pytest.LogCaptureFixture) -> None:
    spec = resolve_model(str(tiny_model))
    expected = Embedder(spec, device="cpu", token_budget=1).encode(TEXTS)  # one text per forward
    emb = Embedder(spec, device="cpu", token_budget=4096)
    tried = fake_small_card(emb, max_tokens=200)
    with caplog.at_level(logging.WARNING, logger="desktop_search.embed.embedder"):
        got = emb.encode(TEXTS)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert emb.token_budget <= 200  # shrunk until the batches fit, and it stays so
    assert any(t > 200 for t in tried) and sum(t <= 200 for t in tried) >= 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all("Out of memory" in w and "token budget" in w for w in warnings)
    # Halving: each failed batch is followed by one at most half its size (or a single text).
    for before, after in itertools.pairwise(tried):
        if before > 200:
            assert after <= max(before // 2, spec.max_tokens)

    tried.clear()
    caplog.clear()
    np.testing.assert_allclose(emb.encode(TEXTS), expected, atol=1e-5)
    assert all(t <= 200 for t in tried) and not caplog.records  # the next call starts small


def test_out_of_memory_with_one_passage_is_raised(tiny_model: Path) -> None:
    import torch

    emb = Embedder(resolve_model(str(tiny_model)), device="cpu", token_budget=4096)
    fake_small_card(emb, max_tokens=2)
    with pytest.raises(torch.OutOfMemoryError):
        emb.encode(["a passage longer than the card can hold"])
