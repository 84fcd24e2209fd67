"""Event filters created at runtime (``hatchet.filters.create``), kept in the store so that
an event pushed from any process sharing it is filtered by them.

A filter belongs to a workflow (by the id ``workflow.id`` gives), has a scope, a CEL
expression and a payload. Hatchet's server keeps them in one table with a unique index on
(workflow, scope, expression, payload): a second filter equal to one stored is refused,
by ``create`` and by an ``update`` that would make two equal. The payload takes part in
that equality by content, so it is compared in its canonical JSON text (``payload_key``).

``FilterTable`` is the in-memory form (the in-memory engine's store and the reference
store); the SQL backends keep the same rows in a ``filters`` table.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from flowsim.errors import InvalidInputError
from flowsim.store.records import JSON

#: rows one listing returns when no limit is given (Hatchet's server's default)
DEFAULT_FILTER_LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class StoredFilter:
    id: str
    workflow_id: str
    scope: str
    expression: str
    payload: dict[str, JSON]
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class FilterChange:
    """``hatchet.filters.update``: the fields given replace the stored ones; None keeps."""

    scope: str | None = None
    expression: str | None = None
    payload: dict[str, JSON] | None = None

    def applied(self, stored: StoredFilter, now: float) -> StoredFilter:
        return replace(
            stored,
            scope=stored.scope if self.scope is None else self.scope,
            expression=stored.expression if self.expression is None else self.expression,
            payload=stored.payload if self.payload is None else dict(self.payload),
            updated_at=now,
        )


def payload_key(payload: Mapping[str, JSON]) -> str:
    """The payload's canonical JSON text: two payloads equal as JSON have the same key."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def stored_filter(
    filter_id: str,
    workflow_id: str,
    scope: str,
    expression: str,
    payload: str | dict[str, JSON],
    created_at: float,
    updated_at: float,
) -> StoredFilter:
    """A filter from a SQL row: the payload as JSON text (SQLite) or decoded (Postgres)."""
    decoded = json.loads(payload) if isinstance(payload, str) else payload
    return StoredFilter(
        filter_id, workflow_id, scope, expression, decoded, float(created_at), float(updated_at)
    )


def identity(stored: StoredFilter) -> tuple[str, str, str, str]:
    """What no two stored filters share (Hatchet's unique index)."""
    return stored.workflow_id, stored.scope, stored.expression, payload_key(stored.payload)


def refuse_taken_id(wanted: StoredFilter) -> InvalidInputError:
    return InvalidInputError(f"an event filter with id {wanted.id} exists already")


def refuse_duplicate(wanted: StoredFilter, existing_id: str) -> InvalidInputError:
    return InvalidInputError(
        f"an event filter of workflow {wanted.workflow_id} with scope {wanted.scope!r}, "
        f"expression {wanted.expression!r} and this payload exists already "
        f"(id {existing_id}); update or delete that one instead"
    )


def selected(
    rows: Sequence[StoredFilter],
    workflow_ids: Sequence[str] | None,
    scopes: Sequence[str] | None,
) -> list[StoredFilter]:
    """The rows (in the order they were created) of any of ``workflow_ids`` and any of
    ``scopes`` (None: every one), newest first."""
    return [
        row
        for row in reversed(rows)
        if (workflow_ids is None or row.workflow_id in workflow_ids)
        and (scopes is None or row.scope in scopes)
    ]


class FilterStore(Protocol):
    """Where runtime event filters are kept: every ``RunStore``, and ``FilterTable``."""

    def create_filter(self, new: StoredFilter) -> StoredFilter:
        """Store ``new`` as given; ``InvalidInputError`` if an equal filter is stored (the
        message names it) or its id is taken."""

    def get_filter(self, filter_id: str) -> StoredFilter | None: ...

    def update_filter(
        self, filter_id: str, change: FilterChange, now: float
    ) -> StoredFilter | None:
        """The filter changed (None if there is no such filter); ``InvalidInputError``
        if the change would make it equal to another stored filter."""

    def delete_filter(self, filter_id: str) -> StoredFilter | None:
        """The filter as it was before it was deleted (None if there was none)."""

    def list_filters(
        self,
        workflow_ids: Sequence[str] | None,
        scopes: Sequence[str] | None,
        limit: int,
        offset: int,
    ) -> tuple[list[StoredFilter], int]:
        """A page of the filters of any of ``workflow_ids`` and any of ``scopes`` (None:
        all), newest first, and how many there are in all."""


class FilterTable:
    """Runtime event filters in this process's memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, StoredFilter] = {}

    def _clash(self, wanted: StoredFilter) -> None:
        key = identity(wanted)
        for row in self._rows.values():
            if row.id != wanted.id and identity(row) == key:
                raise refuse_duplicate(wanted, row.id)

    def create_filter(self, new: StoredFilter) -> StoredFilter:
        with self._lock:
            self._clash(new)
            if new.id in self._rows:
                raise refuse_taken_id(new)
            self._rows[new.id] = new
            return new

    def get_filter(self, filter_id: str) -> StoredFilter | None:
        with self._lock:
            return self._rows.get(filter_id)

    def update_filter(
        self, filter_id: str, change: FilterChange, now: float
    ) -> StoredFilter | None:
        with self._lock:
            stored = self._rows.get(filter_id)
            if stored is None:
                return None
            changed = change.applied(stored, now)
            self._clash(changed)
            self._rows[filter_id] = changed
            return changed

    def delete_filter(self, filter_id: str) -> StoredFilter | None:
        with self._lock:
            return self._rows.pop(filter_id, None)

    def list_filters(
        self,
        workflow_ids: Sequence[str] | None,
        scopes: Sequence[str] | None,
        limit: int,
        offset: int,
    ) -> tuple[list[StoredFilter], int]:
        with self._lock:
            rows = selected(list(self._rows.values()), workflow_ids, scopes)
        return rows[offset : offset + limit], len(rows)
