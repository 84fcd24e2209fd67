"""Turning the alias on and off: the finder at the front of ``sys.meta_path``, and the
real hatchet_sdk's modules set aside while it is on.

A real hatchet_sdk imported earlier would otherwise keep answering from ``sys.modules``,
whatever the finder says; setting its modules aside (rather than deleting them) lets
``uninstall()`` put the process back as it was, which a test session or a test that turns
the alias on for a while relies on.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from flowsim.compat.alias import is_alias
from flowsim.compat.finder import HatchetAliasFinder, claims

_lock = threading.RLock()
_finder = HatchetAliasFinder()
#: modules of a real hatchet_sdk set aside by install(), restored by uninstall()
_set_aside: dict[str, ModuleType] = {}


def is_installed() -> bool:
    return _finder in sys.meta_path


def install() -> None:
    """From now on ``import hatchet_sdk`` (and its submodules) gives flowsim's API.

    Idempotent. Modules that imported the real hatchet_sdk before keep the objects they
    already hold: call this before importing the code that uses hatchet_sdk."""
    with _lock:
        if is_installed():
            return
        for name in [name for name in sys.modules if claims(name)]:
            module = sys.modules[name]
            if not is_alias(module):
                _set_aside[name] = sys.modules.pop(name)
        sys.meta_path.insert(0, _finder)


def uninstall() -> None:
    """Undo install(): drop the alias modules and give back any real hatchet_sdk modules it
    set aside. Idempotent."""
    with _lock:
        if not is_installed():
            return
        while _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
        for name in [name for name in sys.modules if claims(name)]:
            if is_alias(sys.modules[name]):
                del sys.modules[name]
        sys.modules.update(_set_aside)
        _set_aside.clear()


@contextmanager
def installed() -> Iterator[None]:
    """``with installed():`` the alias is on inside the block, and afterwards as it was
    before (still on if it was already on)."""
    with _lock:
        was_installed = is_installed()
        install()
    try:
        yield
    finally:
        if not was_installed:
            uninstall()
