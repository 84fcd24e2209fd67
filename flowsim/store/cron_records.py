"""Crons created at runtime (``hatchet.cron.create``, ``wf.create_cron``), kept in the
store so that they outlive the process that made them and every worker process sharing
the store fires them, as a Hatchet server keeps and fires them.

A cron names its workflow, has a name, a cron expression, an input, additional metadata
and a priority. Hatchet's server refuses a second cron of a workflow with the same name
and expression (its unique index on the workflow's trigger, the expression and the name);
the same name with another expression is a second cron.

``CronRecords`` is the in-memory form (the in-memory engine's store and the reference
store); the SQL backends keep the same rows in a ``crons`` table.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from flowsim.errors import InvalidInputError
from flowsim.store.records import JSON


@dataclass(frozen=True, slots=True)
class StoredCron:
    id: str
    workflow: str
    name: str
    expression: str
    input: JSON
    additional_metadata: dict[str, JSON]
    priority: int
    created_at: float


def stored_cron(row: Sequence[Any], decode: bool) -> StoredCron:
    """A cron from a SQL row (its columns in ``StoredCron``'s order): JSON columns as
    text (SQLite, ``decode``) or decoded (Postgres)."""
    cron_id, workflow, name, expression, input, metadata, priority, created_at = row
    if decode:
        input, metadata = json.loads(input), json.loads(metadata)
    return StoredCron(
        str(cron_id), str(workflow), str(name), str(expression), input, dict(metadata),
        int(priority), float(created_at),
    )  # fmt: skip


def refuse_taken_id(wanted: StoredCron) -> InvalidInputError:
    return InvalidInputError(f"a cron with id {wanted.id} exists already")


def refuse_duplicate(wanted: StoredCron, existing_id: str) -> InvalidInputError:
    """Hatchet's server answers "cron trigger with that name-expression pair already
    exists"; this says which one, and what to do."""
    return InvalidInputError(
        f"cron trigger with that name-expression pair already exists: workflow "
        f"{wanted.workflow!r} has a cron named {wanted.name!r} with expression "
        f"{wanted.expression!r} (id {existing_id}); delete it first, or give this one "
        "another name"
    )


class CronStore(Protocol):
    """Where runtime crons are kept: every ``RunStore``, and ``CronRecords``."""

    def create_cron(self, new: StoredCron) -> StoredCron:
        """Store ``new`` as given; ``InvalidInputError`` if its workflow has a cron of the
        same name and expression (the message names it) or its id is taken."""

    def get_cron(self, cron_id: str) -> StoredCron | None: ...

    def delete_cron(self, cron_id: str) -> StoredCron | None:
        """The cron as it was before it was deleted (None if there was none)."""

    def list_crons(self) -> list[StoredCron]:
        """Every stored cron, in the order they were created."""


class CronRecords:
    """Runtime crons in this process's memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, StoredCron] = {}

    def create_cron(self, new: StoredCron) -> StoredCron:
        with self._lock:
            for row in self._rows.values():
                if (row.workflow, row.name, row.expression) == (
                    new.workflow, new.name, new.expression
                ):  # fmt: skip
                    raise refuse_duplicate(new, row.id)
            if new.id in self._rows:
                raise refuse_taken_id(new)
            self._rows[new.id] = new
            return new

    def get_cron(self, cron_id: str) -> StoredCron | None:
        with self._lock:
            return self._rows.get(cron_id)

    def delete_cron(self, cron_id: str) -> StoredCron | None:
        with self._lock:
            return self._rows.pop(cron_id, None)

    def list_crons(self) -> list[StoredCron]:
        with self._lock:
            return list(self._rows.values())
