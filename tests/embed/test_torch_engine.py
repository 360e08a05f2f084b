"""The torch engine: device choice and naming (torch mocked), threads, bf16, pooling and its out-of-memory error."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from desktop_search.embed import embedder as embedding
from desktop_search.embed.embedder import Embedder
from desktop_search.embed.engine import DeviceOutOfMemoryError, Engine, Precision
from desktop_search.embed.hardware import cpu_cores
from desktop_search.embed.models import resolve_model, spec_from_folder

# Deselected where the torch extra is not installed (`-m "not torch"`), so nothing here imports torch
# at module level: collecting this file must not fail there.
pytestmark = pytest.mark.torch

TEXTS = ["short", "a somewhat longer passage about proteins and cells " * 3, "word " * 100, "the last one"]
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
    from desktop_search.embed.torch_engine import pick_device

    gpus(cuda=cuda, mps=mps)
    assert pick_device("auto") == expected
    assert pick_device("") == expected


def test_an_explicit_device_wins_over_what_is_available(gpus) -> None:
    from desktop_search.embed.torch_engine import pick_device

    gpus(cuda=True, mps=True)
    assert pick_device("cpu") == "cpu"
    assert pick_device("cuda:1") == "cuda:1"


def test_the_cuda_device_is_named_by_its_gpu(gpus) -> None:
    from desktop_search.embed.torch_engine import device_name, pick_device

    gpus(cuda=True, mps=False)
    assert device_name(pick_device("auto"), 2) == GPU
    gpus(cuda=False, mps=False)
    assert device_name(pick_device("auto"), 2) == "CPU (2 threads)"


def test_pool_functions_respect_the_attention_mask() -> None:
    import torch

    from desktop_search.embed.torch_engine import pool

    hidden = torch.tensor([[[1.0, 0.0], [3.0, 4.0], [100.0, -100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert pool(hidden, mask, "mean").tolist() == [[2.0, 2.0]]
    assert pool(hidden, mask, "max").tolist() == [[3.0, 4.0]]
    assert pool(hidden, mask, "cls").tolist() == [[1.0, 0.0]]


def test_cpu_threads_follow_the_cores_this_process_may_use(tiny_model: Path) -> None:
    import torch

    assert 1 <= cpu_cores() <= (os.cpu_count() or 1)
    Embedder(resolve_model(str(tiny_model)), device="cpu", engine="torch")
    assert torch.get_num_threads() == cpu_cores()


def test_a_short_query_runs_on_one_thread_and_gives_the_same_vector(tiny_model: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from desktop_search.embed.torch_engine import TorchRunner

    emb = Embedder(resolve_model(str(tiny_model)), device="cpu", engine="torch", precision="fp32", threads=2)
    assert isinstance(emb.runner, TorchRunner)
    seen = []
    forward = emb.runner.model.forward

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return forward(*args, **kwargs)

    monkeypatch.setattr(emb.runner.model, "forward", spy)  # counting the threads of each forward
    query = emb.encode(["what causes cancer"])
    passage = emb.encode(["word " * 200] * 2)  # 2 x 128 tokens: over SMALL_TOKENS
    assert seen == [1, 2]
    assert torch.get_num_threads() == 2  # restored after the query
    monkeypatch.setattr(embedding, "SMALL_TOKENS", 0)  # the query on two threads, for comparison
    np.testing.assert_allclose(emb.encode(["what causes cancer"]), query, atol=1e-5)
    assert passage.shape == (2, emb.dim)


def test_bf16_vectors_agree_with_fp32_and_the_name_says_so(tiny_model: Path) -> None:
    spec = spec_from_folder(tiny_model)
    fp32 = Embedder(spec, device="cpu", engine="torch", precision=Precision.FP32)
    bf16 = Embedder(spec, device="cpu", precision=Precision.BF16)  # auto engine: bf16 is torch's
    assert (bf16.engine, bf16.precision) == (Engine.TORCH, Precision.BF16)
    assert bf16.name.endswith("torch bf16") and fp32.name.endswith("torch fp32")
    texts = [t for t in TEXTS if t]
    low, full = bf16.encode(texts), fp32.encode(texts)
    assert low.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(low, axis=1), 1.0, rtol=1e-5)
    cosine = (low * full).sum(axis=1)
    assert cosine.min() > 0.99, cosine  # bf16 keeps ~3 significant digits per value
    assert not np.array_equal(low, full)  # it did run in bf16


def test_torch_s_out_of_memory_error_becomes_the_engines(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from desktop_search.embed.torch_engine import TorchRunner

    emb = Embedder(resolve_model(str(tiny_model)), device="cpu", engine="torch")
    assert isinstance(emb.runner, TorchRunner)

    def out_of_memory(*_args, **_kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (fake)\nmore lines")

    monkeypatch.setattr(emb.runner.model, "forward", out_of_memory)
    ids, mask = np.ones((2, 5), np.int64), np.ones((2, 5), np.int64)
    with pytest.raises(DeviceOutOfMemoryError, match=r"^CUDA out of memory. Tried to allocate 2.00 GiB \(fake\)$") as info:
        emb.runner.run(ids, mask, small=False)
    assert info.value.__context__ is None  # the failed forward's frames are not kept alive
