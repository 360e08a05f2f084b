"""Every user path the program touches is resolved here.

Front ends pass ``--data-dir`` through :func:`resolve_data_dir`; tests always
pass a temporary directory, so nothing writes to the real home.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from desktop_search.errors import StorageError

APP_NAME = "desktop-search"
ENV_DATA_DIR = "DESKTOP_SEARCH_DATA_DIR"


@dataclass(frozen=True)
class DataPaths:
    """Locations of everything kept in one data dir."""

    root: Path

    @property
    def database(self) -> Path:
        return self.root / "index.sqlite3"

    @property
    def vectors(self) -> Path:
        return self.root / "vectors.hnsw"

    @property
    def vectors_meta(self) -> Path:
        return self.root / "vectors.json"

    @property
    def topk(self) -> Path:
        """The top-k index of a big library (storage.topk_index): a cache, like the vectors."""
        return self.root / "topk"

    @property
    def lock(self) -> Path:
        return self.root / "writer.lock"

    @property
    def folders_backup(self) -> Path:
        """The library folder list, kept outside the database so a rebuild survives a damaged one."""
        return self.root / "folders.json"

    @property
    def progress(self) -> Path:
        """The running index's progress, for `status` in another process (gone when the run ends)."""
        return self.root / "progress.json"

    @property
    def settings(self) -> Path:
        return self.root / "settings.json"

    @property
    def log(self) -> Path:
        return self.root / "desktop-search.log"


def library_path(path: str | os.PathLike[str]) -> str:
    """The one spelling of a user's folder or file path that the index keeps.

    Absolute, with ``~`` expanded and ``..`` collapsed, so ``../Papers`` and
    ``/home/me/Papers`` are the same library folder; symlinks are kept as named.
    """
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def default_data_dir() -> Path:
    """The platform's user data dir, unless the environment overrides it."""
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def resolve_data_dir(override: str | os.PathLike[str] | None = None, create: bool = True) -> DataPaths:
    """Resolve (and by default create, owner-only) the data dir."""
    root = Path(override).expanduser() if override else default_data_dir()
    root = root.absolute()
    if create:
        try:
            root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StorageError(f"Cannot create the data folder {root}: {exc.strerror or exc}") from exc
    return DataPaths(root)
