"""The search bar alone: the filters it starts with and keeps, and the requests its keys make."""
from __future__ import annotations

from PySide6.QtCore import Qt

from desktop_search.gui.search_bar import TYPE_PAUSE_MS, SearchBar
from desktop_search.settings import Settings


def make_bar(qtbot, **settings) -> SearchBar:
    bar = SearchBar(Settings(**settings))
    qtbot.addWidget(bar)
    return bar


def test_filters_start_from_the_settings_and_survive_a_library_refresh(qtbot):
    bar = make_bar(qtbot, filter_folders=["/books/saved"], filter_kinds=["epub"])
    assert bar.filters() == (("/books/saved",), ("epub",))  # shown before the library has loaded
    bar.set_folders(["/books/a", "/books/b"])
    assert bar.filters() == (("/books/saved",), ("epub",))
    assert [bar.folder_filter.itemData(i) for i in range(bar.folder_filter.count())] == \
        ["", "/books/a", "/books/b", "/books/saved"]


def test_set_filters_chooses_and_says_so(qtbot):
    bar = make_bar(qtbot)
    assert bar.filters() == ((), ())
    with qtbot.waitSignal(bar.filters_changed):
        bar.set_filters(folder="/elsewhere", kind="pdf")
    assert bar.filters() == (("/elsewhere",), ("pdf",))
    with qtbot.waitSignal(bar.filters_changed):
        bar.set_filters()
    assert bar.filters() == ((), ())


def test_keys_in_the_field_become_requests(qtbot):
    bar = make_bar(qtbot)
    bar.field.setText("  light energy  ")
    with qtbot.waitSignal(bar.search_requested):
        qtbot.keyClick(bar.field, Qt.Key.Key_Return)
    assert bar.take_query() == "light energy"
    with qtbot.waitSignal(bar.results_wanted):
        qtbot.keyClick(bar.field, Qt.Key.Key_Down)
    with qtbot.waitSignal(bar.open_requested), qtbot.assertNotEmitted(bar.search_requested):
        qtbot.keyClick(bar.field, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def test_search_as_you_type_waits_for_a_pause_and_only_when_on(qtbot):
    bar = make_bar(qtbot)
    with qtbot.assertNotEmitted(bar.search_requested, wait=TYPE_PAUSE_MS * 2):
        qtbot.keyClicks(bar.field, "tectonics")
    bar.set_search_as_you_type(True)
    with qtbot.waitSignal(bar.search_requested):
        qtbot.keyClicks(bar.field, " plates")
    # A search run now covers what was typed: the pending one is dropped.
    qtbot.keyClicks(bar.field, " drift")
    with qtbot.assertNotEmitted(bar.search_requested, wait=TYPE_PAUSE_MS * 2):
        assert bar.take_query() == "tectonics plates drift"


def test_show_searching_names_the_passage_a_similar_search_is_near(qtbot):
    bar = make_bar(qtbot)
    bar.show()
    bar.show_searching("more like p. 2 of notes.pdf")
    assert bar.busy.isVisible() and bar.similar_label.text() == "· more like p. 2 of notes.pdf"
    bar.show_done()
    bar.show_searching()
    assert bar.similar_label.text() == ""
