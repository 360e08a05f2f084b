"""Getting a catalogue model from the Hugging Face Hub, only when the user asks.

The app is offline otherwise (``embedding`` sets ``HF_HUB_OFFLINE``); a
download lifts that for its own calls alone. Files land in the data dir's
``models`` folder, one folder per model (``intfloat--multilingual-e5-small``),
which model resolution then finds. ``huggingface_hub`` resumes a file cut
off half-way, and every file is checked against the Hub's checksums.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_search.embed.models import catalogue, catalogue_entry
from desktop_search.errors import UserFacingError

logger = logging.getLogger(__name__)

# What sentence-transformers needs; not the ONNX, OpenVINO, TF or Flax copies.
ALLOW = ["*.json", "*.txt", "*.model", "model.safetensors", "1_Pooling/*"]
IGNORE = ["onnx/*", "openvino/*", "tf_*", "flax_*", "rust_*", "*.h5", "*.msgpack"]

# (files done, files in all); called from the download's worker threads.
ProgressCallback = Callable[[int, int], None]


class DownloadError(UserFacingError):
    """The model could not be fetched or did not verify."""


@dataclass(frozen=True)
class CatalogueModel:
    """One line of ``models list``."""

    name: str
    languages: str
    size_mb: int | None
    installed: Path | None  # where it is on this computer, if it is
    default: bool = False
    needs_torch: bool = False  # not a plain BERT: runs on the torch engine only (the torch extra)


def models_dir(data_root: Path) -> Path:
    return data_root / "models"


def folder_for(data_root: Path, name: str) -> Path:
    return models_dir(data_root) / name.replace("/", "--")


def list_models(data_root: Path, extra_folders: list[str] | tuple[str, ...] = ()) -> list[CatalogueModel]:
    """The catalogue, each model with where it is installed (bundled, downloaded, HF cache or a settings folder)."""
    from desktop_search.embed.models import needs_torch, resolve_model
    from desktop_search.errors import ModelNotFoundError

    out: list[CatalogueModel] = []
    default = catalogue()["default"]
    for entry in catalogue()["models"]:
        name = entry["name"]
        try:
            installed: Path | None = resolve_model(name, [*extra_folders, str(folder_for(data_root, name))]).path
        except ModelNotFoundError:
            installed = None
        out.append(CatalogueModel(name, str(entry.get("languages", "")), entry.get("size_mb"), installed, name == default,
                                  needs_torch(name)))
    return out


@contextmanager
def _online() -> Iterator[None]:
    """Lift ``HF_HUB_OFFLINE`` for the calls inside, and put it back after."""
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = False
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved


def _progress_class(progress: ProgressCallback) -> Any:
    """A tqdm that reports files done to ``progress`` and draws nothing."""
    from tqdm.auto import tqdm

    class Reporter(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = False
            kwargs["file"] = open(os.devnull, "w")  # closed with the bar
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            out = super().update(n)
            progress(int(self.n), int(self.total or 0))
            return out

        def close(self) -> None:
            fp = self.fp
            super().close()
            fp.close()

    return Reporter


def download_model(name: str, data_root: Path, progress: ProgressCallback | None = None) -> Path:
    """Fetch catalogue model ``name`` into the data dir; returns its folder.

    Run again after an interruption, it fetches only what is missing. The
    Hub address is ``HF_ENDPOINT`` when set (a mirror, or a test server).
    """
    entry = catalogue_entry(name)
    if entry is None:
        known = ", ".join(m["name"] for m in catalogue()["models"])
        raise DownloadError(f"{name!r} is not in the model catalogue; known models: {known}.")
    if entry.get("bundled"):
        raise DownloadError(f"{entry['name']} comes with desktop-search: there is nothing to download.")
    import httpx2  # huggingface_hub's HTTP client; its errors are caught below
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    repo = entry["name"]
    folder = folder_for(data_root, repo)
    folder.mkdir(parents=True, exist_ok=True)
    endpoint = os.environ.get("HF_ENDPOINT") or None
    api = HfApi(endpoint=endpoint)
    logger.info("Downloading %s into %s", repo, folder)
    try:
        with _online():
            sha = api.repo_info(repo).sha
            snapshot_download(
                repo, revision=sha, local_dir=folder, endpoint=endpoint, allow_patterns=ALLOW, ignore_patterns=IGNORE,
                tqdm_class=_progress_class(progress) if progress else None,
            )
            check = api.verify_repo_checksums(repo, revision=sha, local_dir=folder)
    except (HfHubHTTPError, LocalEntryNotFoundError, httpx2.HTTPError) as exc:
        raise DownloadError(f"Could not download {repo} from {endpoint or 'the Hugging Face Hub'}: {str(exc).rstrip('.')}. "
                            "Run the same command again to resume.") from exc
    except OSError as exc:
        raise DownloadError(f"Could not write the model to {folder}: {exc.strerror or exc}") from exc
    if check.mismatches:
        bad = [m["path"] for m in check.mismatches]
        for path in bad:
            (folder / path).unlink(missing_ok=True)
        raise DownloadError(f"{len(bad)} downloaded file(s) of {repo} did not match the Hub's checksums "
                            f"({', '.join(bad)}); they were deleted. Run again.")
    if not (folder / "config.json").is_file():
        raise DownloadError(f"{repo} on the Hub has no config.json: not a model desktop-search can use.")
    logger.info("Downloaded and verified %d files of %s", check.checked_count, repo)
    return folder
