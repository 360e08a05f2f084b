"""GUI entry point (placeholder until the window lands)."""
from __future__ import annotations

import logging
import sys

logger = logging.getLogger(__name__)


def main(data_dir: str | None = None) -> int:
    print("desktop-search: the window is not available yet; use `desktop-search --help`.", file=sys.stderr)
    return 2
