"""A plain BERT sentence encoder in numpy: the reference the engines are checked against without torch.

Written from the arithmetic of transformers' ``BertModel`` (post-LayerNorm
layers, erf or tanh GELU, absolute positions, token type 0), as plainly as
possible and slowly: for the tiny test models only.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(x: np.ndarray, act: str) -> np.ndarray:
    if act == "relu":
        return np.maximum(x, 0)
    if act in ("gelu_new", "gelu_pytorch_tanh"):
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def numpy_bert(folder: Path, ids: np.ndarray, mask: np.ndarray, pooling: str = "mean") -> np.ndarray:
    """Pooled, L2-normalised vectors [batch, hidden] of right-padded ``ids`` under ``mask``, in float64."""
    cfg = json.loads((folder / "config.json").read_text())
    t = {k.removeprefix("bert."): v.astype(np.float64) for k, v in load_file(str(folder / "model.safetensors")).items()}
    eps, heads, act = cfg.get("layer_norm_eps", 1e-12), cfg["num_attention_heads"], cfg.get("hidden_act", "gelu")
    b, n = ids.shape
    h = cfg["hidden_size"]
    d = h // heads

    def linear(x: np.ndarray, name: str) -> np.ndarray:
        return x @ t[name + ".weight"].T + t[name + ".bias"]

    x = (t["embeddings.word_embeddings.weight"][ids] + t["embeddings.position_embeddings.weight"][:n]
         + t["embeddings.token_type_embeddings.weight"][0])
    x = _layer_norm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], eps)
    blocked = np.where(mask[:, None, None, :] > 0, 0.0, -1e30)  # [b, 1, 1, n]: padding is never attended to
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def heads_of(y: np.ndarray) -> np.ndarray:
            return y.reshape(b, n, heads, d).transpose(0, 2, 1, 3)

        q, k, v = (heads_of(linear(x, p + f"attention.self.{part}")) for part in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + blocked
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        context = (weights @ v).transpose(0, 2, 1, 3).reshape(b, n, h)
        x = _layer_norm(x + linear(context, p + "attention.output.dense"), t[p + "attention.output.LayerNorm.weight"],
                        t[p + "attention.output.LayerNorm.bias"], eps)
        inner = _gelu(linear(x, p + "intermediate.dense"), act)
        x = _layer_norm(x + linear(inner, p + "output.dense"), t[p + "output.LayerNorm.weight"],
                        t[p + "output.LayerNorm.bias"], eps)
    keep = mask[:, :, None].astype(np.float64)
    if pooling == "cls":
        pooled = x[:, 0]
    elif pooling == "max":
        pooled = np.where(keep > 0, x, -np.inf).max(1)
    else:
        pooled = (x * keep).sum(1) / np.maximum(keep.sum(1), 1e-9)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
