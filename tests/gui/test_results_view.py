"""The results view alone: cards with their further passages folded under them, and the keys on the list."""
from __future__ import annotations

from PySide6.QtCore import Qt

from desktop_search.gui.results import HTML_ROLE
from desktop_search.gui.results_view import ResultsView
from desktop_search.search.results import DocumentResult, SearchResult


def _passage(doc: int, page: int) -> SearchResult:
    return SearchResult(rank=1, score=0.5, path=f"/books/doc{doc}.pdf", title=f"Doc {doc}", page=page, section=None,
                        text=f"Volcanoes of document {doc} on page {page}.", document_id=doc, chunk_id=doc * 10 + page)


def make_view(qtbot) -> tuple[ResultsView, list[SearchResult]]:
    view = ResultsView()
    qtbot.addWidget(view)
    first = [_passage(1, 1), _passage(1, 3), _passage(1, 5)]
    second = [_passage(2, 1)]
    view.show()
    with qtbot.waitSignal(view.current_changed) as blocker:
        view.show_documents([DocumentResult(1, first), DocumentResult(2, second)], ["volcanoes"])
    assert blocker.args == [first[0]]
    return view, first + second


def test_a_card_per_document_with_its_further_passages_hidden(qtbot):
    view, passages = make_view(qtbot)
    cards = view.cards
    assert not view.showing_placeholder() and cards.count() == 4
    assert [cards.item(i).isHidden() for i in range(4)] == [False, True, True, False]
    assert "2 more passages" in cards.item(0).data(HTML_ROLE) and "background-color" in cards.item(0).data(HTML_ROLE)
    assert view.current_result() is passages[0] and not view.expanded(0)
    view.toggle(0)  # as a click on the card's last line does
    assert view.expanded(2) and not cards.item(1).isHidden() and "hide" in cards.item(0).data(HTML_ROLE)
    cards.setCurrentRow(2)
    view.set_expanded(1, False)  # from a further passage: folds its card, and the card is selected
    assert not view.expanded(0) and cards.currentRow() == 0


def test_keys_on_the_list_expand_and_become_requests(qtbot):
    view, passages = make_view(qtbot)
    cards = view.cards
    qtbot.keyClick(cards, Qt.Key.Key_Right)
    assert view.expanded(0)
    with qtbot.waitSignal(view.current_changed) as blocker:
        qtbot.keyClick(cards, Qt.Key.Key_Down)
    assert blocker.args == [passages[1]]
    qtbot.keyClick(cards, Qt.Key.Key_Left)
    assert not view.expanded(0) and cards.currentRow() == 0
    with qtbot.waitSignal(view.open_requested):
        qtbot.keyClick(cards, Qt.Key.Key_Return)
    with qtbot.waitSignal(view.open_requested):
        qtbot.keyClick(cards, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    with qtbot.waitSignal(view.back_requested):
        qtbot.keyClick(cards, Qt.Key.Key_Escape)
    with qtbot.waitSignal(view.copy_requested):
        qtbot.keyClick(cards, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)


def test_enter_selects_the_first_card_if_none_is(qtbot):
    view, passages = make_view(qtbot)
    view.cards.setCurrentRow(-1)
    view.enter()
    assert view.current_result() is passages[0]


def test_no_documents_shows_the_reason(qtbot):
    view, _passages = make_view(qtbot)
    view.show_documents([], [])
    view.show_placeholder("No passages found.")
    assert view.showing_placeholder() and view.placeholder.text() == "No passages found."
    assert view.cards.count() == 0 and view.current_result() is None
    view.enter()  # nothing to go to
    assert view.cards.currentRow() == -1
