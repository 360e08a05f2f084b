"""User settings kept across runs, as JSON in the data dir.

Both front ends read and write the same file, so a model chosen in the GUI is
the one the CLI uses.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass
class Settings:
    model: str | None = None  # a path or a catalogue name; None = default
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = "auto"  # embedding.Precision: auto | fp32 | bf16
    top_k: int = 10
    search_as_you_type: bool = False
    search_mode: str = "hybrid"
    extra_models: list[str] = field(default_factory=list)  # extra model folders
    ocr: bool = True  # read scanned PDF pages with Tesseract (when installed)
    ocr_languages: str | None = None  # Tesseract packs, "eng+jpn"; None = the locale's pack plus English
    viewer: str = ""  # a command with %f (file) and %p (page); empty = the system's default viewer
    filter_folders: list[str] = field(default_factory=list)  # the window's folder filter (empty = all)
    filter_kinds: list[str] = field(default_factory=list)  # the window's file type filter (empty = all)

    @classmethod
    def load(cls, path: Path) -> Settings:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            logger.warning("Ignoring unreadable settings %s: %s", path, exc)
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def save(self, path: Path) -> None:
        # Imported here: the storage package pulls in SQLAlchemy, which the
        # GUI must not pay for before its window appears.
        from desktop_search.storage.files import atomic_write_bytes

        atomic_write_bytes(path, json.dumps(asdict(self), indent=2).encode("utf-8"))
        try:
            os.chmod(path, 0o600)
        except OSError:
            pass
