"""The Embedder: pooling, normalisation, batching and prefixes, on a tiny random BERT."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from desktop_search.embed.embedder import Embedder
from desktop_search.embed.engine import ONNX_DEFAULT, Engine, Precision
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


def test_importing_embedding_loads_no_engine() -> None:
    import subprocess
    import sys

    code = ("import sys, desktop_search.embed.embedder, desktop_search.embed.models, desktop_search.search.searcher, "
            "desktop_search.cli; print('torch' in sys.modules, 'onnxruntime' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_the_default_engine_embeds_without_torch_or_onnx(tiny_model: Path) -> None:
    """The CPU engine needs neither torch nor the onnx package, in a process of its own (as a search is)."""
    import subprocess
    import sys

    code = ("import sys\nfrom pathlib import Path\nfrom desktop_search.embed.embedder import Embedder\n"
            "from desktop_search.embed.models import spec_from_folder\n"
            f"e = Embedder(spec_from_folder(Path({str(tiny_model)!r})), device='cpu', engine='onnx')\n"
            "v = e.encode(['statins and muscle pain', 'x ' * 300])\n"
            "print(e.name, '|', v.shape, '|', [m for m in ('torch', 'onnx', 'transformers') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    name, shape, loaded = (part.strip() for part in out.stdout.split("|"))
    assert name.endswith(f"ONNX Runtime {ONNX_DEFAULT}") and shape == "(2, 32)" and loaded == "[]"


def test_int8_vectors_stay_close_to_fp32(embedder: Embedder, tiny_model: Path) -> None:
    int8 = Embedder(spec_from_folder(tiny_model), device="cpu", precision=Precision.INT8)
    assert (int8.engine, int8.precision) == (Engine.ONNX, Precision.INT8) and int8.name.endswith("ONNX Runtime int8")
    texts = [t for t in TEXTS if t]
    cosine = (int8.encode(texts) * embedder.encode(texts)).sum(axis=1)
    assert cosine.min() > 0.99, cosine


def test_an_int8_query_s_vector_does_not_depend_on_the_queries_beside_it(tiny_model: Path) -> None:
    int8 = Embedder(spec_from_folder(tiny_model), device="cpu", precision=Precision.INT8)
    queries = ["statins and muscle pain", "a much longer question about sleep deprivation and memory " * 3]
    together = int8.encode_queries(queries)
    np.testing.assert_array_equal(together, np.concatenate([int8.encode_queries([q]) for q in queries]))


def test_the_embedder_says_which_engine_and_precision_it_runs(embedder: Embedder) -> None:
    assert (embedder.engine, embedder.device, embedder.precision) == (Engine.ONNX, "cpu", Precision.FP32)
    assert embedder.name.startswith("CPU (") and embedder.name.endswith(" · ONNX Runtime fp32")


def test_a_model_onnx_runtime_cannot_run_says_what_to_do(tmp_path: Path, tiny_model: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import shutil

    folder = tmp_path / "mpnet-like"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | {"model_type": "mpnet"}))
    spec = spec_from_folder(folder)
    with pytest.raises(UserFacingError, match="not a plain BERT.*--engine auto or torch"):
        Embedder(spec, device="cpu", engine="onnx")
    with pytest.raises(UserFacingError, match="torch has no int8"):
        Embedder(spec, device="cpu", precision="int8")
    monkeypatch.setattr("desktop_search.embed.engine.torch_installed", lambda: False)  # the default install
    with pytest.raises(UserFacingError, match=r"needs the torch extra: pip install 'desktop-search\[torch\]'"):
        Embedder(spec, device="cpu")


def test_passages_given_their_ids_are_not_tokenized_again(embedder: Embedder) -> None:
    texts = TEXTS[:4]
    ids = embedder.tokenizer(texts, truncation=True, max_length=embedder.spec.max_tokens)["input_ids"]
    given = [np.asarray(ids[0], dtype=np.int32), None, ids[2], np.asarray(ids[3], dtype=np.int32)]
    np.testing.assert_allclose(embedder.encode_passages(texts, given), embedder.encode_passages(texts), atol=1e-6)
    wrong = [ids[1]] * 4  # the ids are what is embedded, whatever the texts say
    np.testing.assert_allclose(embedder.encode_passages(texts, wrong), embedder.encode_passages([texts[1]] * 4), atol=1e-6)
    with pytest.raises(ValueError):
        embedder.encode_passages(texts, given[:2])


@pytest.mark.torch  # a model without tokenizer.json is tokenized by transformers, which comes with the torch extra
def test_an_embedder_without_tokenizer_json_tokenizes_given_passages_again(embedder: Embedder, tiny_model: Path,
                                                                          tmp_path: Path) -> None:
    """It cannot vouch for ids made with the model's tokenizer.json: it tokenizes every text."""
    import shutil

    texts = TEXTS[:4]
    wrong = [embedder.tokenizer(texts[1], truncation=True, max_length=embedder.spec.max_tokens)["input_ids"]] * 4
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    (folder / "tokenizer.json").unlink()
    other = Embedder(spec_from_folder(folder), device="cpu", precision=Precision.FP32)
    np.testing.assert_allclose(other.encode_passages(texts, wrong), embedder.encode_passages(texts), atol=1e-5)
