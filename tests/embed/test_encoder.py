"""The plain BERT encoder against transformers' BertModel, and when it steps aside."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from desktop_search.embed.embedder import Embedder
from desktop_search.embed.engine import Precision
from desktop_search.embed.models import spec_from_folder

pytestmark = pytest.mark.torch  # torch is imported inside the tests: collecting this file needs no torch

TEXTS = ["short", "a longer sentence about statins and muscle pain " * 3, "日本の首都は東京です", "x " * 90]


def _reference(folder: Path, texts: list[str]) -> tuple[Any, Any, Any]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    batch = tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    model = AutoModel.from_pretrained(str(folder), attn_implementation="sdpa").eval()
    with torch.inference_mode():
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    return batch["input_ids"], batch["attention_mask"], hidden


def test_plain_bert_gives_transformers_hidden_states(tiny_model: Path) -> None:
    import torch

    from desktop_search.embed.encoder import PlainBert, load_plain_bert

    ids, mask, expected = _reference(tiny_model, TEXTS)
    model = load_plain_bert(tiny_model, torch.float32)
    assert isinstance(model, PlainBert)
    with torch.inference_mode():
        hidden = model(ids, mask).last_hidden_state
    keep = mask.bool()  # padding positions are never pooled
    torch.testing.assert_close(hidden[keep], expected[keep], atol=1e-5, rtol=1e-5)


def test_the_embedder_loads_plain_berts_without_transformers(tiny_model: Path) -> None:
    code = ("import sys\nfrom desktop_search.embed.embedder import Embedder\n"
            "from desktop_search.embed.models import spec_from_folder\n"
            "from pathlib import Path\n"
            f"e = Embedder(spec_from_folder(Path({str(tiny_model)!r})), device='cpu', engine='torch')\n"
            "e.encode(['statins and muscle pain'])\n"
            "print(type(e.runner.model).__name__, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["PlainBert", "False"]


@pytest.mark.parametrize("change", ["relative_position", "pickle_weights", "other_architecture"])
def test_other_models_load_through_transformers_with_the_same_vectors(tiny_model: Path, tmp_path: Path,
                                                                       change: str) -> None:
    import torch

    from desktop_search.embed.encoder import load_plain_bert

    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "config.json").read_text())
    if change == "relative_position":
        config["position_embedding_type"] = "relative_key"  # an option PlainBert does not implement
    elif change == "other_architecture":
        config["model_type"] = "distilbert-like"
    else:
        from safetensors.torch import load_file

        torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
        (folder / "model.safetensors").unlink()
    (folder / "config.json").write_text(json.dumps(config))
    assert load_plain_bert(folder, torch.float32) is None
    if change == "pickle_weights":  # the same weights: the same vectors, through transformers
        fallback = Embedder(spec_from_folder(folder), device="cpu", precision=Precision.FP32)  # not ONNX's: torch's
        assert type(fallback.runner.model).__name__ == "BertModel"  # type: ignore[attr-defined]  # a TorchRunner
        plain = Embedder(spec_from_folder(tiny_model), device="cpu", precision=Precision.FP32)
        np.testing.assert_allclose(fallback.encode(TEXTS), plain.encode(TEXTS), atol=1e-5)
