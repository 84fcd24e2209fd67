"""flowsim's Postgres run store: ``postgresql://user:pass@host/db?schema=NAME``.

Worker processes on many machines share one schema: claims use ``FOR UPDATE SKIP LOCKED``
in batches, idle workers are woken with LISTEN/NOTIFY, and migrations run under an
advisory lock. The driver (psycopg 3 and its pool) comes with the ``postgres`` extra and is
imported only when a store is opened, so the URL can be checked and masked without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowsim.dsn import mask_url
from flowsim.errors import ConfigurationError
from flowsim.store.plugin import BackendPlugin
from flowsim_postgres.urls import SCHEMES, parse_url

if TYPE_CHECKING:
    from flowsim_postgres.store import PostgresStore

MISSING_DRIVER = (
    "the postgresql:// backend needs the postgres extra: pip install 'flowsim[postgres]'"
)


def open_store(url: str) -> PostgresStore:
    """Open (connect and migrate) the store for a URL; ``ConfigurationError`` for a
    malformed URL, a missing driver or a database that cannot be reached or is not ours."""
    parsed = parse_url(url)
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(f"{MISSING_DRIVER} (for {parsed.display})") from exc
    from flowsim_postgres.store import open_store as open_postgres

    return open_postgres(parsed)


backend = BackendPlugin(
    schemes=SCHEMES,
    description=(
        "postgresql://user:pass@host/db?schema=NAME — shared by worker processes on many machines"
    ),
    open_store=open_store,
)


def __getattr__(name: str) -> Any:
    """``PostgresStore`` is imported on first use, so importing this package (to find the
    plug-in, or to mask a URL) never needs psycopg."""
    if name == "PostgresStore":
        from flowsim_postgres.store import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["PostgresStore", "backend", "mask_url", "open_store", "parse_url"]
