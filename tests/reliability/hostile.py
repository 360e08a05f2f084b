"""Generators for hostile files: small on disk, nasty to read.

Shared by the tests in this folder and by ``report.py``, which runs the zoo
plus these files through the CLI and prints the closing figures.
"""
from __future__ import annotations

import io
import os
import random
import zipfile
import zlib
from pathlib import Path

BOMB_BYTES = 2 * 1024**3  # what the zip bomb inflates to


class _RepeatingDeflate:
    """Deflates the same block once and repeats the output: a 2 GiB bomb in about a second.

    After a full flush the compressor starts afresh, so every copy of the block
    compresses to the same bytes and their concatenation is one valid stream.
    """

    def __init__(self) -> None:
        self._piece: bytes | None = None

    def compress(self, data: bytes) -> bytes:
        if self._piece is None:
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            self._piece = c.compress(data) + c.flush(zlib.Z_FULL_FLUSH)
        return self._piece

    def flush(self) -> bytes:
        return zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty final block


def write_zip_bomb(path: Path, inflated: int = BOMB_BYTES) -> Path:
    """A valid EPUB skeleton plus one entry of zeros that inflates to ``inflated`` bytes."""
    block = b"\0" * (16 * 1024**2)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        _write_container(zf)
        zf.writestr("OEBPS/content.opf", _opf(["bomb.xhtml"]), compress_type=zipfile.ZIP_DEFLATED)
        info = zipfile.ZipInfo("OEBPS/bomb.xhtml")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as fh:
            fh._compressor = _RepeatingDeflate()  # type: ignore[attr-defined]  # zipfile's private deflater, on purpose
            for _ in range(inflated // len(block)):
                fh.write(block)
    return path


def _write_container(zf: zipfile.ZipFile) -> None:
    zf.writestr(
        "META-INF/container.xml",
        '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
        '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
        "</rootfiles></container>",
    )


def _opf(items: list[str]) -> str:
    manifest = "".join(f'<item id="i{n}" href="{h}" media-type="application/xhtml+xml"/>' for n, h in enumerate(items))
    spine = "".join(f'<itemref idref="i{n}"/>' for n in range(len(items)))
    return (
        '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">x</dc:identifier>'
        "<dc:title>Hostile</dc:title><dc:language>en</dc:language></metadata>"
        f"<manifest>{manifest}</manifest><spine>{spine}</spine></package>"
    )


def write_epub_with_chapters(path: Path, chapters: dict[str, bytes], container: bool = True) -> Path:
    """A hand-made EPUB (no ebooklib), so tests control every byte of it."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        if container:
            _write_container(zf)
        zf.writestr("OEBPS/content.opf", _opf(list(chapters)))
        for name, body in chapters.items():
            zf.writestr(f"OEBPS/{name}", body)
    return path


def deep_html(depth: int = 100_000, seed: int = 0) -> bytes:
    """Elements nested ``depth`` deep (random ids keep it from compressing like a bomb)."""
    rnd = random.Random(seed)
    opening = b"".join(b'<div id="d%08x">' % rnd.getrandbits(32) for _ in range(depth))
    return b"<html><body><p>Shallow text.</p>" + opening + b"deep text" + b"</div>" * depth + b"</body></html>"


def huge_html(target_bytes: int = 12 * 1024**2, seed: int = 0) -> bytes:
    """Many megabytes of markup (random class names keep it from compressing like a bomb), little text."""
    rnd = random.Random(seed)
    parts = [b"<html><body><p>The start of a huge chapter.</p>"]
    size = 0
    while size < target_bytes:
        piece = b'<span class="%08x"></span>' % rnd.getrandbits(32)
        parts.append(piece)
        size += len(piece)
    parts.append(b"<p>The end of a huge chapter.</p></body></html>")
    return b"".join(parts)


def write_raw_pdf(path: Path, page_streams: list[int], streams: list[bytes], filters: list[str | None] | None = None) -> Path:
    """A hand-written PDF: page i draws ``streams[page_streams[i]]`` (pages can share one stream).

    Thousands of pages cost a few dozen bytes each on disk.
    """
    filters = filters or [None] * len(streams)
    objs: list[bytes] = []
    n_pages = len(page_streams)
    first_stream = 4
    first_page = first_stream + len(streams)
    kids = " ".join(f"{first_page + i} 0 R" for i in range(n_pages))
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for data, flt in zip(streams, filters, strict=True):
        extra = f" /Filter /{flt}" if flt else ""
        objs.append(f"<< /Length {len(data)}{extra} >>\nstream\n".encode() + data + b"\nendstream")
    for i in range(n_pages):
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {first_stream + page_streams[i]} 0 R >>".encode()
        )
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(f"{n} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    path.write_bytes(out.getvalue())
    return path


def text_stream(text: str) -> bytes:
    return f"BT /F1 11 Tf 50 740 Td ({text}) Tj ET".encode("latin-1")


def write_many_pages_pdf(path: Path, pages: int = 3000) -> Path:
    """Thousands of pages: the first has text, the rest share one empty stream."""
    return write_raw_pdf(path, [0] + [1] * (pages - 1), [text_stream("The only words in a very long document."), b""])


def write_huge_stream_pdf(path: Path, inflated: int = 300 * 1024**2) -> Path:
    """One page whose Flate content stream inflates to hundreds of MB of drawing operators."""
    comp = zlib.compressobj(9)
    op = b"0 0 m 1 1 l S\n" * 4096
    parts = [comp.compress(text_stream("Before the flood."))]
    for _ in range(inflated // len(op)):
        parts.append(comp.compress(op))
    parts.append(comp.flush())
    return write_raw_pdf(path, [0], [b"".join(parts)], ["FlateDecode"])


def write_partly_broken_pdf(path: Path) -> Path:
    """Three pages; the middle one's content stream uses a filter no reader has."""
    streams = [text_stream("Page one is fine."), b"garbage", text_stream("Page three is fine too.")]
    return write_raw_pdf(path, [0, 1, 2], streams, [None, "NoSuchDecode", None])


def make_hostile_library(folder: Path, bomb: Path | None = None) -> dict[str, Path]:
    """Every hostile file that can sit in a folder, keyed by a short name.

    ``bomb``: a zip bomb made once (it takes seconds) to link in.
    Returns the files that the crawler should see (not the FIFO, folders or loops).
    """
    from tests.conftest import make_epub, make_pdf

    folder.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(1)
    out: dict[str, Path] = {}
    out["empty.pdf"] = folder / "empty.pdf"
    out["empty.pdf"].write_bytes(b"")
    out["empty.epub"] = folder / "empty.epub"
    out["empty.epub"].write_bytes(b"")
    out["random.pdf"] = folder / "random.pdf"
    out["random.pdf"].write_bytes(rnd.randbytes(50_000))
    out["random.epub"] = folder / "random.epub"
    out["random.epub"].write_bytes(rnd.randbytes(50_000))
    good_pdf = make_pdf(folder / "good.pdf", ["A perfectly ordinary first page.", "And a second page."], title="Good")
    out["good.pdf"] = good_pdf
    good_epub = make_epub(folder / "good.epub", [("One", "An ordinary chapter about gardens."), ("Two", "Another about rivers.")])
    out["good.epub"] = good_epub
    out["truncated.pdf"] = folder / "truncated.pdf"
    out["truncated.pdf"].write_bytes(good_pdf.read_bytes()[: good_pdf.stat().st_size // 3])
    out["truncated.epub"] = folder / "truncated.epub"
    out["truncated.epub"].write_bytes(good_epub.read_bytes()[: good_epub.stat().st_size // 2])
    out["no-container.epub"] = write_epub_with_chapters(
        folder / "no-container.epub", {"c.xhtml": b"<html><body><p>Lost without a container.</p></body></html>"},
        container=False)
    out["deep.epub"] = write_epub_with_chapters(folder / "deep.epub", {"deep.xhtml": deep_html()})
    out["huge-html.epub"] = write_epub_with_chapters(folder / "huge-html.epub", {"huge.xhtml": huge_html()})
    out["many-pages.pdf"] = write_many_pages_pdf(folder / "many-pages.pdf")
    out["huge-stream.pdf"] = write_huge_stream_pdf(folder / "huge-stream.pdf")
    out["partly-broken.pdf"] = write_partly_broken_pdf(folder / "partly-broken.pdf")
    if bomb is not None:
        out["bomb.epub"] = folder / "bomb.epub"
        os.symlink(bomb, out["bomb.epub"])
    # Names: a newline, and bytes that are not UTF-8 (surrogate-escaped in Python).
    nl = folder / "new\nline.pdf"
    nl.write_bytes(good_pdf.read_bytes())
    out["newline.pdf"] = nl
    raw = os.path.join(os.fsencode(folder), b"latin1-caf\xe9-\xff.pdf")
    with open(raw, "wb") as fh:
        fh.write(good_pdf.read_bytes())
    out["non-utf8.pdf"] = Path(os.fsdecode(raw))
    # Things the crawler must skip without hanging: a FIFO, a folder named *.pdf, symlink loops.
    os.mkfifo(folder / "fifo.pdf")
    (folder / "folder.pdf").mkdir()
    (folder / "folder.pdf" / "loop").symlink_to(folder)
    (folder / "self-loop.pdf").symlink_to(folder / "self-loop.pdf")
    return out
