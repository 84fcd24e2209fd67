"""How a backend package plugs in: an entry point in the ``flowsim.backends`` group naming
a ``BackendPlugin``. flowsim ships SQLite and Postgres this way, so a third party's
backend is found exactly as ours are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flowsim.store.protocol import RunStore

ENTRY_POINT_GROUP = "flowsim.backends"


@dataclass(frozen=True)
class BackendPlugin:
    #: URL schemes served, e.g. ("postgresql", "postgres")
    schemes: tuple[str, ...]
    #: one line for error messages that list what is available
    description: str
    #: open (and migrate) the store for a URL; raise ``ConfigurationError`` for a malformed
    #: URL, a missing driver (naming the pip extra) or an unreachable/corrupt database
    open_store: Callable[[str], RunStore]
