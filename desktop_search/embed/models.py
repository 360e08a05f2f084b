"""Finding an embedding model on disk, and what it needs to be used right.

Nothing here downloads anything or imports torch: resolving a model reads a
few JSON files, so commands that end up embedding nothing stay fast.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from desktop_search.errors import ModelNotFoundError
from desktop_search.language import Lang

logger = logging.getLogger(__name__)

POOLING_MODES = ("mean", "cls", "max")


@dataclass(frozen=True)
class ModelSpec:
    """A model folder plus everything the index manifest records about it."""

    id: str
    path: Path
    dim: int
    pooling: str
    max_tokens: int
    query_prefix: str = ""
    passage_prefix: str = ""
    # Writing systems (language.Lang values) the model was trained on; None: not known, assume all.
    covers: frozenset[str] | None = None

    def reads(self, lang: Lang | None) -> bool:
        """Whether text in ``lang`` embeds to something meaningful with this model."""
        return lang is None or self.covers is None or lang.value in self.covers


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Any]:
    """The model catalogue (``models/catalogue.json``, packaged with the wheel)."""
    package = Path(__file__).resolve().parents[1]  # desktop_search/
    for candidate in (package / "catalogue.json", package.parent / "models" / "catalogue.json"):
        if candidate.is_file():
            return json.loads(candidate.read_text(encoding="utf-8"))
    logger.warning("Model catalogue not found; only explicit model folders will work")
    return {"default": "sentence-transformers/all-MiniLM-L6-v2", "models": []}


def catalogue_entry(name: str) -> dict[str, Any] | None:
    for entry in catalogue()["models"]:
        if entry["name"] == name or entry["name"].split("/")[-1] == name:
            return entry
    return None


def default_model_name() -> str:
    return str(catalogue()["default"])


def multilingual_model_name() -> str:
    """The catalogue model to suggest for text the current model cannot read."""
    return str(catalogue().get("multilingual", "intfloat/multilingual-e5-small"))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def read_pooling(folder: Path) -> str | None:
    """Pooling mode from a sentence-transformers ``1_Pooling/config.json``."""
    modules = _read_json(folder / "modules.json")
    pool_dir = folder / "1_Pooling"
    if isinstance(modules, list):
        for m in modules:
            if str(m.get("type", "")).endswith("Pooling"):
                pool_dir = folder / m.get("path", "1_Pooling")
    cfg = _read_json(pool_dir / "config.json")
    if not cfg:
        return None
    if cfg.get("pooling_mode_cls_token"):
        return "cls"
    if cfg.get("pooling_mode_max_tokens"):
        return "max"
    if cfg.get("pooling_mode_mean_tokens") or cfg.get("pooling_mode_mean_sqrt_len_tokens"):
        return "mean"
    return cfg.get("pooling_mode") if cfg.get("pooling_mode") in POOLING_MODES else None


def spec_from_folder(folder: Path, model_id: str | None = None) -> ModelSpec:
    """Describe a model folder in sentence-transformers (or plain HF) layout."""
    folder = folder.expanduser().resolve()
    config = _read_json(folder / "config.json")
    if not config:
        raise ModelNotFoundError(f"{folder} is not a model folder: config.json is missing or unreadable.")
    entry = catalogue_entry(model_id or folder.name) or {}
    st_cfg = _read_json(folder / "sentence_bert_config.json")
    prompts = _read_json(folder / "config_sentence_transformers.json").get("prompts") or {}
    max_pos = int(config.get("max_position_embeddings", 512))
    max_tokens = int(st_cfg.get("max_seq_length") or entry.get("max_tokens") or min(512, max_pos))
    # A copied catalogue model keeps its Hub name in config.json: its languages are known.
    known = entry or catalogue_entry(spec_id_of(folder) or "") or {}
    return ModelSpec(
        id=model_id or entry.get("name") or str(folder),
        path=folder,
        dim=int(config.get("hidden_size") or config.get("d_model") or entry["dim"]),
        pooling=read_pooling(folder) or entry.get("pooling") or "mean",
        max_tokens=min(max_tokens, max_pos),
        query_prefix=entry.get("query_prefix", prompts.get("query", "")),
        passage_prefix=entry.get("passage_prefix", prompts.get("passage", prompts.get("document", ""))),
        covers=frozenset(known["covers"]) if "covers" in known else None,
    )


def _bundled_folder(name: str) -> Path | None:
    """A catalogue model that comes inside the package (``bundled``: its folder under desktop_search/)."""
    bundled = (catalogue_entry(name) or {}).get("bundled")
    if not bundled:
        return None
    folder = Path(__file__).resolve().parents[1] / bundled
    return folder if (folder / "config.json").is_file() else None


def _hf_cache_folder(name: str) -> Path | None:
    if "/" not in name:
        return None
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.join(Path.home(), ".cache", "huggingface")), "hub"
    )
    snapshots = Path(hub) / ("models--" + name.replace("/", "--")) / "snapshots"
    if not snapshots.is_dir():
        return None
    for snap in sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
        if (snap / "config.json").is_file():
            return snap
    return None


def resolve_model(requested: str | None = None, extra_folders: Sequence[str] = ()) -> ModelSpec:
    """Find a model: explicit path, configured folders, bundled package, HF cache.

    ``requested`` is a folder path or a model name; None means the default.
    """
    name = requested or default_model_name()
    as_path = Path(name).expanduser()
    looks_like_path = requested is not None and (
        as_path.is_absolute() or requested.startswith((".", "~")) or as_path.is_dir()
    )
    if looks_like_path:
        if not as_path.is_dir():
            raise ModelNotFoundError(f"Model folder {as_path} does not exist.")
        return spec_from_folder(as_path)
    for extra in extra_folders:
        folder = Path(extra).expanduser()
        if folder.is_dir() and (folder.name in (name.split("/")[-1], name.replace("/", "--")) or spec_id_of(folder) == name):
            return spec_from_folder(folder, model_id=name)
    for finder in (_bundled_folder, _hf_cache_folder):
        found = finder(name)
        if found is not None:
            return spec_from_folder(found, model_id=name)
    entry = catalogue_entry(name)
    where = entry["source"] if entry else f"https://huggingface.co/{name}"
    raise ModelNotFoundError(
        f"The embedding model {name!r} is not on this computer, and desktop-search never downloads. "
        f"Get it from {where}, then pass its folder with --model PATH (or choose it in Settings)."
        + (" The default model comes inside the desktop-search package: reinstall it (`pip install desktop-search`;"
           " from a source tree, `python hatch_build.py` fetches it)." if name == default_model_name() else "")
    )


def needs_torch(name: str) -> bool:
    """Whether a catalogue model runs on the torch engine only (``engines`` in the catalogue; absent: any)."""
    return (catalogue_entry(name) or {}).get("engines") == ["torch"]


def spec_id_of(folder: Path) -> str | None:
    """The ``_name_or_path`` a model folder says it came from, if any."""
    return _read_json(folder / "config.json").get("_name_or_path") or None
