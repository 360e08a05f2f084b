"""What decides a stored vector besides the manifest: the text it is embedded from, and how.

The manifest (:class:`~desktop_search.storage.records.Manifest`) pins what
must match for two vectors to be comparable at all (model, pooling, chunking,
prefixes): a difference there means a rebuild. What is here is finer, and
never a reason to refuse an index:

- the **title rule**, which decides the text a passage is embedded from. It
  changed once (b91051d) for about one passage per document; an index records
  the rule its vectors follow (meta ``title_rule``), so an upgrade re-embeds
  exactly the passages whose text the change alters, and no other;
- the **engine** and its **arithmetic** (ONNX Runtime fp32/int8, torch
  fp32/bf16/fp16): the float ones move a vector by less than rankings notice
  (bf16 is within 1e-4 cosine of fp32, ONNX Runtime's fp32 within 1e-6 of
  torch's), so an fp32 index from one engine and one from another are
  interchangeable. int8 moves a vector by about 1e-2, so with precision
  ``auto`` an int8 index is updated and queried in int8 and a float one in
  float (:func:`~desktop_search.embed.engine.follow_index`). Both are
  recorded (meta ``embedding_engine``, ``embedding_precision``), never a
  reason to refuse an index.
"""
from __future__ import annotations

from enum import IntEnum


class TitleRule(IntEnum):
    """How a document's title joins a passage's embedded text (stored as its number)."""

    ALWAYS = 1  # "title\\n" + passage whenever the document has a title: schema 1 and 2, and 70c1ecf
    UNLESS_OPENING = 2  # the same, unless the passage opens with the title already (b91051d)


TITLE_RULE = TitleRule.UNLESS_OPENING  # what this version embeds with

UNKNOWN = "unknown"  # an engine or precision that vectors were made with before it was recorded


def embedding_text(title: str | None, text: str, title_prefix: bool, rule: TitleRule = TITLE_RULE) -> str:
    """What the model embeds for a passage: ``title\n`` + passage (the title
    tells a later passage what the document is about), or the passage alone
    when it opens with the title already, as most first pages do: the copy
    would cost tokens (5% of those SciFact embeds) and only weigh the title twice."""
    return embedding_head(title, text, title_prefix, rule) + text


def embedding_head(title: str | None, text: str, title_prefix: bool, rule: TitleRule = TITLE_RULE) -> str:
    """What :func:`embedding_text` puts before the passage: ``title\n``, or nothing (the workers
    tokenize head and passage apart, so a passage's ids are made once)."""
    if not (title_prefix and title) or (rule >= TitleRule.UNLESS_OPENING and opens_with(text, title)):
        return ""
    return title + "\n"


def opens_with(text: str, title: str) -> bool:
    """Whether ``text`` starts with ``title``, ignoring case and how lines and spaces fall."""
    head = " ".join(text[: 2 * len(title) + 16].split()).casefold()
    return head.startswith(" ".join(title.split()).casefold())


def rule_changes_text(title: str | None, text: str, old: TitleRule, new: TitleRule = TITLE_RULE) -> bool:
    """Whether a passage embedded under ``old`` would be embedded from other text under ``new``
    (title prefixing on, as the manifest's ``title_prefix`` must be for the rule to matter)."""
    return embedding_text(title, text, True, old) != embedding_text(title, text, True, new)
