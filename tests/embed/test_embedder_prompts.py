"""Models with CLS pooling and E5-style "query: " / "passage: " prefixes, end to end with a tiny model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from desktop_search.embed.embedder import Embedder
from desktop_search.embed.engine import Precision
from desktop_search.embed.models import resolve_model, spec_from_folder
from desktop_search.embed.tokenizer import load_model_tokenizer
from desktop_search.index.indexer import Indexer, IndexOptions
from desktop_search.paths import resolve_data_dir
from desktop_search.search.searcher import Searcher
from desktop_search.storage import Store
from tests.conftest import build_tiny_model, make_epub
from tests.embed.numpy_bert import numpy_bert


def reference_embedding(folder: Path, text: str, pooling: str) -> np.ndarray:
    """What the model should produce, computed by the numpy reference encoder."""
    ids = np.array(load_model_tokenizer(folder)([text], truncation=True, max_length=128)["input_ids"])
    return numpy_bert(folder, ids, np.ones_like(ids), pooling)[0]


@pytest.fixture(scope="module")
def e5_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CLS-pooling model in a folder named like the catalogue's e5-small-v2."""
    return build_tiny_model(tmp_path_factory.mktemp("models") / "e5-small-v2", pooling="cls")


def test_catalogue_supplies_prefixes_and_folder_supplies_pooling(e5_like: Path) -> None:
    spec = resolve_model("intfloat/e5-small-v2", [str(e5_like)])
    assert spec.id == "intfloat/e5-small-v2"
    assert (spec.query_prefix, spec.passage_prefix) == ("query: ", "passage: ")
    assert spec.pooling == "cls"  # from 1_Pooling, although the catalogue says mean for the real model


def test_prompts_from_sentence_transformers_config(tmp_path: Path) -> None:
    folder = build_tiny_model(tmp_path / "my-model", pooling="cls", prompts={"query": "query: ", "passage": "passage: "})
    spec = spec_from_folder(folder)
    assert (spec.pooling, spec.query_prefix, spec.passage_prefix) == ("cls", "query: ", "passage: ")


def test_embedder_applies_prefix_and_cls_pooling(e5_like: Path) -> None:
    spec = resolve_model("intfloat/e5-small-v2", [str(e5_like)])
    emb = Embedder(spec, device="cpu", precision=Precision.FP32)  # compared with an fp32 reference to 1e-5
    q = emb.encode_queries(["mitochondria make energy"])[0]
    p = emb.encode_passages(["mitochondria make energy"])[0]
    np.testing.assert_allclose(q, reference_embedding(e5_like, "query: mitochondria make energy", "cls"), atol=1e-5)
    np.testing.assert_allclose(p, reference_embedding(e5_like, "passage: mitochondria make energy", "cls"), atol=1e-5)
    # Neither the unprefixed text nor mean pooling gives these vectors (a tiny random model's [CLS] vector
    # moves little with the text, but by far more than the 1e-5 the engine and the reference agree to).
    assert not np.allclose(q, reference_embedding(e5_like, "mitochondria make energy", "cls"), atol=1e-4)
    assert not np.allclose(q, reference_embedding(e5_like, "query: mitochondria make energy", "mean"), atol=1e-4)


def test_index_and_search_use_the_prefixes(tmp_path: Path, e5_like: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    body = "Glaciers carve valleys."
    make_epub(lib / "ice.epub", [("Ice", body)], title="Ice")
    paths = resolve_data_dir(tmp_path / "data")
    report = Indexer(paths, IndexOptions(model="intfloat/e5-small-v2", extra_models=[str(e5_like)], workers=1)).run([lib])
    assert not report.failed

    with Store(paths.database, readonly=True) as store:
        manifest = store.manifest()
        assert manifest is not None
        assert (manifest.pooling, manifest.query_prefix, manifest.passage_prefix) == ("cls", "query: ", "passage: ")
        [(text, blob)] = [
            (r[0], r[1]) for r in store.engine.connect().exec_driver_sql(
                "SELECT text, embedding FROM chunks WHERE text LIKE '%Glaciers carve%'")
        ]
    stored = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
    expected = reference_embedding(e5_like, "passage: Ice\n" + text, "cls")  # title prefix, then the passage
    np.testing.assert_allclose(stored, expected, atol=2e-3)

    with Searcher(paths, model="intfloat/e5-small-v2", extra_models=[str(e5_like)]) as searcher:
        [hit] = [r for r in searcher.search("glaciers", mode="dense", top_k=10) if "Glaciers carve" in r.text]
        want = float(reference_embedding(e5_like, "query: glaciers", "cls") @ expected)
        assert hit.score == pytest.approx(want, abs=5e-3)  # the query was embedded with "query: "
