"""The ONNX graph built from a BERT's files: the reference's vectors, its int8, the file format, and refusals."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from desktop_search.embed import bert_graph
from desktop_search.embed.bert_graph import (
    OUTPUT,
    BertConfig,
    GraphOptions,
    UnsupportedModelError,
    build_graph,
    load_weights,
    quantize_columns,
)
from tests.embed.numpy_bert import numpy_bert

CFG: dict[str, Any] = {"model_type": "bert", "hidden_size": 32, "num_attention_heads": 4, "num_hidden_layers": 2,
       "intermediate_size": 64, "vocab_size": 100, "max_position_embeddings": 40, "type_vocab_size": 2,
       "layer_norm_eps": 1e-12, "hidden_act": "gelu", "position_embedding_type": "absolute"}


def lively_bert(folder: Path, prefix: str = "", dtype: str = "F32", **changes: Any) -> Path:
    """A random BERT whose biases and norms are not trivial (so a mistake shows in the vectors), in
    transformers' layout: ``prefix`` "bert." as BertForX checkpoints have; ``dtype`` F16 or BF16 as saved."""
    cfg = CFG | changes
    rng = np.random.default_rng(0)
    h, ff = cfg["hidden_size"], cfg["intermediate_size"]

    def r(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    t = {"embeddings.position_ids": np.arange(cfg["max_position_embeddings"], dtype=np.int64)[None],  # unused
         "embeddings.word_embeddings.weight": r(cfg["vocab_size"], h),
         "embeddings.position_embeddings.weight": r(cfg["max_position_embeddings"], h),
         "embeddings.token_type_embeddings.weight": r(2, h),
         "embeddings.LayerNorm.weight": 1 + r(h), "embeddings.LayerNorm.bias": r(h),
         "pooler.dense.weight": r(h, h), "pooler.dense.bias": r(h)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for name, (o, n) in {"attention.self.query": (h, h), "attention.self.key": (h, h),
                             "attention.self.value": (h, h), "attention.output.dense": (h, h),
                             "intermediate.dense": (ff, h), "output.dense": (h, ff)}.items():
            t[p + name + ".weight"], t[p + name + ".bias"] = r(o, n), r(o)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + norm + ".weight"], t[p + norm + ".bias"] = 1 + r(h), r(h)
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, np.ndarray] = {prefix + k: v for k, v in t.items()}
    if dtype == "F16":
        tensors = {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in tensors.items()}
    save_file(tensors, str(folder / "model.safetensors"))
    if dtype == "BF16":  # numpy has no bf16: write the top halves of the fp32 values, and say so in the header
        _rewrite_as_bf16(folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def _rewrite_as_bf16(path: Path) -> None:
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header, data = json.loads(raw[8 : 8 + size]), raw[8 + size :]
    out, offset = bytearray(), 0
    for _name, info in sorted(((k, v) for k, v in header.items() if k != "__metadata__"),
                              key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = info["data_offsets"]
        if info["dtype"] == "F32":
            halves = (np.frombuffer(data[begin:end], np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes()
            info["dtype"] = "BF16"
        else:
            halves = data[begin:end]
        info["data_offsets"] = [offset, offset + len(halves)]
        out += halves
        offset += len(halves)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + bytes(out))


def run_graph(folder: Path, options: GraphOptions, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    cfg = BertConfig.read(folder)
    model, placeholders = build_graph(cfg, options)
    weights = load_weights(folder, cfg, options)
    assert {t.name for t in placeholders} == set(weights.graph)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.add_external_initializers(list(weights.graph), [ort.OrtValue.ortvalue_from_numpy(a) for a in weights.graph.values()])
    session = ort.InferenceSession(model.encode(), so, providers=["CPUExecutionProvider"])
    out: np.ndarray = session.run([OUTPUT], {"word_vectors": weights.words(ids), "attention_mask": mask})[0]
    return out


def batch() -> tuple[np.ndarray, np.ndarray]:
    """Three texts of 17, 9 and 3 tokens, right-padded."""
    ids = np.random.default_rng(1).integers(1, 100, (3, 17))
    mask = np.ones_like(ids)
    mask[1, 9:] = mask[2, 3:] = 0
    ids[mask == 0] = 0
    return ids, mask


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
@pytest.mark.parametrize("act", ["gelu", "gelu_new", "relu"])
def test_the_graph_gives_the_reference_vectors(tmp_path: Path, pooling: str, act: str) -> None:
    folder = lively_bert(tmp_path / "m", hidden_act=act)
    ids, mask = batch()
    got = run_graph(folder, GraphOptions(pooling=pooling), ids, mask)
    np.testing.assert_allclose(got, numpy_bert(folder, ids, mask, pooling), atol=2e-6)


@pytest.mark.parametrize(("prefix", "dtype"), [("bert.", "F32"), ("", "F16"), ("", "BF16")])
def test_prefixed_and_half_precision_checkpoints_are_read(tmp_path: Path, prefix: str, dtype: str) -> None:
    folder = lively_bert(tmp_path / "m", prefix=prefix, dtype=dtype)
    plain = lively_bert(tmp_path / "plain")  # the same values, in fp32 and without the prefix
    cfg = BertConfig.read(folder)
    _, widened = bert_graph.read_checkpoint(folder, cfg)
    _, exact = bert_graph.read_checkpoint(plain, cfg)
    for name, value in exact.items():
        expected = {"F32": value, "F16": value.astype(np.float16).astype(np.float32),
                    "BF16": (value.view(np.uint32) & 0xFFFF0000).view(np.float32)}[dtype]
        np.testing.assert_array_equal(widened[name], expected)
    # The reference reads the widened values too.
    save_file({k: np.ascontiguousarray(v) for k, v in widened.items()}, str(plain / "model.safetensors"))
    ids, mask = batch()
    np.testing.assert_allclose(run_graph(folder, GraphOptions(), ids, mask), numpy_bert(plain, ids, mask), atol=2e-6)


def test_padding_does_not_change_a_vector(tmp_path: Path) -> None:
    folder = lively_bert(tmp_path / "m")
    ids, mask = batch()
    batched = run_graph(folder, GraphOptions(), ids, mask)
    alone = np.concatenate([run_graph(folder, GraphOptions(), ids[i : i + 1, : mask[i].sum()],
                                      mask[i : i + 1, : mask[i].sum()]) for i in range(3)])
    np.testing.assert_allclose(batched, alone, atol=1e-6)


def test_the_word_table_is_read_in_place_from_the_file(tmp_path: Path) -> None:
    folder = lively_bert(tmp_path / "m")
    cfg = BertConfig.read(folder)
    weights = load_weights(folder, cfg, GraphOptions())
    assert weights.word_table.base is not None and not weights.word_table.flags.owndata  # the mapped file
    assert "emb.word" not in weights.graph  # ORT would copy it


def test_int8_is_per_column_symmetric_and_close(tmp_path: Path) -> None:
    w = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32) * np.arange(1, 9)  # columns of 8 scales
    q, scale = quantize_columns(w)
    assert q.dtype == np.int8 and q.flags.c_contiguous and scale.shape == (8,)
    assert np.abs(q).max(axis=0).tolist() == [127] * 8  # each column uses its whole range
    np.testing.assert_allclose(q * scale, w, atol=scale.max() / 2 + 1e-6)
    assert np.abs(quantize_columns(w, reduce_range=True)[0]).max() == 63  # 7 bits where VNNI is missing
    folder = lively_bert(tmp_path / "m")
    ids, mask = batch()
    fp32 = run_graph(folder, GraphOptions(), ids, mask)
    for options in (GraphOptions(int8=True), GraphOptions(int8=True, fp32_matrices=("ffn_out",)),
                    GraphOptions(int8=True, reduce_range=True)):
        cosine = (run_graph(folder, options, ids, mask) * fp32).sum(axis=1)
        assert cosine.min() > 0.98, (options, cosine)


def test_int8_is_what_onnx_runtimes_own_quantiser_makes(tmp_path: Path) -> None:
    """Dynamic int8 written from numpy equals ORT's quantize_dynamic (per channel, int8 weights) of the fp32 graph."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder = lively_bert(tmp_path / "m")
    ids, mask = batch()
    cfg = BertConfig.read(folder)
    model, _ = build_graph(cfg, GraphOptions())
    weights = load_weights(folder, cfg, GraphOptions())
    full = onnx.load_model_from_string(model.encode())
    for init in full.graph.initializer:  # the weights inside, as quantize_dynamic needs them
        if init.name in weights.graph:
            init.CopyFrom(onnx.numpy_helper.from_array(weights.graph[init.name], init.name))
    src, dst = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    onnx.save(full, str(src))
    quantize_dynamic(src, dst, per_channel=True, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Attention"],
                     extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT})
    session = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    theirs = session.run([OUTPUT], {"word_vectors": weights.words(ids), "attention_mask": mask})[0]
    np.testing.assert_allclose(run_graph(folder, GraphOptions(int8=True), ids, mask), theirs, atol=1e-6)


def test_the_file_is_what_onnx_itself_would_write(tmp_path: Path) -> None:
    """onnx_proto's bytes parse, field for field, into the model onnx.helper builds from the same description."""
    import onnx
    from onnx import helper

    cfg = BertConfig.read(lively_bert(tmp_path / "m"))
    model, _ = build_graph(cfg, GraphOptions(int8=True, pooling="max"))
    ours = onnx.load_model_from_string(model.encode())

    def tensor(t: Any) -> onnx.TensorProto:
        if t.array is not None:
            return onnx.numpy_helper.from_array(t.array, t.name)
        out = onnx.TensorProto(name=t.name, data_type=helper.np_dtype_to_tensor_dtype(t.dtype), dims=t.shape,
                               data_location=onnx.TensorProto.EXTERNAL)
        out.external_data.add(key="location", value="in-memory")
        return out

    def info(v: Any) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(v.name, v.elem_type, list(v.dims))

    graph = helper.make_graph(
        [helper.make_node(n.op_type, n.inputs, n.outputs, name=n.name, domain=n.domain or None,
                          **dict[str, Any](sorted(n.attributes.items()))) for n in model.nodes],
        model.graph_name, [info(v) for v in model.inputs], [info(v) for v in model.outputs],
        [tensor(t) for t in model.initializers])
    theirs = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in model.opsets.items()],
                               producer_name=model.producer, producer_version=model.producer_version)
    theirs.ir_version = model.ir_version
    assert ours == theirs
    assert bert_graph.IR_VERSION == helper.find_min_ir_version_for([helper.make_opsetid("", bert_graph.OPSET)])


@pytest.mark.parametrize(("change", "reason"), [
    ({"model_type": "mpnet"}, "model_type is 'mpnet'"),
    ({"position_embedding_type": "relative_key"}, "position_embedding_type"),
    ({"hidden_act": "silu"}, "hidden_act 'silu'"),
    ({"is_decoder": True}, "decoder"),
    ({"num_attention_heads": 5}, "multiple of num_attention_heads"),
])
def test_other_architectures_are_refused_with_the_reason(tmp_path: Path, change: dict, reason: str) -> None:
    folder = lively_bert(tmp_path / "m")
    (folder / "config.json").write_text(json.dumps(CFG | change))
    with pytest.raises(UnsupportedModelError, match=reason):
        BertConfig.read(folder)


def test_weights_the_graph_would_not_use_or_lacks_are_refused(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    folder = lively_bert(tmp_path / "m")
    cfg = BertConfig.read(folder)
    tensors = load_file(str(folder / "model.safetensors"))
    save_file(tensors | {"encoder.relative_attention_bias.weight": np.zeros((32, 4), np.float32)},
              str(folder / "model.safetensors"))
    with pytest.raises(UnsupportedModelError, match="unexpected"):
        load_weights(folder, cfg, GraphOptions())
    del tensors["encoder.layer.1.output.dense.bias"]
    save_file(tensors, str(folder / "model.safetensors"))
    with pytest.raises(UnsupportedModelError, match="missing"):
        load_weights(folder, cfg, GraphOptions())
    (folder / "model.safetensors").unlink()
    with pytest.raises(UnsupportedModelError, match="no model.safetensors"):
        load_weights(folder, cfg, GraphOptions())
