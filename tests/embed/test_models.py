"""Model resolution: explicit path, settings folders, bundled package, HF cache; never a download."""
from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from desktop_search.embed.models import catalogue, default_model_name, needs_torch, read_pooling, resolve_model
from desktop_search.errors import ModelNotFoundError
from tests.conftest import _bundled_model_dir, build_tiny_model

DEFAULT = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    hub = tmp_path / "hf-hub"
    hub.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    return hub


def put_in_hf_cache(hub: Path, name: str, src: Path) -> Path:
    snap = hub / ("models--" + name.replace("/", "--")) / "snapshots" / "0123abcd"
    shutil.copytree(src, snap)
    return snap


def test_default_is_the_bundled_minilm(hf_cache: Path) -> None:
    assert default_model_name() == DEFAULT
    spec = resolve_model(None)
    assert spec.path == _bundled_model_dir().resolve()
    assert (spec.id, spec.dim, spec.pooling, spec.max_tokens) == (DEFAULT, 384, "mean", 256)
    assert spec.query_prefix == spec.passage_prefix == ""


def test_explicit_path_wins(tiny_model: Path) -> None:
    spec = resolve_model(str(tiny_model), extra_folders=[str(_bundled_model_dir())])
    assert spec.path == tiny_model.resolve()
    assert spec.dim == 32 and spec.max_tokens == 128


def test_missing_explicit_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model(str(tmp_path / "no-such-model"))


def test_settings_folder_comes_before_the_bundled_package(tmp_path: Path, tiny_model: Path) -> None:
    mine = tmp_path / "all-MiniLM-L6-v2"
    shutil.copytree(tiny_model, mine)
    spec = resolve_model(None, extra_folders=[str(tmp_path / "unrelated"), str(mine)])
    assert spec.path == mine.resolve()
    assert spec.id == DEFAULT and spec.dim == 32


def test_bundled_package_comes_before_the_hf_cache(hf_cache: Path, tiny_model: Path) -> None:
    put_in_hf_cache(hf_cache, DEFAULT, tiny_model)
    assert resolve_model(DEFAULT).path == _bundled_model_dir().resolve()


def test_hf_cache_is_found_by_name(hf_cache: Path, tiny_model: Path) -> None:
    snap = put_in_hf_cache(hf_cache, "someone/tiny-model", tiny_model)
    spec = resolve_model("someone/tiny-model")
    assert spec.path == snap.resolve()
    assert spec.id == "someone/tiny-model"


def test_missing_model_says_how_to_get_one(hf_cache: Path) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("intfloat/e5-small-v2")
    msg = str(info.value)
    assert "never downloads" in msg
    assert "https://huggingface.co/intfloat/e5-small-v2" in msg
    assert "--model" in msg


def test_missing_default_model_says_it_comes_with_the_package(hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("desktop_search.embed.models._bundled_folder", lambda name: None)  # as if not installed
    with pytest.raises(ModelNotFoundError, match="comes inside the desktop-search package"):
        resolve_model(None)


def test_the_mpnet_model_is_marked_as_needing_torch() -> None:
    assert needs_torch("sentence-transformers/all-mpnet-base-v2")
    assert not any(needs_torch(m["name"]) for m in catalogue()["models"] if "mpnet" not in m["name"])


def test_no_network_is_touched(hf_cache: Path, monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> None:
    def refuse(*_a, **_k):
        raise AssertionError("tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    from desktop_search.embed.embedder import Embedder

    spec = resolve_model(None)
    emb = Embedder(spec, device="cpu")
    assert emb.encode(["offline"]).shape == (1, 384)
    with pytest.raises(ModelNotFoundError):
        resolve_model("nobody/not-here")


def test_pooling_modes_are_read_from_1_pooling(tmp_path: Path) -> None:
    for mode in ("mean", "cls", "max"):
        folder = build_tiny_model(tmp_path / mode, pooling=mode)
        assert read_pooling(folder) == mode
    assert read_pooling(tmp_path) is None


def test_catalogue_entries_are_complete() -> None:
    cat = catalogue()
    assert cat["default"] == DEFAULT
    for entry in cat["models"]:
        for key in ("name", "dim", "pooling", "max_tokens", "query_prefix", "passage_prefix", "licence", "source"):
            assert key in entry, (entry.get("name"), key)
        assert entry["pooling"] in ("mean", "cls", "max")
