"""The Embedder: pooling, normalisation, batching and prefixes, on a tiny random BERT."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from desktop_search.embed.embedder import Embedder, Precision, pick_device, pool, resolve_precision
from desktop_search.embed.models import spec_from_folder
from desktop_search.errors import UserFacingError
from tests.conftest import build_tiny_model

TEXTS = [
    "short",
    "a somewhat longer sentence about proteins and cells",
    "x " * 100,
    "medium length text about statins and muscle pain",
    "",
]


@pytest.fixture(scope="module")
def embedder(tiny_model: Path) -> Embedder:
    # fp32 pinned: the exactness checks below must not depend on the CPU's bf16 support.
    return Embedder(spec_from_folder(tiny_model), device="cpu", precision=Precision.FP32)


def test_vectors_are_l2_normalised_with_the_model_dimension(embedder: Embedder) -> None:
    vecs = embedder.encode(TEXTS)
    assert vecs.shape == (len(TEXTS), 32)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)


def test_empty_input_gives_an_empty_matrix(embedder: Embedder) -> None:
    assert embedder.encode([]).shape == (0, 32)


def test_length_sorted_batches_match_one_by_one(embedder: Embedder, tiny_model: Path) -> None:
    small_budget = Embedder(spec_from_folder(tiny_model), device="cpu", token_budget=40, precision=Precision.FP32)
    batched = small_budget.encode(TEXTS)  # several padded batches, out of input order
    single = np.stack([embedder.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_long_text_is_truncated_to_the_model_window(embedder: Embedder) -> None:
    vec = embedder.encode(["word " * 5000])
    assert vec.shape == (1, 32) and np.isfinite(vec).all()


@pytest.mark.parametrize("mode", ["cls", "max"])
def test_pooling_is_read_from_1_pooling_and_changes_the_output(tmp_path: Path, tiny_model: Path, mode: str) -> None:
    other = build_tiny_model(tmp_path / f"tiny-{mode}", pooling=mode)  # same seed, same weights
    spec = spec_from_folder(other)
    assert spec.pooling == mode
    mean_vecs = Embedder(spec_from_folder(tiny_model), device="cpu").encode(TEXTS[:3])
    mode_vecs = Embedder(spec, device="cpu").encode(TEXTS[:3])
    assert not np.allclose(mean_vecs, mode_vecs, atol=1e-3)
    # And it is the pooling we say: recompute from the raw hidden states.
    forced_mean = Embedder(replace(spec, pooling="mean"), device="cpu").encode(TEXTS[:3])
    np.testing.assert_allclose(forced_mean, mean_vecs, atol=1e-5)


def test_pool_functions_respect_the_attention_mask() -> None:
    import torch

    hidden = torch.tensor([[[1.0, 0.0], [3.0, 4.0], [100.0, -100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert pool(hidden, mask, "mean").tolist() == [[2.0, 2.0]]
    assert pool(hidden, mask, "max").tolist() == [[3.0, 4.0]]
    assert pool(hidden, mask, "cls").tolist() == [[1.0, 0.0]]


def test_query_and_passage_prefixes_are_applied(tmp_path: Path) -> None:
    folder = build_tiny_model(tmp_path / "tiny-e5", prompts={"query": "query: ", "passage": "passage: "})
    spec = spec_from_folder(folder)
    assert (spec.query_prefix, spec.passage_prefix) == ("query: ", "passage: ")
    emb = Embedder(spec, device="cpu")
    q = emb.encode_queries(["statins and muscle pain"])
    p = emb.encode_passages(["statins and muscle pain"])
    np.testing.assert_allclose(q, emb.encode(["query: statins and muscle pain"]), atol=1e-6)
    np.testing.assert_allclose(p, emb.encode(["passage: statins and muscle pain"]), atol=1e-6)
    assert not np.allclose(q, p, atol=1e-3)


def test_explicit_device_is_honoured() -> None:
    assert pick_device("cpu") == "cpu"
    assert pick_device("auto") in ("cpu", "cuda", "mps")


def test_importing_embedding_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = ("import sys, desktop_search.embed.embedder, desktop_search.embed.models, desktop_search.search.searcher; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("native", "expected"), [(True, Precision.BF16), (False, Precision.FP32)])
def test_auto_precision_is_bf16_only_where_the_cpu_computes_it(monkeypatch, native: bool, expected: Precision) -> None:
    monkeypatch.setattr("desktop_search.embed.embedder.cpu_has_native_bf16", lambda: native)
    assert resolve_precision("auto", "cpu") == expected
    assert resolve_precision("fp32", "cpu") == Precision.FP32
    assert resolve_precision("bf16", "cpu") == Precision.BF16  # asked for in so many words: emulated if need be
    # On a GPU, auto keeps the device's own choice (fp16 on CUDA) and fp32 is honoured.
    assert resolve_precision("auto", "cuda") == Precision.AUTO
    assert resolve_precision("fp32", "cuda") == Precision.FP32
    with pytest.raises(UserFacingError, match="Unknown precision 'fp16'; use one of auto, fp32, bf16"):
        resolve_precision("fp16", "cpu")


def test_bf16_vectors_agree_with_fp32_and_the_device_name_says_so(embedder: Embedder, tiny_model: Path) -> None:
    bf16 = Embedder(spec_from_folder(tiny_model), device="cpu", precision=Precision.BF16)
    assert bf16.precision == Precision.BF16 and "bf16" in bf16.name and "bf16" not in embedder.name
    texts = [t for t in TEXTS if t]
    low, full = bf16.encode(texts), embedder.encode(texts)
    assert low.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(low, axis=1), 1.0, rtol=1e-5)
    cosine = (low * full).sum(axis=1)
    assert cosine.min() > 0.99, cosine  # bf16 keeps ~3 significant digits per value
    assert not np.array_equal(low, full)  # it did run in bf16


def test_quantized_models_stay_in_fp32_arithmetic(tiny_model: Path) -> None:
    assert Embedder(spec_from_folder(tiny_model), device="cpu", quantize=True, precision="bf16").precision == Precision.FP32


def test_passages_given_their_ids_are_not_tokenized_again(embedder: Embedder, tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    texts = TEXTS[:4]
    ids = embedder.tokenizer(texts, truncation=True, max_length=embedder.spec.max_tokens)["input_ids"]
    given = [np.asarray(ids[0], dtype=np.int32), None, ids[2], np.asarray(ids[3], dtype=np.int32)]
    np.testing.assert_allclose(embedder.encode_passages(texts, given), embedder.encode_passages(texts), atol=1e-6)
    wrong = [ids[1]] * 4  # the ids are what is embedded, whatever the texts say
    np.testing.assert_allclose(embedder.encode_passages(texts, wrong), embedder.encode_passages([texts[1]] * 4), atol=1e-6)
    with pytest.raises(ValueError):
        embedder.encode_passages(texts, given[:2])
    # An embedder that tokenizes with transformers (no tokenizer.json here) cannot vouch for ids made with
    # the model's tokenizer.json: it tokenizes every text.
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    (folder / "tokenizer.json").unlink()
    other = Embedder(spec_from_folder(folder), device="cpu", precision=Precision.FP32)
    np.testing.assert_allclose(other.encode_passages(texts, wrong), embedder.encode_passages(texts), atol=1e-5)
