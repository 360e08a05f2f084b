"""`models list` and `models get` against a stand-in Hub on 127.0.0.1 (no test touches the internet)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_search.cli import main
from desktop_search.embed.download import DownloadError, download_model
from desktop_search.settings import Settings
from tests.conftest import MULTILINGUAL_REPO
from tests.hub_server import HubServer

REPO_ID = MULTILINGUAL_REPO


@pytest.fixture
def hub(tiny_hub: HubServer) -> HubServer:
    return tiny_hub


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture):
    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--data-dir", str(tmp_path / "data"), "--device", "cpu", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_get_downloads_verifies_and_the_model_is_then_found(hub: HubServer, cli, tmp_path: Path, tiny_model: Path) -> None:
    from huggingface_hub import constants

    offline = constants.HF_HUB_OFFLINE
    code, out, err = cli("models", "get", REPO_ID)
    assert code == 0, err
    folder = tmp_path / "data" / "models" / "intfloat--multilingual-e5-small"
    assert f"Downloaded and verified {REPO_ID}" in out
    assert (folder / "model.safetensors").read_bytes() == (tiny_model / "model.safetensors").read_bytes()
    assert (folder / "1_Pooling" / "config.json").is_file()
    assert not (folder / "onnx").exists() and not (folder / "pytorch_model.bin").exists()
    assert constants.HF_HUB_OFFLINE == offline  # offline again after the call
    assert str(folder) in Settings.load(tmp_path / "data" / "settings.json").extra_models

    code, out, _err = cli("models", "list", "--json")
    rows = {r["name"]: r for r in map(json.loads, out.splitlines())}
    assert rows[REPO_ID]["installed"] == str(folder)
    assert rows["BAAI/bge-small-en-v1.5"]["installed"] is None
    assert rows[REPO_ID]["size_mb"] and "Japanese" in rows[REPO_ID]["languages"]

    # Model resolution finds it by its catalogue name.
    lib = tmp_path / "lib"
    lib.mkdir()
    from tests.conftest import make_epub

    make_epub(lib / "a.epub", [("第1節", "猫は日本で人気がある。")])
    code, _out, err = cli("--model", REPO_ID, "index", "--no-progress", str(lib))
    assert code == 0, err
    code, out, _err = cli("status", "--json")
    assert json.loads(out)["model"] == REPO_ID


def test_a_second_get_fetches_only_what_is_missing(hub: HubServer, tmp_path: Path) -> None:
    folder = download_model(REPO_ID, tmp_path)
    assert hub.gets["model.safetensors"] == 1 and hub.gets["config.json"] == 1
    (folder / "model.safetensors").unlink()  # as if the download had been cut off
    download_model(REPO_ID, tmp_path)
    assert hub.gets["model.safetensors"] == 2 and hub.gets["config.json"] == 1
    assert (folder / "model.safetensors").is_file()


def test_a_corrupted_file_is_refused_and_deleted(hub: HubServer, tmp_path: Path) -> None:
    hub.corrupt.add("vocab.txt")
    with pytest.raises(DownloadError, match="vocab.txt") as info:
        download_model(REPO_ID, tmp_path)
    assert "Run again" in str(info.value) or "again" in str(info.value)
    assert not (tmp_path / "models" / "intfloat--multilingual-e5-small" / "vocab.txt").exists()


def test_unknown_names_and_an_unreachable_hub_get_clear_messages(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _out, err = cli("models", "get", "someone/unknown-model")
    assert code == 2 and "not in the model catalogue" in err
    code, _out, err = cli("models", "get", "sentence-transformers/all-MiniLM-L6-v2")
    assert code == 2 and "nothing to download" in err
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    code, _out, err = cli("models", "get", REPO_ID)
    assert code == 2 and "Could not download" in err and "again" in err
