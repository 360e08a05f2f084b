"""A plain BERT's sentence encoder as an ONNX graph, built from ``config.json`` and ``model.safetensors``.

Why build it here rather than export it with torch and ship it: torch is
an optional extra, and a model fetched after installing (``models get``,
any catalogue BERT, or a folder the user points at) must run without it.
Exported graphs would also add 86-448 MiB per model to the package and be
no faster than this one, which writes ONNX Runtime's fused CPU kernels
directly (``com.microsoft`` ``Attention``, ``SkipLayerNormalization``,
``BiasGelu``): ORT's optimiser does not recover the fused attention from an
exported graph's MatMul/Softmax pattern.

The graph (:func:`build_graph`) depends only on the shapes in config.json
and the options: it names its weights and holds none. The weights
(:func:`load_weights`) are read from the safetensors with numpy at each
start, turned into the graph's layout (QKV packed, [in, out], token type 0
folded into the positions; int8 per output channel), and handed to ONNX
Runtime, which uses the arrays in place (:mod:`~desktop_search.embed.onnx_engine`).
No copy of the weights is written to disk, and neither ``onnx`` nor torch
is imported. The arithmetic is the torch encoder's (:mod:`~desktop_search.embed.encoder`)
and transformers' ``BertModel``: cosine 1.0000000 to them on MiniLM and
multilingual-e5 (``tests/embed/test_bert_graph.py``, ``benchmarks/bench_engines.py``).
"""
from __future__ import annotations

import json
import mmap
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from desktop_search.embed.onnx_proto import BOOL, FLOAT, INT32, INT64, Model, Node, Tensor, ValueInfo

BUILDER_VERSION = "1"  # bump when the graph or the weights' layout changes: cached graphs are then rebuilt
OPSET = 17  # LayerNormalization; the IR version is the lowest it allows, which older ORT releases still read
IR_VERSION = 8
MS_DOMAIN = "com.microsoft"
WORDS, MASK, OUTPUT = "word_vectors", "attention_mask", "sentence_embedding"
POOLING_MODES = ("mean", "cls", "max")
# The layers' matrices; int8 quantises these (the word table stays fp32: int8 there saves memory, not time).
MATRICES = ("qkv", "att_out", "inter", "ffn_out")

_ACTIVATIONS = ("gelu", "relu", "gelu_new", "gelu_pytorch_tanh")
_TANH_GELU = ("gelu_new", "gelu_pytorch_tanh")
_UNUSED = ("pooler.", "embeddings.position_ids")  # the pooler head is not used for sentence vectors
_SAFETENSORS_TYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I64": np.int64, "I32": np.int32,
                      "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_, "F64": np.float64}


class UnsupportedModelError(ValueError):
    """The folder is not a plain absolute-position BERT in safetensors; the message says what differs."""


@dataclass(frozen=True)
class BertConfig:
    """What the graph's shape depends on, from config.json."""

    hidden: int
    heads: int
    layers: int
    intermediate: int
    vocab: int
    positions: int
    type_vocab: int
    eps: float
    activation: str

    @classmethod
    def read(cls, folder: Path) -> BertConfig:
        """``config.json``, checked to be a plain BERT encoder this builder reproduces exactly."""
        try:
            cfg: dict[str, Any] = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UnsupportedModelError(f"{folder}: no readable config.json ({exc})") from exc
        problems = []
        if cfg.get("model_type") != "bert":
            problems.append(f"model_type is {cfg.get('model_type')!r}, not 'bert'")
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            problems.append(f"position_embedding_type is {cfg.get('position_embedding_type')!r}, not 'absolute'")
        if cfg.get("hidden_act", "gelu") not in _ACTIVATIONS:
            problems.append(f"hidden_act {cfg.get('hidden_act')!r} is not one of {', '.join(_ACTIVATIONS)}")
        if cfg.get("is_decoder") or cfg.get("add_cross_attention"):
            problems.append("it is a decoder or has cross-attention")
        sizes = ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size", "vocab_size",
                 "max_position_embeddings")
        missing = [k for k in sizes if not isinstance(cfg.get(k), int)]
        if missing:
            problems.append(f"config.json lacks integer {', '.join(missing)}")
        elif cfg["hidden_size"] % cfg["num_attention_heads"]:
            problems.append("hidden_size is not a multiple of num_attention_heads")
        if problems:
            raise UnsupportedModelError(f"{folder} is not a plain BERT: " + "; ".join(problems))
        return cls(hidden=cfg["hidden_size"], heads=cfg["num_attention_heads"], layers=cfg["num_hidden_layers"],
                   intermediate=cfg["intermediate_size"], vocab=cfg["vocab_size"],
                   positions=cfg["max_position_embeddings"], type_vocab=int(cfg.get("type_vocab_size", 2)),
                   eps=float(cfg.get("layer_norm_eps", 1e-12)), activation=cfg.get("hidden_act", "gelu"))

    def checkpoint_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor a BertModel checkpoint holds for this config, by transformers' names."""
        h, ff = self.hidden, self.intermediate
        shapes: dict[str, tuple[int, ...]] = {
            "embeddings.word_embeddings.weight": (self.vocab, h),
            "embeddings.position_embeddings.weight": (self.positions, h),
            "embeddings.token_type_embeddings.weight": (self.type_vocab, h),
            "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,),
        }
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            for name, out_in in (("attention.self.query", (h, h)), ("attention.self.key", (h, h)),
                                 ("attention.self.value", (h, h)), ("attention.output.dense", (h, h)),
                                 ("intermediate.dense", (ff, h)), ("output.dense", (h, ff))):
                shapes[p + name + ".weight"] = out_in
                shapes[p + name + ".bias"] = (out_in[0],)
            for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
                shapes[p + norm + ".weight"] = (h,)
                shapes[p + norm + ".bias"] = (h,)
        return shapes


@dataclass(frozen=True)
class GraphOptions:
    """How the graph computes, besides the model: pooling and the arithmetic of its matrices."""

    pooling: str = "mean"
    int8: bool = False
    # Matrices kept in fp32 in an int8 graph (MATRICES' names): "ffn_out" halves int8's error for a fifth of its speed.
    fp32_matrices: tuple[str, ...] = ()
    # int8 weights in 7 bits: on CPUs without int8 dot-product instructions, ORT's kernels can saturate with 8.
    reduce_range: bool = False

    def __post_init__(self) -> None:
        if self.pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, not {self.pooling!r}")
        if unknown := set(self.fp32_matrices) - set(MATRICES):
            raise ValueError(f"unknown matrices {sorted(unknown)}; the layers' are {MATRICES}")

    def quantized(self, matrix: str) -> bool:
        return self.int8 and matrix not in self.fp32_matrices

    def describe(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


# ---------------------------------------------------------------- the weights (numpy only)


@dataclass(frozen=True)
class Checkpoint:
    """A ``model.safetensors``: its tensors as arrays over the memory-mapped file (nothing is read until used)."""

    path: Path
    header: bytes  # the JSON header: every tensor's name, dtype and shape
    tensors: dict[str, np.ndarray]

    @classmethod
    def open(cls, path: Path) -> Checkpoint:
        """Map ``path``. bf16 tensors come as uint16 (numpy has no bf16); :func:`_float32` widens them."""
        try:
            with path.open("rb") as fh:
                size = int.from_bytes(fh.read(8), "little")
                header = fh.read(size)
                buffer = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            meta: dict[str, Any] = json.loads(header)
        except (OSError, ValueError) as exc:
            raise UnsupportedModelError(f"{path}: not a readable safetensors file ({exc})") from exc
        tensors = {}
        start = 8 + size
        for name, info in meta.items():
            if name == "__metadata__":
                continue
            dtype = _SAFETENSORS_TYPES.get(info.get("dtype"))
            if dtype is None:
                raise UnsupportedModelError(f"{path}: {name} has dtype {info.get('dtype')}, which is not read here")
            begin, end = info["data_offsets"]
            array: np.ndarray = np.frombuffer(buffer, dtype=dtype, count=(end - begin) // np.dtype(dtype).itemsize,
                                  offset=start + begin)
            tensors[name] = array.reshape(info["shape"]) if info["shape"] else array.reshape(())
        return cls(path, header, tensors)


def _float32(name: str, array: np.ndarray, header: dict[str, Any]) -> np.ndarray:
    """A checkpoint tensor as float32: fp32 as it is (a view of the file where aligned), fp16/bf16 widened."""
    dtype = header.get(name, {}).get("dtype")
    if dtype == "BF16":
        return (array.astype(np.uint32) << 16).view(np.float32)
    if array.dtype == np.float32 and array.flags.aligned:
        return array
    return array.astype(np.float32)


def _checkpoint_name(key: str) -> str | None:
    """A checkpoint's tensor name -> transformers' BertModel name (None: not used)."""
    key = key.removeprefix("bert.")
    if key.startswith(_UNUSED):
        return None
    if key.endswith(".gamma"):  # TF-era checkpoints
        return key.removesuffix(".gamma") + ".weight"
    if key.endswith(".beta"):
        return key.removesuffix(".beta") + ".bias"
    return key


def read_checkpoint(folder: Path, cfg: BertConfig) -> tuple[Checkpoint, dict[str, np.ndarray]]:
    """Every tensor a BertModel uses, as float32, by transformers' names; anything else is an error.

    A tensor the graph would not use (a relative-position table, an adapter)
    means the model computes something this graph does not: refuse it rather
    than embed wrongly.
    """
    path = folder / "model.safetensors"
    if not path.is_file():
        raise UnsupportedModelError(f"{folder}: no model.safetensors (weights only as a pickle need torch)")
    checkpoint = Checkpoint.open(path)
    header = json.loads(checkpoint.header)
    expected = cfg.checkpoint_shapes()
    weights: dict[str, np.ndarray] = {}
    unexpected = []
    for key, value in checkpoint.tensors.items():
        name = _checkpoint_name(key)
        if name is None:
            continue
        if name not in expected:
            unexpected.append(key)
            continue
        if tuple(value.shape) != expected[name]:
            raise UnsupportedModelError(f"{folder}: {key} has shape {tuple(value.shape)}, "
                                        f"config.json implies {expected[name]}")
        weights[name] = _float32(key, value, header)
    missing = sorted(set(expected) - set(weights))
    if missing or unexpected:
        raise UnsupportedModelError(f"{folder} is not a plain BERT: missing {missing[:3]}, unexpected {unexpected[:3]} "
                                    f"({len(missing)} and {len(unexpected)} in all)")
    return checkpoint, weights


def quantize_columns(w: np.ndarray, reduce_range: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output column of an [in, out] matrix: (int8 weights, float32 scales).

    Per column, not per tensor: one scale for a whole matrix is what made
    torch's dynamic quantisation lose 0.13 of cosine on MiniLM.
    """
    top = 63.0 if reduce_range else 127.0
    scale = (np.abs(w).max(axis=0) / top).astype(np.float32)
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(w / scale), -top, top).astype(np.int8, order="C")
    return q, scale


def prepare_weights(cfg: BertConfig, raw: dict[str, np.ndarray], options: GraphOptions) -> dict[str, np.ndarray]:
    """The graph's weights from a checkpoint's tensors, under the names :func:`build_graph` gives them
    ("l3.qkv.w"; "l3.qkv.w8" and "l3.qkv.scale" where int8). Not the word table: see :class:`Weights`."""
    out = {
        # Position + token type 0 (every input is one segment) as one table.
        "emb.pos": raw["embeddings.position_embeddings.weight"] + raw["embeddings.token_type_embeddings.weight"][0],
        "emb.ln.w": raw["embeddings.LayerNorm.weight"], "emb.ln.b": raw["embeddings.LayerNorm.bias"],
    }
    for i in range(cfg.layers):
        p, q = f"encoder.layer.{i}.", f"l{i}."
        matrices = {
            "qkv": np.concatenate([raw[p + f"attention.self.{x}.weight"] for x in ("query", "key", "value")]).T,
            "att_out": raw[p + "attention.output.dense.weight"].T,
            "inter": raw[p + "intermediate.dense.weight"].T,
            "ffn_out": raw[p + "output.dense.weight"].T,
        }
        out[q + "qkv.b"] = np.concatenate([raw[p + f"attention.self.{x}.bias"] for x in ("query", "key", "value")])
        for mine, theirs in (("att_out", "attention.output.dense"), ("inter", "intermediate.dense"),
                             ("ffn_out", "output.dense")):
            out[q + mine + ".b"] = raw[p + theirs + ".bias"]
        for name, w in matrices.items():  # [in, out]
            if options.quantized(name):
                out[q + name + ".w8"], out[q + name + ".scale"] = quantize_columns(w, options.reduce_range)
            else:
                out[q + name + ".w"] = np.ascontiguousarray(w)
        for mine, theirs in (("att_ln", "attention.output.LayerNorm"), ("ffn_ln", "output.LayerNorm")):
            out[q + mine + ".w"] = raw[p + theirs + ".weight"]
            out[q + mine + ".b"] = raw[p + theirs + ".bias"]
    return out


@dataclass(frozen=True)
class Weights:
    """A model's weights as the graph takes them: ``graph`` for ORT, and the word table read here."""

    checkpoint: Checkpoint  # the mapped file the arrays may be views of: kept open as long as they are used
    word_table: np.ndarray  # [vocab, hidden] float32
    graph: dict[str, np.ndarray]

    def words(self, ids: np.ndarray) -> np.ndarray:
        """The graph's ``word_vectors`` input for a batch of ids."""
        return np.take(self.word_table, ids, axis=0)


def load_weights(folder: Path, cfg: BertConfig, options: GraphOptions) -> Weights:
    """The weights of the model in ``folder``, read from its ``model.safetensors``."""
    checkpoint, raw = read_checkpoint(folder, cfg)
    return Weights(checkpoint, raw["embeddings.word_embeddings.weight"], prepare_weights(cfg, raw, options))


# ---------------------------------------------------------------- the graph


class _Graph:
    """Nodes and constants under unique names, and the weights they use; just enough for one encoder."""

    def __init__(self, cfg: BertConfig) -> None:
        self.cfg = cfg
        self.nodes: list[Node] = []
        self.constants: list[Tensor] = []
        self.weights: list[Tensor] = []
        self._weight_names: set[str] = set()
        self._count = 0
        self.scope = ""  # "l3." inside layer 3

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{self.scope}{hint}_{self._count}"

    def w(self, name: str, dtype: type = np.float32, shape: Sequence[int] = ()) -> str:
        """One of the model's weights, by its stable name (``scope`` prefixed), handed to ORT at session start."""
        name = self.scope + name
        if name not in self._weight_names:
            self._weight_names.add(name)
            self.weights.append(Tensor(name, np.dtype(dtype), tuple(shape)))
        return name

    def const(self, hint: str, value: Any, dtype: type = np.int64) -> str:
        """A small constant of the topology (axes, epsilons): inside the graph."""
        name = self._name(hint)
        self.constants.append(Tensor.of(name, np.asarray(value, dtype=dtype)))
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: str | None = None, outputs: int = 1,
           domain: str = "", output: str | None = None, **attributes: Any) -> list[str]:
        """One node; its outputs' names."""
        names = [output] if output else [self._name(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(Node(op_type, list(inputs), names, names[0], domain, attributes))
        return names


def _matmul(g: _Graph, x: str, matrix: str, options: GraphOptions) -> str:
    """x @ W, with W in fp32 or in int8 (activations quantised per batch, weights per column: ORT's
    DynamicQuantizeMatMul, what its quantize_dynamic yields after optimisation)."""
    h, ff = g.cfg.hidden, g.cfg.intermediate
    shape = {"att_out": (h, h), "inter": (h, ff), "ffn_out": (ff, h)}[matrix]
    if not options.quantized(matrix):
        return g.op("MatMul", [x, g.w(f"{matrix}.w", shape=shape)], matrix)[0]
    return g.op("DynamicQuantizeMatMul", [x, g.w(f"{matrix}.w8", np.int8, shape), g.w(f"{matrix}.scale", shape=shape[1:])],
                matrix, domain=MS_DOMAIN)[0]


def _attention(g: _Graph, x: str, mask32: str, options: GraphOptions) -> str:
    """Packed QKV projection, masked softmax and context in one kernel (QAttention in int8)."""
    h, heads = g.cfg.hidden, g.cfg.heads
    bias = g.w("qkv.b", shape=(3 * h,))
    if not options.quantized("qkv"):
        return g.op("Attention", [x, g.w("qkv.w", shape=(h, 3 * h)), bias, mask32], "attention", domain=MS_DOMAIN,
                    num_heads=heads)[0]
    xq, x_scale, x_zero = g.op("DynamicQuantizeLinear", [x], "quantized", outputs=3)
    inputs = [xq, g.w("qkv.w8", np.int8, (h, 3 * h)), bias, x_scale, g.w("qkv.scale", shape=(3 * h,)), mask32, x_zero]
    return g.op("QAttention", inputs, "attention", domain=MS_DOMAIN, num_heads=heads)[0]


def _skip_layer_norm(g: _Graph, y: str, residual: str, bias: str, norm: str) -> str:
    """LayerNorm(y + bias + residual) in one kernel."""
    h = (g.cfg.hidden,)
    return g.op("SkipLayerNormalization", [y, residual, g.w(f"{norm}.w", shape=h), g.w(f"{norm}.b", shape=h),
                                           g.w(f"{bias}.b", shape=h)], "skip_ln", domain=MS_DOMAIN,
                epsilon=g.cfg.eps)[0]


def _layer(g: _Graph, x: str, mask32: str, options: GraphOptions) -> str:
    x = _skip_layer_norm(g, _matmul(g, _attention(g, x, mask32, options), "att_out", options), x, "att_out", "att_ln")
    inter = _matmul(g, x, "inter", options)
    bias = g.w("inter.b", shape=(g.cfg.intermediate,))
    if g.cfg.activation == "relu":
        inter = g.op("Relu", [g.op("Add", [inter, bias])[0]])[0]
    else:  # BiasGelu is erf GELU, FastGelu the tanh approximation
        inter = g.op("FastGelu" if g.cfg.activation in _TANH_GELU else "BiasGelu", [inter, bias], "gelu",
                     domain=MS_DOMAIN)[0]
    return _skip_layer_norm(g, _matmul(g, inter, "ffn_out", options), x, "ffn_out", "ffn_ln")


def _pool(g: _Graph, hidden: str, mask_f: str, pooling: str) -> str:
    """[b, n, h] -> [b, h] over the tokens the mask keeps, as the torch engine pools."""
    if pooling == "cls":
        return g.op("Gather", [hidden, g.const("zero", 0)], axis=1)[0]
    keep = g.op("Unsqueeze", [mask_f, g.const("axes", [2])])[0]  # [b, n, 1]
    if pooling == "max":
        masked = g.op("Where", [g.op("Cast", [keep], to=BOOL)[0], hidden, g.const("neg_inf", -np.inf, np.float32)])[0]
        return g.op("ReduceMax", [masked], axes=[1], keepdims=0)[0]
    # The masked sum as one batched matmul: [b, 1, n] @ [b, n, h].
    summed = g.op("MatMul", [g.op("Unsqueeze", [mask_f, g.const("axes", [1])])[0], hidden])[0]
    count = g.op("Max", [g.op("ReduceSum", [keep, g.const("axes", [1])], keepdims=1)[0],
                         g.const("eps", 1e-9, np.float32)])[0]  # [b, 1, 1]
    return g.op("Squeeze", [g.op("Div", [summed, count])[0], g.const("axes", [1])])[0]


def build_graph(cfg: BertConfig, options: GraphOptions) -> tuple[Model, list[Tensor]]:
    """The encoder: the ids' rows of the word table (``word_vectors``, float32 [batch, seq, hidden]) and
    ``attention_mask`` (int64 [batch, seq]) in, ``sentence_embedding`` (float32 [batch, hidden], pooled
    over the mask and L2-normalised) out; and the weights it names, which ORT is handed from
    :func:`load_weights` (same names).

    The word lookup is the caller's (:meth:`Weights.words`): ORT copies every initializer it is handed
    into memory of its own, and the word table is most of a model (366 of 448 MiB for multilingual-e5's
    250k pieces). Read in numpy from the memory-mapped checkpoint, it costs no copy and no start-up time
    (0.3-0.8 s for multilingual-e5's session otherwise), and a batch's rows cost about a millisecond."""
    g = _Graph(cfg)
    h = cfg.hidden
    mask_f = g.op("Cast", [MASK], "mask_f", to=FLOAT)[0]
    # The mask as 2-D 0/1 (not the lengths form), so any padding is masked right.
    mask32 = g.op("Cast", [MASK], "mask32", to=INT32)[0]
    seq = g.op("Shape", [WORDS], "seq", start=1, end=2)[0]
    pos = g.op("Slice", [g.w("emb.pos", shape=(cfg.positions, h)), g.const("zero", [0]), seq, g.const("axes", [0])],
               "pos")[0]  # [n, h]
    x = g.op("LayerNormalization", [g.op("Add", [WORDS, pos])[0], g.w("emb.ln.w", shape=(h,)), g.w("emb.ln.b", shape=(h,))],
             "emb_ln", axis=-1, epsilon=cfg.eps)[0]
    for i in range(cfg.layers):
        g.scope = f"l{i}."
        x = _layer(g, x, mask32, options)
    g.scope = ""
    pooled = _pool(g, x, mask_f, options.pooling)
    norm = g.op("Max", [g.op("ReduceL2", [pooled], axes=[1], keepdims=1)[0], g.const("eps", 1e-12, np.float32)])[0]
    g.op("Div", [pooled, norm], output=OUTPUT)
    model = Model(
        nodes=g.nodes, initializers=[*g.constants, *g.weights],
        inputs=[ValueInfo(WORDS, FLOAT, ["batch", "seq", h]), ValueInfo(MASK, INT64, ["batch", "seq"])],
        outputs=[ValueInfo(OUTPUT, FLOAT, ["batch", h])],
        opsets={"": OPSET, MS_DOMAIN: 1}, ir_version=IR_VERSION, producer="desktop-search",
        producer_version=BUILDER_VERSION, graph_name="sentence_encoder",
    )
    return model, g.weights

