"""Looking after the library and its models: ``status``, ``remove`` and ``models``."""
from __future__ import annotations

import argparse
import dataclasses
import json

from desktop_search.index.progress import load_progress
from desktop_search.paths import DataPaths, library_path
from desktop_search.settings import Settings


def cmd_status(args: argparse.Namespace, paths: DataPaths, settings: Settings) -> int:
    from desktop_search.index.library_info import read_library_info

    library = read_library_info(paths)
    info = library.to_json()
    info["data_dir"] = str(paths.root)
    info["device"] = _device_description(args, settings)
    running = load_progress(paths.progress)
    info["indexing"] = dataclasses.asdict(running) if running is not None else None
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return 0
    print(f"Data dir:  {info['data_dir']}")
    print(f"Model:     {library.model or '(none yet)'}")
    if library.embedding_engine:
        print(f"Vectors:   made by {library.embedding_engine}, {library.embedding_precision}")
    print(f"Device:    {info['device']}")
    print(f"Documents: {library.documents}   Passages: {library.chunks} ({library.embedded} embedded)   "
          f"Failed: {len(library.failed)}")
    if library.topk_index != "none":
        print(f"Top-k index: {library.topk_index}" + (
            " (keyword search uses the full-text index until the next index run updates it)"
            if library.topk_index == "behind" else ""))
    if running is not None:
        print(f"Indexing:  {running.line()}")
    for f in library.folders:
        print(f"  {f.path}  ({f.indexed} indexed, {f.failed} failed)")
    if library.failed:
        print("Failed files:")
        for problem in library.failed:
            print(f"  {problem.path}: {problem.error}")
    return 0


def _device_description(args: argparse.Namespace, settings: Settings) -> str:
    """The device, engine and precision an index run would use, without loading a model (nor torch, unless
    a GPU may be there and torch is installed)."""
    from desktop_search.embed.engine import choose, cpu_name, describe
    from desktop_search.embed.hardware import cpu_cores
    from desktop_search.errors import UserFacingError

    try:
        arithmetic = choose(args.engine or settings.engine, args.device or settings.device,
                            args.precision or settings.precision)
    except UserFacingError as exc:
        return f"none ({exc})"
    if arithmetic.device == "cpu":
        return describe(arithmetic, cpu_name(cpu_cores()))
    from desktop_search.embed.torch_engine import device_name

    return describe(arithmetic, device_name(arithmetic.device, cpu_cores()))


def cmd_remove(args: argparse.Namespace, paths: DataPaths, settings: Settings) -> int:
    from desktop_search.index.folders import remove_folder

    target = library_path(args.path)
    n = remove_folder(paths, target)
    print(f"Removed {target}: {n} documents.")
    return 0


def cmd_models(args: argparse.Namespace, paths: DataPaths, settings: Settings) -> int:
    from desktop_search.embed import download

    if args.models_command == "list":
        rows = download.list_models(paths.root, settings.extra_models)
        if args.json:
            for r in rows:
                print(json.dumps({"name": r.name, "installed": str(r.installed) if r.installed else None,
                                  "size_mb": r.size_mb, "languages": r.languages, "default": r.default,
                                  "needs_torch": r.needs_torch}, ensure_ascii=False))
            return 0
        for r in rows:
            size = f"{r.size_mb} MB" if r.size_mb else "?"
            where = f"installed: {r.installed}" if r.installed else "not installed"
            torch = "; needs the torch extra (pip install 'desktop-search[torch]')" if r.needs_torch else ""
            print(f"{r.name}{'  (default)' if r.default else ''}\n    {size}, {r.languages}; {where}{torch}")
        return 0
    folder = download.download_model(args.name, paths.root)
    if str(folder) not in settings.extra_models:
        settings.extra_models.append(str(folder))
        settings.save(paths.settings)
    entry = download.catalogue_entry(args.name)
    assert entry is not None, "download_model checked the name"
    name = entry["name"]
    print(f"Downloaded and verified {name} into {folder}.")
    print(f"Use it with: desktop-search --model {name} index --rebuild")
    return 0
