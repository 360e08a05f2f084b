"""Text normalisation shared by every extractor."""
from __future__ import annotations

from desktop_search.ingest.extract.document import normalize_text


def test_nfkc_turns_ligatures_into_letters() -> None:
    assert normalize_text("e\ufb00ect of \ufb01sh in the o\ufb03ce") == "effect of fish in the office"


def test_fullwidth_and_nbsp_are_normalised() -> None:
    assert normalize_text("\uff21\uff22\uff23\u00a0\u00a0x") == "ABC x"


def test_hyphenated_line_breaks_are_rejoined_but_paragraphs_kept() -> None:
    assert normalize_text("treat-\nment works\nwell\n\n\n\nNext para") == "treatment works well\n\nNext para"


def test_nul_bytes_are_removed() -> None:
    assert normalize_text("a\x00b") == "ab"


def test_a_line_end_between_japanese_characters_adds_no_space() -> None:
    assert normalize_text("オイルショックの影響で、\n良質の紙\n不足した") == "オイルショックの影響で、良質の紙不足した"


def test_a_line_end_next_to_latin_or_hangul_text_is_a_space() -> None:
    assert normalize_text("ISO\n9001を\nISO") == "ISO 9001を ISO"
    # Korean puts spaces between words, so its lines end at them.
    assert normalize_text("하현우가\n노래했다") == "하현우가 노래했다"
