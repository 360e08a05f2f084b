"""Just enough of the ONNX file format to write a graph, without the ``onnx`` package.

An ONNX model is a protocol buffer (``onnx/onnx.proto``). The ``onnx``
package that builds one costs 1.5-1.7 s of imports and 24 MiB installed,
for a graph of a few dozen nodes whose weights ONNX Runtime is handed as
arrays anyway. This writes the handful of message types the encoder graph
uses, in protobuf's wire format, and nothing else: no reading, no checking
(ONNX Runtime checks the graph when it loads it, and the tests compare what
this writes with what ``onnx.helper`` builds).

Field numbers are onnx.proto's. Repeated numbers are written unpacked, as
proto2 (onnx.proto's syntax) does by default; parsers accept both forms.
"""
from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

# TensorProto.DataType
FLOAT, UINT8, INT8, INT32, INT64, BOOL, FLOAT16 = 1, 2, 3, 6, 7, 9, 10
_NUMPY_TYPES = {np.dtype(np.float32): FLOAT, np.dtype(np.uint8): UINT8, np.dtype(np.int8): INT8,
                np.dtype(np.int32): INT32, np.dtype(np.int64): INT64, np.dtype(np.bool_): BOOL,
                np.dtype(np.float16): FLOAT16}
# AttributeProto.AttributeType
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_INTS = 1, 2, 3, 7
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


def data_type(dtype: np.dtype) -> int:
    """The ONNX element type of a numpy dtype."""
    try:
        return _NUMPY_TYPES[np.dtype(dtype)]
    except KeyError:
        raise ValueError(f"no ONNX element type for {dtype}") from None


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64: two's complement, ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _bytes(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _str(number: int, value: str) -> bytes:
    return _bytes(number, value.encode("utf-8"))


def _float(number: int, value: float) -> bytes:
    return _varint(number << 3 | 5) + struct.pack("<f", value)


@dataclass(frozen=True)
class Tensor:
    """A TensorProto: a constant with its data, or (``array`` None) a weight named for ORT to be handed."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    array: np.ndarray | None = None

    @classmethod
    def of(cls, name: str, array: np.ndarray) -> Tensor:
        return cls(name, array.dtype, tuple(array.shape), np.asarray(array, order="C"))  # 0-d stays 0-d

    def encode(self) -> bytes:
        out = b"".join(_int(1, d) for d in self.shape) + _int(2, data_type(self.dtype)) + _str(8, self.name)
        if self.array is not None:
            return out + _bytes(9, self.array.astype(self.array.dtype.newbyteorder("<"), copy=False).tobytes())
        # Data "in memory": ORT takes it from SessionOptions.add_external_initializers, never from a file.
        location = _str(1, "location") + _str(2, "in-memory")
        return out + _bytes(13, location) + _int(14, _EXTERNAL)


@dataclass(frozen=True)
class Node:
    """A NodeProto; attributes are ints, floats, strings or lists of ints."""

    op_type: str
    inputs: Sequence[str]
    outputs: Sequence[str]
    name: str
    domain: str = ""
    attributes: dict[str, int | float | str | Sequence[int]] = field(default_factory=dict)

    def encode(self) -> bytes:
        out = b"".join(_str(1, i) for i in self.inputs) + b"".join(_str(2, o) for o in self.outputs)
        out += _str(3, self.name) + _str(4, self.op_type)
        for key, value in sorted(self.attributes.items()):
            out += _bytes(5, _attribute(key, value))
        return out + (_str(7, self.domain) if self.domain else b"")


def _attribute(name: str, value: int | float | str | Sequence[int]) -> bytes:
    head = _str(1, name)
    if isinstance(value, bool | int):
        return head + _int(3, int(value)) + _int(20, _ATTR_INT)
    if isinstance(value, float):
        return head + _float(2, value) + _int(20, _ATTR_FLOAT)
    if isinstance(value, str):
        return head + _bytes(4, value.encode("utf-8")) + _int(20, _ATTR_STRING)
    return head + b"".join(_int(8, v) for v in value) + _int(20, _ATTR_INTS)


@dataclass(frozen=True)
class ValueInfo:
    """A graph input or output: a tensor of ``elem_type`` whose dims are sizes or symbolic names."""

    name: str
    elem_type: int
    dims: Sequence[int | str]

    def encode(self) -> bytes:
        dims = b"".join(_bytes(1, _int(1, d) if isinstance(d, int) else _str(2, d)) for d in self.dims)
        tensor = _int(1, self.elem_type) + _bytes(2, dims)
        return _str(1, self.name) + _bytes(2, _bytes(1, tensor))


@dataclass
class Model:
    """A ModelProto with one graph."""

    nodes: list[Node]
    initializers: list[Tensor]
    inputs: list[ValueInfo]
    outputs: list[ValueInfo]
    opsets: dict[str, int]  # domain ("" for ONNX's own) -> version
    ir_version: int
    producer: str
    producer_version: str
    metadata: dict[str, str] = field(default_factory=dict)
    graph_name: str = "graph"

    def encode(self) -> bytes:
        """The model's bytes. The metadata comes last, so a file cut short loses it and is known to be incomplete."""
        graph = (b"".join(_bytes(1, n.encode()) for n in self.nodes) + _str(2, self.graph_name)
                 + b"".join(_bytes(5, t.encode()) for t in self.initializers)
                 + b"".join(_bytes(11, v.encode()) for v in self.inputs)
                 + b"".join(_bytes(12, v.encode()) for v in self.outputs))
        out = _int(1, self.ir_version) + _str(2, self.producer) + _str(3, self.producer_version) + _bytes(7, graph)
        out += b"".join(_bytes(8, _str(1, domain) + _int(2, version))
                        for domain, version in self.opsets.items())
        out += b"".join(_bytes(14, _str(1, k) + _str(2, v)) for k, v in self.metadata.items())
        return out
