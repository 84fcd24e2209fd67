"""Runtime crons (``hatchet.cron``) in the ``crons`` table. Writes run in ``BEGIN
IMMEDIATE``, so looking for an equal cron and writing cannot interleave with another
process's write; the unique index is the last word all the same."""

from __future__ import annotations

import json

from flowsim.store.cron_records import StoredCron, refuse_duplicate, refuse_taken_id, stored_cron
from flowsim_sqlite.rows import Tx

_COLUMNS = "id, workflow, name, expression, input, additional_metadata, priority, created_at"


def _row(row: tuple[object, ...]) -> StoredCron:
    return stored_cron(row, decode=True)


def create_cron(tx: Tx, new: StoredCron) -> StoredCron:
    equal = tx.execute(
        "SELECT id FROM crons WHERE workflow = ? AND name = ? AND expression = ?",
        (new.workflow, new.name, new.expression),
    ).fetchone()
    if equal is not None:
        raise refuse_duplicate(new, equal[0])
    if get_cron(tx, new.id) is not None:
        raise refuse_taken_id(new)
    tx.execute(
        f"INSERT INTO crons (ord, {_COLUMNS}) "
        "SELECT coalesce(max(ord), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ? FROM crons",
        (new.id, new.workflow, new.name, new.expression, json.dumps(new.input),
         json.dumps(new.additional_metadata), new.priority, new.created_at),
    )  # fmt: skip
    return new


def get_cron(tx: Tx, cron_id: str) -> StoredCron | None:
    row = tx.execute(f"SELECT {_COLUMNS} FROM crons WHERE id = ?", (cron_id,)).fetchone()
    return None if row is None else _row(row)


def delete_cron(tx: Tx, cron_id: str) -> StoredCron | None:
    stored = get_cron(tx, cron_id)
    if stored is not None:
        tx.execute("DELETE FROM crons WHERE id = ?", (cron_id,))
    return stored


def list_crons(tx: Tx) -> list[StoredCron]:
    return [_row(row) for row in tx.execute(f"SELECT {_COLUMNS} FROM crons ORDER BY ord")]
