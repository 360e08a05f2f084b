"""Which engine and precision ``auto`` takes for the hardware, what an index's own precision decides, and that
the two engines give the same vectors (so one index is searched by either)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from desktop_search.embed import engine
from desktop_search.embed.engine import Arithmetic, Engine, Precision, choose, follow_index
from desktop_search.embed.hardware import CpuFeatures, _linux_features
from desktop_search.errors import UserFacingError

CPU_ONNX_FP32 = Arithmetic(Engine.ONNX, "cpu", Precision.FP32)


@pytest.fixture
def computer(monkeypatch: pytest.MonkeyPatch):
    """Sets what this computer has: torch installed or not, a CPU with native bf16 or not; never a GPU."""

    def set_up(torch: bool, bf16: bool) -> None:
        monkeypatch.setattr(engine, "torch_installed", lambda: torch)
        monkeypatch.setattr(engine, "gpu_possible", lambda: False)
        monkeypatch.setattr(engine, "cpu_features", lambda: CpuFeatures(native_bf16=bf16))

    return set_up


@pytest.mark.parametrize("bf16", [False, True])
def test_the_default_install_runs_onnx_runtime_on_the_cpu(computer, bf16: bool) -> None:
    computer(torch=False, bf16=bf16)
    assert choose() == Arithmetic(Engine.ONNX, "cpu", engine.ONNX_DEFAULT)
    assert choose(precision="fp32") == CPU_ONNX_FP32
    assert choose(precision="int8") == Arithmetic(Engine.ONNX, "cpu", Precision.INT8)
    for request in ({"engine": "torch"}, {"precision": "bf16"}, {"device": "cuda"}):
        with pytest.raises(UserFacingError, match=r"needs the torch extra: pip install 'desktop-search\[torch\]'"):
            choose(**request)


def test_with_torch_auto_takes_bf16_where_the_cpu_computes_it(computer) -> None:
    computer(torch=True, bf16=True)
    assert choose() == Arithmetic(Engine.TORCH, "cpu", Precision.BF16)
    assert choose(engine="onnx") == Arithmetic(Engine.ONNX, "cpu", engine.ONNX_DEFAULT)
    assert choose(precision="bf16") == Arithmetic(Engine.TORCH, "cpu", Precision.BF16)
    assert choose(precision="fp32") == CPU_ONNX_FP32  # fp32 is ONNX Runtime's unless torch is asked for
    assert choose(engine="torch", precision="fp32") == Arithmetic(Engine.TORCH, "cpu", Precision.FP32)
    computer(torch=True, bf16=False)  # emulated bf16 is slower than fp32: ONNX Runtime
    assert choose() == Arithmetic(Engine.ONNX, "cpu", engine.ONNX_DEFAULT)
    assert choose(engine="torch") == Arithmetic(Engine.TORCH, "cpu", Precision.FP32)


@pytest.mark.parametrize(("request_", "message"), [
    ({"engine": "onnx", "precision": "bf16"}, "ONNX Runtime has no bf16"),
    ({"engine": "torch", "precision": "int8"}, "int8 runs on ONNX Runtime"),
    ({"precision": "fp16"}, "fp16 runs on NVIDIA GPUs"),
    ({"engine": "onnx", "device": "cuda"}, "ONNX Runtime runs on the CPU here"),
    ({"engine": "tpu"}, "Unknown engine 'tpu'"),
    ({"precision": "fp8"}, "Unknown precision 'fp8'"),
])
def test_impossible_combinations_say_what_to_use(computer, request_: dict, message: str) -> None:
    computer(torch=True, bf16=True)
    with pytest.raises(UserFacingError, match=message):
        choose(**request_)


def test_auto_follows_an_index_s_own_precision_family(computer, monkeypatch: pytest.MonkeyPatch) -> None:
    computer(torch=False, bf16=False)
    int8 = Precision.INT8
    assert follow_index("auto", "int8", query=False) == (int8, None)  # an update goes on in int8
    assert follow_index("auto", "int8", query=True) == (engine.QUERY_PRECISION_FOR_INT8, None)
    assert follow_index("auto", "bf16,fp32", query=True) == (Precision.FP32, None)  # any float index: fp32 queries
    assert follow_index("auto", None, query=False) == (Precision.AUTO, None)  # a new index: the fastest here
    assert follow_index("auto", None, query=True) == (Precision.FP32, None)  # nothing indexed yet
    assert follow_index("bf16", "fp32", query=True) == (Precision.BF16, None)  # one family: no note
    # An update of a float index stays float: auto's own choice when it is a float one, else fp32.
    assert follow_index("auto", "fp32", query=False) == (Precision.AUTO, None)
    monkeypatch.setattr(engine, "ONNX_DEFAULT", int8)  # were int8 the CPU default
    assert follow_index("auto", "fp32", query=False) == (Precision.FP32, None)
    assert follow_index("auto", None, query=False) == (Precision.AUTO, None)  # a new index: int8 then


@pytest.mark.parametrize(("requested", "recorded", "made"), [("int8", "fp32", "float"), ("fp32", "int8", "int8")])
def test_another_precision_family_than_the_index_s_is_honoured_with_a_note(requested: str, recorded: str,
                                                                          made: str) -> None:
    precision, note = follow_index(requested, recorded, query=True)
    assert precision == requested and note is not None
    assert f"made in {made}" in note and "index --rebuild" in note


def test_cpu_flags_are_read_from_proc_cpuinfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse avx2 avx512_vnni\n\n"
                       "processor\t: 1\nmodel name\t: Some CPU\nflags\t\t: fpu sse avx2 avx512_vnni\n")
    assert _linux_features(cpuinfo) == CpuFeatures(native_bf16=False, int8_dot=True, description="Some CPU")
    cpuinfo.write_text("model name\t: Newer CPU\nflags\t\t: avx512_bf16 amx_bf16 amx_int8\n")
    assert _linux_features(cpuinfo) == CpuFeatures(native_bf16=True, int8_dot=True, description="Newer CPU")
    cpuinfo.write_text("model name\t: Older CPU\nflags\t\t: sse4_2 avx2\n")
    assert _linux_features(cpuinfo) == CpuFeatures(native_bf16=False, int8_dot=False, description="Older CPU")


@pytest.mark.torch
def test_both_engines_give_the_same_fp32_vectors(tiny_model: Path) -> None:
    from desktop_search.embed.embedder import Embedder
    from desktop_search.embed.models import spec_from_folder

    spec = spec_from_folder(tiny_model)
    texts = ["statins and muscle pain", "Sleep deprivation impairs memory consolidation. " * 12, "x"]
    onnx = Embedder(spec, device="cpu", engine="onnx", precision="fp32")
    torch = Embedder(spec, device="cpu", engine="torch", precision="fp32")
    assert (onnx.engine, torch.engine) == (Engine.ONNX, Engine.TORCH)
    cosine = (onnx.encode(texts) * torch.encode(texts)).sum(axis=1)
    assert cosine.min() >= 0.9999, cosine
    np.testing.assert_allclose(onnx.encode(texts), torch.encode(texts), atol=1e-4)
