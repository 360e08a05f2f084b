"""User settings kept across runs, as JSON in the data dir.

Both front ends read and write the same file, so a model chosen in the GUI is
the one the CLI uses.

The file says which version of its keys it holds (``version``; files from
before it have none and are version 1), and :data:`STEPS` turns each version
into the next when it is read, as the index's format steps do. Keys this
version does not know (a newer version's) are kept and written back as they
were, with the newer version number, so using an older version for a while
loses nothing.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SETTINGS_VERSION = 3


def _from_1(raw: dict[str, Any]) -> dict[str, Any]:
    """1 -> 2: only the ``version`` key is new; every key keeps its meaning (keys were only ever added)."""
    return raw


def _from_2(raw: dict[str, Any]) -> dict[str, Any]:
    """2 -> 3: ``engine`` is new (absent: auto), and ``precision`` may also be int8 or fp16; nothing changes meaning."""
    return raw


# version -> the function that turns a file of that version into the next one.
STEPS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_1, 2: _from_2}
assert sorted(STEPS) == list(range(1, SETTINGS_VERSION))


@dataclass
class Settings:
    model: str | None = None  # a path or a catalogue name; None = default
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "auto"  # engine.Precision: auto | fp32 | int8 | bf16 | fp16
    engine: str = "auto"  # engine.Engine: auto | onnx | torch
    top_k: int = 10
    search_as_you_type: bool = False
    search_mode: str = "hybrid"
    extra_models: list[str] = field(default_factory=list)  # extra model folders
    ocr: bool = True  # read scanned PDF pages with Tesseract (when installed)
    ocr_languages: str | None = None  # Tesseract packs, "eng+jpn"; None = the locale's pack plus English
    viewer: str = ""  # a command with %f (file) and %p (page); empty = the system's default viewer
    filter_folders: list[str] = field(default_factory=list)  # the window's folder filter (empty = all)
    filter_kinds: list[str] = field(default_factory=list)  # the window's file type filter (empty = all)
    # Not settings: what a newer version's file held that this one does not know, kept to be written back.
    unknown: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    file_version: int = field(default=SETTINGS_VERSION, compare=False, repr=False)

    @classmethod
    def load(cls, path: Path) -> Settings:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            logger.warning("Ignoring unreadable settings %s: %s", path, exc)
            return cls()
        if not isinstance(raw, dict):
            logger.warning("Ignoring settings %s: not a JSON object", path)
            return cls()
        version = raw.pop("version", 1)
        if not isinstance(version, int) or version < 1:
            logger.warning("Settings %s have version %r; reading them as version 1", path, version)
            version = 1
        for step in range(version, SETTINGS_VERSION):
            raw = STEPS[step](raw)
        known = {f.name for f in fields(cls)} - {"unknown", "file_version"}
        return cls(**{k: v for k, v in raw.items() if k in known},
                   unknown={k: v for k, v in raw.items() if k not in known},
                   file_version=max(version, SETTINGS_VERSION))

    def to_json(self) -> dict[str, Any]:
        """The file's object: the version, the settings, then what a newer version put there."""
        data = asdict(self)
        unknown, version = data.pop("unknown"), data.pop("file_version")
        return {"version": version, **data, **unknown}

    def save(self, path: Path) -> None:
        # Imported here: the storage package pulls in SQLAlchemy, which the
        # GUI must not pay for before its window appears.
        from desktop_search.storage.files import atomic_write_bytes

        atomic_write_bytes(path, json.dumps(self.to_json(), indent=2).encode("utf-8"))
        try:
            os.chmod(path, 0o600)
        except OSError:
            pass
