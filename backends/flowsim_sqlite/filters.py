"""Runtime event filters (``hatchet.filters``) in the ``filters`` table. Writes run in
``BEGIN IMMEDIATE``, so looking for an equal filter and writing cannot interleave with
another process's write; the unique index is the last word all the same."""

from __future__ import annotations

import json
from collections.abc import Sequence

from flowsim.store.event_filters import (
    FilterChange,
    StoredFilter,
    payload_key,
    refuse_duplicate,
    refuse_taken_id,
    stored_filter,
)
from flowsim_sqlite.rows import Tx

_COLUMNS = "id, workflow_id, scope, expression, payload, created_at, updated_at"


def _clash(tx: Tx, wanted: StoredFilter) -> None:
    row = tx.execute(
        "SELECT id FROM filters WHERE workflow_id = ? AND scope = ? AND expression = ? "
        "AND payload = ? AND id != ?",
        (wanted.workflow_id, wanted.scope, wanted.expression, payload_key(wanted.payload),
         wanted.id),
    ).fetchone()  # fmt: skip
    if row is not None:
        raise refuse_duplicate(wanted, row[0])


def create_filter(tx: Tx, new: StoredFilter) -> StoredFilter:
    _clash(tx, new)
    if get_filter(tx, new.id) is not None:
        raise refuse_taken_id(new)
    tx.execute(
        f"INSERT INTO filters (ord, {_COLUMNS}) "
        "SELECT coalesce(max(ord), 0) + 1, ?, ?, ?, ?, ?, ?, ? FROM filters",
        (new.id, new.workflow_id, new.scope, new.expression, payload_key(new.payload),
         new.created_at, new.updated_at),
    )  # fmt: skip
    return new


def get_filter(tx: Tx, filter_id: str) -> StoredFilter | None:
    row = tx.execute(f"SELECT {_COLUMNS} FROM filters WHERE id = ?", (filter_id,)).fetchone()
    return None if row is None else stored_filter(*row)


def update_filter(tx: Tx, filter_id: str, change: FilterChange, now: float) -> StoredFilter | None:
    stored = get_filter(tx, filter_id)
    if stored is None:
        return None
    changed = change.applied(stored, now)
    _clash(tx, changed)
    tx.execute(
        "UPDATE filters SET scope = ?, expression = ?, payload = ?, updated_at = ? WHERE id = ?",
        (changed.scope, changed.expression, payload_key(changed.payload), now, filter_id),
    )
    return changed


def delete_filter(tx: Tx, filter_id: str) -> StoredFilter | None:
    stored = get_filter(tx, filter_id)
    if stored is not None:
        tx.execute("DELETE FROM filters WHERE id = ?", (filter_id,))
    return stored


def list_filters(
    tx: Tx,
    workflow_ids: Sequence[str] | None,
    scopes: Sequence[str] | None,
    limit: int,
    offset: int,
) -> tuple[list[StoredFilter], int]:
    where, parameters = ["1 = 1"], []
    for column, values in (("workflow_id", workflow_ids), ("scope", scopes)):
        if values is not None:
            where.append(f"{column} IN (SELECT value FROM json_each(?))")
            parameters.append(json.dumps(list(values)))
    condition = " AND ".join(where)
    (total,) = tx.execute(f"SELECT count(*) FROM filters WHERE {condition}", parameters).fetchone()
    rows = tx.execute(
        f"SELECT {_COLUMNS} FROM filters WHERE {condition} ORDER BY ord DESC LIMIT ? OFFSET ?",
        [*parameters, limit, offset],
    ).fetchall()
    return [stored_filter(*row) for row in rows], int(total)
