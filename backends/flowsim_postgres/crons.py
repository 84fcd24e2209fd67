"""Runtime crons (``hatchet.cron``) in the ``crons`` table. A create that meets an equal
cron (the unique index: workflow, name, expression) inserts nothing and names the one
stored, also when another process stored it a moment before."""

from __future__ import annotations

from psycopg.types.json import Jsonb

from flowsim.store.cron_records import StoredCron, refuse_duplicate, refuse_taken_id, stored_cron
from flowsim_postgres.rows import Conn, Session

_COLUMNS = "id, workflow, name, expression, input, additional_metadata, priority, created_at"


def _row(row: tuple[object, ...]) -> StoredCron:
    return stored_cron(row, decode=False)


def create_cron(session: Session, new: StoredCron) -> StoredCron:
    inserted = session.conn.execute(
        f"INSERT INTO crons ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING RETURNING id",
        (new.id, new.workflow, new.name, new.expression, Jsonb(new.input),
         Jsonb(new.additional_metadata), new.priority, new.created_at),
    ).fetchone()  # fmt: skip
    if inserted is None:
        equal = session.conn.execute(
            "SELECT id FROM crons WHERE workflow = %s AND name = %s AND expression = %s",
            (new.workflow, new.name, new.expression),
        ).fetchone()
        if equal is not None:
            raise refuse_duplicate(new, equal[0])
        raise refuse_taken_id(new)
    return new


def get_cron(conn: Conn, cron_id: str) -> StoredCron | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM crons WHERE id = %s", (cron_id,)).fetchone()
    return None if row is None else _row(row)


def delete_cron(session: Session, cron_id: str) -> StoredCron | None:
    row = session.conn.execute(
        f"DELETE FROM crons WHERE id = %s RETURNING {_COLUMNS}", (cron_id,)
    ).fetchone()
    return None if row is None else _row(row)


def list_crons(conn: Conn) -> list[StoredCron]:
    return [_row(row) for row in conn.execute(f"SELECT {_COLUMNS} FROM crons ORDER BY ord")]
