"""Scanned PDFs made on the spot: text pages rendered by PDFium, tilted, speckled, wrapped as images.

Shared by the OCR tests and benchmarks/ocr_eval.py. Nothing here needs a
system font: text pages use PDF's built-in Helvetica (PDFium carries it), and
Japanese comes from a jsquad PDF that embeds its font.
"""
from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class TextPage:
    lines: list[str]
    size: int = 16  # points


@dataclass
class ImagePage:
    pixels: np.ndarray  # 2-D uint8, grey
    width_pt: float
    height_pt: float


def _escape(line: str) -> bytes:
    raw = line.encode("cp1252")  # WinAnsiEncoding: German umlauts and ß included
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def write_pdf(path: Path, pages: Sequence[TextPage | ImagePage]) -> Path:
    """A PDF whose pages are Helvetica text or full-page grey images (no text layer)."""
    objs: list[bytes] = [b"", b"", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"]
    kids = []
    for page in pages:
        if isinstance(page, TextPage):
            ops = [b"BT /F1 %d Tf %d TL 72 720 Td" % (page.size, int(page.size * 1.4))]
            ops += [b"(" + _escape(line) + b") Tj T*" for line in page.lines]
            content = b"\n".join(ops + [b"ET"])
            width, height, xobj = 612.0, 792.0, b""
        else:
            h, w = page.pixels.shape
            data = zlib.compress(np.ascontiguousarray(page.pixels, dtype=np.uint8).tobytes(), 6)
            objs.append(b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                        b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n" % (w, h, len(data))
                        + data + b"\nendstream")
            width, height = page.width_pt, page.height_pt
            content = b"q %.2f 0 0 %.2f 0 0 cm /Im0 Do Q" % (width, height)
            xobj = b" /XObject << /Im0 %d 0 R >>" % len(objs)
        objs.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Resources << /Font << /F1 3 0 R >>%s >> "
                    b"/Contents %d 0 R >>" % (width, height, xobj, len(objs)))
        kids.append(len(objs))
    objs[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objs[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % off for off in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    path.write_bytes(out.getvalue())
    return path


def tilt_and_speckle(pixels: np.ndarray, angle_deg: float, noise: float, rng: np.random.Generator) -> np.ndarray:
    """What a flatbed scan does to a page: a slight rotation (white corners) and grey noise."""
    h, w = pixels.shape
    if angle_deg:
        a = np.deg2rad(angle_deg)
        ys, xs = np.indices((h, w), dtype=np.float32)
        cy, cx = (h - 1) / 2, (w - 1) / 2
        sx = np.cos(a) * (xs - cx) + np.sin(a) * (ys - cy) + cx
        sy = -np.sin(a) * (xs - cx) + np.cos(a) * (ys - cy) + cy
        sxi, syi = np.rint(sx).astype(np.int32), np.rint(sy).astype(np.int32)
        inside = (sxi >= 0) & (sxi < w) & (syi >= 0) & (syi < h)
        out = np.full((h, w), 255, dtype=np.uint8)
        out[inside] = pixels[syi[inside], sxi[inside]]
        pixels = out
    if noise:
        pixels = np.clip(pixels.astype(np.int16) + rng.normal(0, noise, pixels.shape).astype(np.int16), 0, 255)
        pixels = pixels.astype(np.uint8)
    return pixels


def render_grey(pdf: Path, dpi: int, pages: list[int] | None = None) -> list[ImagePage]:
    """The pages of ``pdf`` as grey pictures (0-based ``pages``; all by default)."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        out = []
        for i in pages if pages is not None else range(len(doc)):
            page = doc[i]
            width, height = page.get_size()
            bitmap = page.render(scale=dpi / 72, grayscale=True)
            out.append(ImagePage(bitmap.to_numpy().copy(), width, height))
            bitmap.close()
            page.close()
        return out
    finally:
        doc.close()


def scan_pdf(src: Path, dst: Path, dpi: int = 200, angle_deg: float = 0.0, noise: float = 0.0, seed: int = 0,
             pages: list[int] | None = None) -> Path:
    """An image-only copy of ``src``, as if printed and scanned."""
    rng = np.random.default_rng(seed)
    scanned = []
    for page in render_grey(src, dpi, pages):
        page.pixels = tilt_and_speckle(page.pixels, angle_deg, noise, rng)
        scanned.append(page)
    return write_pdf(dst, scanned)
