"""XHTML to plain text that keeps paragraph breaks and drops scripts and styles."""
from __future__ import annotations

import logging
import re

from desktop_search.ingest.extract.document import normalize_text

logger = logging.getLogger(__name__)

_BLOCK = {
    "p", "div", "section", "article", "aside", "header", "footer", "nav", "blockquote", "pre",
    "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd", "table", "tr",
    "figure", "figcaption", "hr", "br", "body", "title",
}
# rt/rp: ruby readings, which would otherwise land inside the word they annotate.
_SKIP = {"script", "style", "head", "noscript", "template", "rt", "rp"}
_TAG = re.compile(r"<[^>]*>")


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""  # comments, processing instructions
    return tag.rsplit("}", 1)[-1].lower()


def html_to_text(markup: bytes | str) -> tuple[str, str | None, str | None]:
    """Return (text, first h1-h3 heading, <title>) of an XHTML document."""
    from lxml import etree

    if isinstance(markup, str):
        markup = markup.encode("utf-8")
    parts: list[str] = []
    heading: str | None = None
    title: str | None = None
    try:
        parser = etree.HTMLParser(recover=True, no_network=True, remove_comments=True, huge_tree=False)
        root = etree.fromstring(markup, parser)
        if root is None:
            return "", None, None
        skipping = 0
        # iterwalk is iterative, so deeply nested markup cannot blow the stack.
        for action, el in etree.iterwalk(root, events=("start", "end")):
            tag = _local(el.tag)
            if action == "start":
                if tag == "title" and title is None:
                    title = normalize_text("".join(el.itertext())) or None
                if tag in _SKIP:
                    skipping += 1
                elif not skipping:
                    if heading is None and tag in {"h1", "h2", "h3"}:
                        heading = normalize_text("".join(el.itertext())) or None
                    if el.text:
                        parts.append(el.text)
            else:
                if tag in _SKIP:
                    skipping -= 1
                elif not skipping and tag in _BLOCK:
                    parts.append("\n\n")
                if el.tail and not skipping:
                    parts.append(el.tail)
        text = "".join(parts)
        if any(e.type_name == "ERR_RESOURCE_LIMIT" for e in parser.error_log):
            # libxml2 silently drops everything below its depth limit; keep the words.
            raise ValueError("markup nested too deeply")
    except (etree.LxmlError, ValueError) as exc:
        logger.debug("falling back to tag stripping: %s", exc)
        text = _TAG.sub(" ", markup.decode("utf-8", errors="replace"))
    return normalize_text(text), heading, title
