"""Runtime event filters (``hatchet.filters``) in the ``filters`` table. A create that
meets an equal filter (the unique index: workflow, scope, expression, payload) inserts
nothing and names the one stored, also when another process stored it a moment before."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg.types.json import Jsonb

from flowsim.store.event_filters import (
    FilterChange,
    StoredFilter,
    refuse_duplicate,
    refuse_taken_id,
    stored_filter,
)
from flowsim_postgres.rows import Conn, Session

_COLUMNS = "id, workflow_id, scope, expression, payload, created_at, updated_at"
_EQUAL = (
    "SELECT id FROM filters WHERE workflow_id = %(workflow)s AND scope = %(scope)s "
    "AND expression = %(expression)s AND md5(payload::text) = md5(%(payload)s::jsonb::text) "
    "AND id <> %(id)s"
)


def _fields(wanted: StoredFilter) -> dict[str, object]:
    return {
        "id": wanted.id,
        "workflow": wanted.workflow_id,
        "scope": wanted.scope,
        "expression": wanted.expression,
        "payload": Jsonb(wanted.payload),
        "created": wanted.created_at,
        "updated": wanted.updated_at,
    }


def _refuse_equal(conn: Conn, wanted: StoredFilter) -> None:
    row = conn.execute(_EQUAL, _fields(wanted)).fetchone()
    if row is not None:
        raise refuse_duplicate(wanted, row[0])


def create_filter(session: Session, new: StoredFilter) -> StoredFilter:
    inserted = session.conn.execute(
        f"INSERT INTO filters ({_COLUMNS}) VALUES (%(id)s, %(workflow)s, %(scope)s, "
        "%(expression)s, %(payload)s, %(created)s, %(updated)s) ON CONFLICT DO NOTHING "
        "RETURNING id",
        _fields(new),
    ).fetchone()
    if inserted is None:
        _refuse_equal(session.conn, new)
        raise refuse_taken_id(new)
    return new


def get_filter(conn: Conn, filter_id: str) -> StoredFilter | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM filters WHERE id = %s", (filter_id,)).fetchone()
    return None if row is None else stored_filter(*row)


def update_filter(
    session: Session, filter_id: str, change: FilterChange, now: float
) -> StoredFilter | None:
    row = session.conn.execute(
        f"SELECT {_COLUMNS} FROM filters WHERE id = %s FOR UPDATE", (filter_id,)
    ).fetchone()
    if row is None:
        return None
    changed = change.applied(stored_filter(*row), now)
    _refuse_equal(session.conn, changed)
    session.conn.execute(
        "UPDATE filters SET scope = %(scope)s, expression = %(expression)s, "
        "payload = %(payload)s, updated_at = %(updated)s WHERE id = %(id)s",
        _fields(changed),
    )
    return changed


def delete_filter(session: Session, filter_id: str) -> StoredFilter | None:
    row = session.conn.execute(
        f"DELETE FROM filters WHERE id = %s RETURNING {_COLUMNS}", (filter_id,)
    ).fetchone()
    return None if row is None else stored_filter(*row)


def list_filters(
    conn: Conn,
    workflow_ids: Sequence[str] | None,
    scopes: Sequence[str] | None,
    limit: int,
    offset: int,
) -> tuple[list[StoredFilter], int]:
    parameters = {
        "workflows": None if workflow_ids is None else list(workflow_ids),
        "scopes": None if scopes is None else list(scopes),
        "limit": limit,
        "offset": offset,
    }
    condition = (
        "(%(workflows)s::text[] IS NULL OR workflow_id = ANY(%(workflows)s::text[])) "
        "AND (%(scopes)s::text[] IS NULL OR scope = ANY(%(scopes)s::text[]))"
    )
    total = conn.execute(f"SELECT count(*) FROM filters WHERE {condition}", parameters).fetchone()
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM filters WHERE {condition} "
        "ORDER BY ord DESC LIMIT %(limit)s OFFSET %(offset)s",
        parameters,
    ).fetchall()
    return [stored_filter(*row) for row in rows], int(total[0]) if total else 0
