"""Offline semantic search over local PDFs and EPUBs.

The core package never imports Qt; ``desktop_search.gui`` and
``desktop_search.cli`` are thin front ends over it.
"""
from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("desktop-search")
except _metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+unknown"
