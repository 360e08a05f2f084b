"""The Qt front end. Only this package imports Qt.

Importing it first makes ``True`` immortal on Python 3.11, as Python 3.12
does for every interpreter: PySide6 6.12's ``SignalInstance.emit`` returns
``True`` without taking a reference to it, so each emit from Python drops
one of True's references, and once none is left the interpreter aborts
("bool_dealloc: deallocating True or False"). Where torch is imported its
tens of thousands of references hid that; without it (the default install)
a few thousand emits, one indexing run's progress, were enough. True is a
static object that is never freed, so extra references cost nothing.
"""
from __future__ import annotations

import sys


def _immortal_true() -> None:
    if sys.version_info >= (3, 12):  # immortal already
        return
    import ctypes

    ctypes.c_ssize_t.from_address(id(True)).value += 1 << 40  # ob_refcnt, the object's first field


_immortal_true()
