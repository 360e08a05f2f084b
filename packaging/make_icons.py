"""Render resources/desktop-search.svg to the raster icons the installers need.

    QT_QPA_PLATFORM=offscreen python packaging/make_icons.py

Writes desktop-search.ico (Windows installer and .exe) and .icns (macOS
.app) next to the SVG; run it again after changing the SVG. Uses only PySide6.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

RESOURCES = Path(__file__).resolve().parents[1] / "resources"


def render(svg: Path, size: int):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    QSvgRenderer(str(svg)).render(painter)
    painter.end()
    return image


def main() -> int:
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication(sys.argv[:1])  # noqa: F841 - image plugins need an application
    svg = RESOURCES / "desktop-search.svg"
    for suffix, size in ((".ico", 256), (".icns", 512)):
        out = svg.with_suffix(suffix)
        if not render(svg, size).save(str(out)):
            print(f"could not write {out} (missing Qt image plugin?)", file=sys.stderr)
            return 1
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
