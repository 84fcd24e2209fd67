"""Driver errors, translated in one place.

A ``sqlite3`` exception never leaves this package as itself: a file that cannot be opened,
is not a database or is not ours becomes ``ConfigurationError`` when the store opens, and a
failure during an operation becomes ``StoreError``. Both name the file, and keep the
driver's exception as ``__cause__`` for whoever debugs it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flowsim.errors import ConfigurationError, FlowsimError


class StoreError(FlowsimError, RuntimeError):
    """The SQLite run store failed an operation (disk full, file removed, lock held too
    long by another process)."""


def _hint(exc: BaseException) -> str:
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return "; another process held the write lock past the busy timeout"
    if "readonly" in text or "read-only" in text:
        return "; the file or its directory is not writable by this process"
    if "disk i/o" in text or "full" in text:
        return "; check the disk the file is on"
    return ""


def cannot_open(path: Path, exc: BaseException) -> ConfigurationError:
    """Opening failed: say which file and why."""
    hint = _hint(exc)
    if isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc):
        hint = "; check that its directory exists and is writable"
    return ConfigurationError(f"cannot open the SQLite run store {str(path)!r}: {exc}{hint}")


def not_a_database(path: Path, detail: str) -> ConfigurationError:
    return ConfigurationError(
        f"{str(path)!r} is not a SQLite database ({detail}); flowsim left it untouched. "
        "Point sqlite:/// at a new file, or at a flowsim store."
    )


def failed(path: Path, action: str, exc: BaseException) -> StoreError:
    """An operation failed after the store was open."""
    return StoreError(f"SQLite run store {str(path)!r}: {action} failed: {exc}{_hint(exc)}")
