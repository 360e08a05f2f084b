"""`desktop-search status` and `remove`: the --json contract and clear errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_search.cli import main
from desktop_search.embed.engine import ONNX_DEFAULT
from desktop_search.paths import resolve_data_dir
from desktop_search.storage import Store
from desktop_search.storage.records import ChunkRecord, DocumentRecord
from desktop_search.storage.schema import DocStatus
from tests.conftest import make_pdf


def test_status_json(cli, indexed: Path) -> None:
    code, out, _ = cli("status", "--json")
    info = json.loads(out)
    assert code == 0
    assert info["documents"] == 3 and isinstance(info["chunks"], int) and info["chunks"] >= 4
    assert info["failed"] == [{"path": str(indexed / "broken.pdf"), "error": "not a valid PDF (damaged or wrong extension)"}]
    assert [f["path"] for f in info["folders"]] == [str(indexed)]
    assert info["model"] and info["device"]
    assert info["topk_index"] == "none"  # a small library: FTS5 alone


def test_status_says_whether_searches_use_the_topk_index(cli, library: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKTOP_SEARCH_TOPK_FROM", "0")  # every library counts as big
    assert cli("index", str(library))[0] == 0
    assert json.loads(cli("status", "--json")[1])["topk_index"] == "current"
    make_pdf(library / "new.pdf", ["Committed after the top-k index was written."])
    with Store(resolve_data_dir(tmp_path / "data").database) as store:  # the cli fixture's; as a run does mid-way
        [folder] = store.folders()
        store.commit_documents([DocumentRecord(
            path=str(library / "new.pdf"), folder_id=folder["id"], kind="pdf", size=1, mtime_ns=1, hash="new",
            title="new", author=None, status=DocStatus.INDEXED,
            chunks=[ChunkRecord(ordinal=0, text="Committed after the top-k index.", char_start=0, char_end=10)])])
    code, out, _ = cli("status")
    assert code == 0 and "Top-k index: behind (keyword search uses the full-text index" in out
    assert cli("index")[0] == 0
    assert json.loads(cli("status", "--json")[1])["topk_index"] == "current"


@pytest.mark.torch
def test_status_names_the_gpu_it_would_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import torch

    monkeypatch.setattr("desktop_search.embed.engine.gpu_possible", lambda: True)  # as where NVIDIA's driver is
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["device"] == "NVIDIA H200 · torch fp16"
    assert main([*data, "--device", "cuda", "--precision", "fp32", "status"]) == 0
    assert "Device:    NVIDIA H200 · torch fp32\n" in capsys.readouterr().out


def test_status_names_the_cpu_engine_without_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr("desktop_search.embed.engine.torch_installed", lambda: False)  # the default install
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["device"].endswith(f"· ONNX Runtime {ONNX_DEFAULT}")
    assert main([*data, "--precision", "fp32", "status"]) == 0
    assert "· ONNX Runtime fp32\n" in capsys.readouterr().out


def test_status_text_before_anything_is_indexed(cli) -> None:
    code, out, _ = cli("status")
    assert code == 0 and "Documents: 0" in out and "(none yet)" in out


def test_remove_takes_the_folder_out(cli, indexed: Path) -> None:
    code, out, _ = cli("remove", str(indexed))
    assert code == 0 and "4 documents" in out
    code, out, _ = cli("status", "--json")
    info = json.loads(out)
    assert (info["documents"], info["chunks"], info["folders"]) == (0, 0, [])
    code, out, _ = cli("search", "statins", "--mode", "dense")
    assert code == 0 and "No results." in out


def test_remove_unknown_folder_is_a_clear_error(cli, indexed: Path, tmp_path: Path) -> None:
    code, _, err = cli("remove", str(tmp_path / "elsewhere"))
    assert code == 2 and "is not in the library" in err and str(indexed) in err
