"""EPUB text in spine order, with chapter titles from the nav or NCX."""
from __future__ import annotations

import io
import logging
import posixpath
import warnings
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from desktop_search.errors import ExtractionError
from desktop_search.failures import FailureCode
from desktop_search.ingest.extract.document import ExtractedDocument, Segment, normalize_text
from desktop_search.ingest.extract.html import html_to_text

logger = logging.getLogger(__name__)

NOT_AN_EPUB = "not a valid EPUB (damaged or wrong extension)"
# An EPUB whose contents inflate past this is refused before it is unpacked.
MAX_UNPACKED_BYTES = 512 * 1024 * 1024
MAX_RATIO = 200  # compression ratio beyond which an entry is a zip bomb


def _check_archive(data: bytes) -> None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        if data[:4] == b"PK\x03\x04":  # a zip that starts right but breaks off
            raise ExtractionError("damaged EPUB: its zip archive is truncated or corrupt") from exc
        raise ExtractionError(NOT_AN_EPUB) from exc
    with zf:
        infos = zf.infolist()
        total = sum(i.file_size for i in infos)
        if total > MAX_UNPACKED_BYTES:
            raise ExtractionError(f"too large when unpacked ({total // 2**20} MiB; zip bomb?)")
        for i in infos:
            if i.file_size > 1_000_000 and i.compress_size and i.file_size / i.compress_size > MAX_RATIO:
                raise ExtractionError(f"suspicious compression in {i.filename!r} (zip bomb?)")
        if "META-INF/container.xml" not in zf.namelist():
            raise ExtractionError(f"{NOT_AN_EPUB}: META-INF/container.xml is missing")


def _toc_titles(toc: object, base: str = "") -> dict[str, str]:
    """Map item href (no fragment) to the first TOC title that points into it."""
    from ebooklib import epub

    out: dict[str, str] = {}
    stack = [toc]
    while stack:
        node = stack.pop()
        if isinstance(node, (list, tuple)):
            stack.extend(reversed(list(node)))
            continue
        if isinstance(node, epub.Link):
            href = unquote(node.href.split("#", 1)[0])
            if href and node.title:
                out.setdefault(href, normalize_text(node.title))
        elif isinstance(node, epub.Section):
            if node.href and node.title:
                out.setdefault(unquote(node.href.split("#", 1)[0]), normalize_text(node.title))
    return out


def _first_meta(book: Any, name: str) -> str | None:
    """The first Dublin Core ``name`` of an ebooklib EpubBook (ebooklib ships no type hints)."""
    try:
        values = book.get_metadata("DC", name)
    except Exception:  # noqa: BLE001 - a malformed metadata field must not lose the book
        return None
    for value, _attrs in values or []:
        text = normalize_text(str(value or ""))
        if text:
            return text
    return None


def extract_epub(path: Path, data: bytes) -> ExtractedDocument:
    from ebooklib import ITEM_DOCUMENT, epub

    warnings.filterwarnings("ignore", module="ebooklib")
    _check_archive(data)
    try:
        book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": False})
    except ExtractionError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # ebooklib raises anything from a bad file
        raise ExtractionError(f"{NOT_AN_EPUB}: {type(exc).__name__}: {exc}"[:300]) from exc

    titles = _toc_titles(book.toc)
    segments: list[Segment] = []
    bad: list[str] = []
    section: str | None = None
    spine_ids = [idref for idref, *_ in book.spine]
    for idref in spine_ids:
        item = book.get_item_with_id(idref)
        # The EPUB 3 nav is a table of contents: as a passage it only echoes the chapter titles.
        if item is None or item.get_type() != ITEM_DOCUMENT or isinstance(item, epub.EpubNav):
            continue
        href = item.get_name()
        try:
            text, heading, doc_title = html_to_text(item.get_content())
        except MemoryError:
            raise
        except Exception:  # one broken chapter must not lose the rest
            logger.debug("unreadable item %s in %s", href, path, exc_info=True)
            bad.append(href)
            continue
        # A chapter split over several files keeps its TOC title until the next one.
        section = titles.get(href) or titles.get(posixpath.basename(href)) or heading or section
        # Every passage needs a location: with no TOC entry or heading, the item's own name.
        location = section or doc_title or posixpath.splitext(posixpath.basename(href))[0]
        if text:
            segments.append(Segment(text=text, section=location, href=href))

    if not segments:
        raise ExtractionError("no readable text (image-only or empty EPUB?)", FailureCode.NO_TEXT)
    warning = f"partly read: {len(bad)} chapters could not be read" if bad else None
    return ExtractedDocument(
        path=str(path), kind="epub", title=_first_meta(book, "title") or path.stem,
        author=_first_meta(book, "creator"), segments=segments, pages=len(spine_ids), warning=warning,
    )
