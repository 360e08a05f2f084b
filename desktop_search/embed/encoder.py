"""A plain BERT encoder in torch alone, for models whose config is a plain BERT.

Every model in the catalogue (all-MiniLM, multilingual-e5, bge, e5) is one.
transformers' modelling code costs 2-3 s of imports in every fresh process:
each `desktop-search search`, the window's first query, every index run.
This is the same arithmetic (embeddings, self-attention through SDPA, GELU
feed-forward, post-LayerNorm) from the same ``model.safetensors``, checked
against transformers' ``BertModel`` to 1e-5 in the tests. A model this does
not cover (another architecture, an option it does not implement, weights
only as a pickle) loads through transformers' ``AutoModel`` instead.
"""
from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 - torch's own spelling

logger = logging.getLogger(__name__)

def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu, "relu": F.relu, "gelu_new": _gelu_tanh, "gelu_pytorch_tanh": _gelu_tanh}
_UNUSED = ("pooler.", "embeddings.position_ids")  # the pooler head is not used for sentence vectors
# Inside a layer, transformers' names -> this module's, the longer names first.
_LAYER_NAMES = (("attention.self.", ""), ("attention.output.dense.", "attention_out."),
                ("attention.output.LayerNorm.", "attention_norm."), ("intermediate.dense.", "intermediate."),
                ("output.dense.", "output."), ("output.LayerNorm.", "output_norm."))


class EncoderOutput(NamedTuple):
    last_hidden_state: torch.Tensor


class _Layer(nn.Module):
    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        size, eps = cfg["hidden_size"], cfg.get("layer_norm_eps", 1e-12)
        self.heads = cfg["num_attention_heads"]
        self.query, self.key, self.value = (nn.Linear(size, size) for _ in range(3))
        self.attention_out = nn.Linear(size, size)
        self.attention_norm = nn.LayerNorm(size, eps=eps)
        self.intermediate = nn.Linear(size, cfg["intermediate_size"])
        self.output = nn.Linear(cfg["intermediate_size"], size)
        self.output_norm = nn.LayerNorm(size, eps=eps)
        self.act = _ACTIVATIONS[cfg.get("hidden_act", "gelu")]

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, n, size = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, size // self.heads).transpose(1, 2)

        att = F.scaled_dot_product_attention(heads(self.query(x)), heads(self.key(x)), heads(self.value(x)),
                                             attn_mask=keep)
        x = self.attention_norm(x + self.attention_out(att.transpose(1, 2).reshape(b, n, size)))
        return self.output_norm(x + self.output(self.act(self.intermediate(x))))


class PlainBert(nn.Module):
    """``BertModel`` without its pooler: input ids and mask in, last hidden state out."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        size = cfg["hidden_size"]

        def table(rows: int) -> nn.Embedding:
            # Uninitialised (the weights are loaded next): a random init of a
            # 250k-word table costs more than reading it from disk.
            return nn.Embedding(rows, size, _weight=torch.empty(rows, size))

        self.word_embeddings = table(cfg["vocab_size"])
        self.position_embeddings = table(cfg["max_position_embeddings"])
        self.token_type_embeddings = table(cfg.get("type_vocab_size", 2))
        self.embedding_norm = nn.LayerNorm(size, eps=cfg.get("layer_norm_eps", 1e-12))
        self.layers = nn.ModuleList(_Layer(cfg) for _ in range(cfg["num_hidden_layers"]))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> EncoderOutput:
        n = input_ids.shape[1]
        positions = torch.arange(n, device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions) + self.token_type_embeddings.weight[0]
        x = self.embedding_norm(x)
        keep = attention_mask.bool()[:, None, None, :]  # every query attends to the real tokens only
        for layer in self.layers:
            x = layer(x, keep)
        return EncoderOutput(x)


def _state_key(key: str) -> str | None:
    """transformers' parameter name -> this module's (None: not used here)."""
    key = key.removeprefix("bert.")
    if key.startswith(_UNUSED):
        return None
    if key.startswith("embeddings."):
        return key.removeprefix("embeddings.").replace("LayerNorm.", "embedding_norm.")
    key = key.replace("encoder.layer.", "layers.", 1)
    for old, new in _LAYER_NAMES:
        if f".{old}" in key:
            return key.replace(f".{old}", f".{new}", 1)
    return key


def _plain(cfg: dict[str, Any]) -> bool:
    sizes = ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size", "vocab_size",
             "max_position_embeddings")
    return (cfg.get("model_type") == "bert" and cfg.get("position_embedding_type", "absolute") == "absolute"
            and cfg.get("hidden_act", "gelu") in _ACTIVATIONS and not cfg.get("is_decoder")
            and not cfg.get("add_cross_attention") and all(isinstance(cfg.get(k), int) for k in sizes)
            and cfg["hidden_size"] % cfg["num_attention_heads"] == 0)


def load_plain_bert(folder: Path, dtype: torch.dtype) -> PlainBert | None:
    """The model in ``folder`` as a :class:`PlainBert`, or None when it is not a plain BERT in safetensors."""
    weights = folder / "model.safetensors"
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not weights.is_file() or not _plain(cfg):
        return None
    from safetensors.torch import load_file

    state = {}
    for key, value in load_file(str(weights)).items():
        mine = _state_key(key)
        if mine is not None:
            state[mine] = value
    model = PlainBert(cfg)
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if missing or unexpected:
        logger.info("%s is not a plain BERT (missing %s, unexpected %s): loading it with transformers",
                    folder, missing[:3], unexpected[:3])
        return None
    logger.debug("Loaded %s as a plain BERT (%d layers, %.0fM parameters)", folder, len(model.layers),
                 sum(math.prod(p.shape) for p in model.parameters()) / 1e6)
    return model.to(dtype).eval()
