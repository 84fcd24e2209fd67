"""flowsim's SQLite run store: ``sqlite:///path/to/file.db``.

Worker processes on one machine share one file: WAL lets readers run beside the single
writer, every change is one ``BEGIN IMMEDIATE`` transaction (so two processes never claim
the same task run), and numbered ``migrations/*.sql`` create the schema. The URL forms are
described in ``flowsim_sqlite.urls``.
"""

from __future__ import annotations

from flowsim.store.plugin import BackendPlugin
from flowsim_sqlite.errors import StoreError
from flowsim_sqlite.store import SqliteStore, open_store
from flowsim_sqlite.urls import parse_url

backend = BackendPlugin(
    schemes=("sqlite",),
    description="sqlite:///path/to/file.db — embedded, durable, one machine",
    open_store=open_store,
)

__all__ = ["SqliteStore", "StoreError", "backend", "open_store", "parse_url"]
