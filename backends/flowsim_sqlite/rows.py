"""Rows to domain values and back: JSON text, statuses, workflow specs, run views.

Everything an operation needs inside one transaction goes through ``Tx``: the connection,
the global sequence, and the caches that may only learn what a transaction wrote once it
commits (a rolled-back spec id could be reused by another process for another spec).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Sequence
from math import isfinite
from typing import Any

from flowsim.store.protocol import RunProgress, RunView, TaskView
from flowsim.store.records import JSON, WorkflowSpec, spec_from_json, spec_to_json
from flowsim.store.views import (
    STATUS,
    attempt_view,
    load_all,
    require_runs,
    run_view,
    task_view,
)

#: compact JSON, keys in insertion order (the order the caller gave them)
dumps: Callable[[Any], str] = json.JSONEncoder(separators=(",", ":")).encode
loads: Callable[[str], Any] = json.loads
EMPTY_OBJECT = "{}"

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


def dump_object(value: dict[str, JSON]) -> str:
    return dumps(value) if value else EMPTY_OBJECT


def load_optional(text: str | None) -> JSON:
    return None if text is None else loads(text)


class IdMaker:
    """uuid4-shaped ids: a random prefix per open store, then a counter (as ``MemoryStore``
    makes them). One store's ids sort together, so inserting rows appends to the id
    indexes instead of dirtying a random page per row, as fully random uuid4s would; two
    stores share a prefix with odds of one in 2**76."""

    def __init__(self) -> None:
        hex_ = uuid.uuid4().hex
        self._prefix = f"{hex_[:8]}-{hex_[8:12]}-4{hex_[13:16]}-8{hex_[17:20]}-"
        self._count = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._count):012x}"


#: rows per multi-row insert (``Tx.insert_many``): past a few hundred, longer statements
#: gain little and take longer to prepare for each new row count
MAX_VALUES_ROWS = 500


@functools.lru_cache(maxsize=64)
def multi_row(sql: str, rows: int) -> str:
    """``sql`` (``INSERT ... VALUES (...)``) with its row of values repeated ``rows``
    times. Cached: a fan-out inserts in batches of one size, so the text is built (and
    SQLite's statement cache finds it prepared) once per size."""
    head, separator, row = sql.rpartition(" VALUES ")
    if not separator or not row.startswith("(") or not row.endswith(")"):
        raise ValueError(f"not an INSERT ... VALUES (...): {sql!r}")
    return f"{head} VALUES {', '.join([row] * rows)}"


def id_list(ids: Iterable[str]) -> str:
    """A JSON array of ids, bound as one parameter and read with ``json_each``: one cached
    statement whatever the number of ids."""
    return dumps(list(ids))


class Tx:
    """One open transaction: the connection, sequence numbers, and what to remember once
    it commits."""

    __slots__ = ("buckets", "conn", "new_id", "on_commit", "spec_ids", "specs")

    def __init__(self, conn: sqlite3.Connection, new_id: IdMaker) -> None:
        self.conn = conn
        self.new_id = new_id
        self.on_commit: list[Callable[[], object]] = []
        #: ``SpecCache``'s answers found in this transaction, before they may be shared:
        #: 10,000 children of one spec would otherwise each insert and select its row
        self.spec_ids: dict[int, tuple[WorkflowSpec, int]] = {}
        self.specs: dict[int, WorkflowSpec] = {}
        self.buckets: dict[float, int] = {}

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        return self.conn.executemany(sql, rows)

    def insert_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """``executemany`` of ``sql``, an ``INSERT ... VALUES (...)``, as multi-row
        inserts of up to ``MAX_VALUES_ROWS`` rows each: SQLite then steps one statement
        per few hundred rows instead of one per row, all of it under the write lock. The
        two inserts of a batch of 1,000 children (runs, then task runs) took 6.0 and 7.7
        ms one row at a time, 3.5 and 5.2 ms so. The rows keep their order (and so their
        rowids), and a row that breaks a constraint fails its statement as it would have
        failed ``executemany``."""
        if not rows:
            return
        width = len(rows[0])
        most = self.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width
        step = max(1, min(MAX_VALUES_ROWS, most))
        for start in range(0, len(rows), step):
            part = rows[start : start + step]
            self.conn.execute(multi_row(sql, len(part)), list(itertools.chain.from_iterable(part)))

    def sequence(self, count: int) -> int:
        """Take ``count`` consecutive values of the global sequence; return the first."""
        (end,) = self.conn.execute(
            "UPDATE counters SET value = value + ? WHERE name = 'seq' RETURNING value", (count,)
        ).fetchall()[0]
        return int(end) - count + 1


class SpecCache:
    """Workflow specs by row id, and the row id of each spec object this process created
    runs of. Spec rows are immutable once committed, so both caches live as long as the
    store."""

    def __init__(self) -> None:
        self._ids: dict[int, tuple[WorkflowSpec, int]] = {}
        self._specs: dict[int, WorkflowSpec] = {}
        self._buckets: dict[float, int] = {}

    def spec_id(self, tx: Tx, spec: WorkflowSpec) -> int:
        for known in (self._ids.get(id(spec)), tx.spec_ids.get(id(spec))):
            if known is not None and known[0] is spec:
                return known[1]
        text = dumps(spec_to_json(spec))
        digest = hashlib.sha256(text.encode()).hexdigest()
        tx.execute(
            "INSERT INTO workflow_specs (digest, name, spec) VALUES (?, ?, ?) "
            "ON CONFLICT (digest) DO NOTHING",
            (digest, spec.name, text),
        )
        (row_id,) = tx.execute(
            "SELECT id FROM workflow_specs WHERE digest = ?", (digest,)
        ).fetchone()

        found = (spec, int(row_id))
        tx.spec_ids[id(spec)] = found
        tx.specs.setdefault(found[1], spec)

        def remember() -> None:
            self._ids[id(spec)] = found
            self._specs.setdefault(found[1], spec)

        tx.on_commit.append(remember)
        return found[1]

    def spec(self, tx: Tx, spec_id: int) -> WorkflowSpec:
        spec = self._specs.get(spec_id)
        if spec is None:
            spec = tx.specs.get(spec_id)
        if spec is None:
            (text,) = tx.execute(
                "SELECT spec FROM workflow_specs WHERE id = ?", (spec_id,)
            ).fetchone()
            spec = spec_from_json(loads(text))
            tx.specs[spec_id] = spec
            # rows read were committed (or written by this transaction, which then cannot
            # have come from elsewhere): remember on commit either way
            tx.on_commit.append(lambda: self._specs.setdefault(spec_id, spec))
        return spec

    def bucket(self, tx: Tx, seconds: float) -> int:
        """The rank of a schedule timeout among the distinct timeouts in first-use order."""
        rank = self._buckets.get(seconds)
        if rank is None:
            rank = tx.buckets.get(seconds)
        if rank is not None:
            return rank
        tx.execute(
            "INSERT INTO timeout_buckets (seconds) VALUES (?) ON CONFLICT (seconds) DO NOTHING",
            (seconds,),
        )
        (found,) = tx.execute(
            "SELECT id FROM timeout_buckets WHERE seconds = ?", (seconds,)
        ).fetchone()
        tx.buckets[seconds] = int(found)
        tx.on_commit.append(lambda: self._buckets.setdefault(seconds, int(found)))
        return int(found)


# ---------------------------------------------------------------- reading run views

#: a run's status as the readers see it, for a ``runs`` row aliased ``r``: the stored one,
#: but RUNNING for a QUEUED run one of whose task runs has been claimed (has an attempt).
#: Claims do not write the run row; a store written before they stopped still holds
#: RUNNING there, which reads the same.
RUN_STATUS = (
    "CASE WHEN r.status = 'QUEUED' AND EXISTS (SELECT 1 FROM task_runs s "
    "WHERE s.run_id = r.id AND s.attempts <> '[]') THEN 'RUNNING' ELSE r.status END"
)
_RUNS = (
    f"SELECT r.id, r.workflow, {RUN_STATUS}, r.input, r.additional_metadata, r.priority, "
    "r.created_at, r.finished_at, r.parent_task_run_id, r.child_key, r.child_index, "
    "r.event_id, r.event_key, r.event_filter FROM runs AS r "
    "WHERE r.id IN (SELECT value FROM json_each(?))"
)
#: what ``read_progress`` reads of a run (its task runs come from ``_TASKS``)
_PROGRESS = (
    f"SELECT r.id, {RUN_STATUS}, r.finished_at "
    "FROM runs AS r WHERE r.id IN (SELECT value FROM json_each(?))"
)
_TASKS = (
    "SELECT id, name, status, retry_count, output, error, worker_id, run_id, attempts "
    "FROM task_runs WHERE run_id IN (SELECT value FROM json_each(?)) ORDER BY rowid"
)
NO_ATTEMPTS = "[]"
#: the same rows with every attempts column read as none (``get_runs(attempts=False)``)
_TASKS_WITHOUT_ATTEMPTS = _TASKS.replace("run_id, attempts ", f"run_id, '{NO_ATTEMPTS}' ")


def attempt_json(number: int, worker_id: str, queued_at: float, started_at: float) -> str:
    """A new, running attempt as the JSON text appended to ``task_runs.attempts``."""
    return dumps([number, worker_id, queued_at, started_at, None, "RUNNING", None])


def attempts_json(worker_id: str, started_at: float) -> Callable[[int, float], str]:
    """``attempt_json`` of many attempts one worker starts at one instant (one claim), by
    number and queue time: ``dumps`` costs microseconds a call, and a claim of 1,000 task
    runs made 1,000 of them. The shared parts are encoded once; a finite float's JSON text
    is its ``repr``, as ``dumps`` writes it (anything else still goes through ``dumps``)."""
    worker = dumps(worker_id)
    tail = f'{dumps(started_at)},null,"RUNNING",null]'

    def text(number: int, queued_at: float) -> str:
        if type(number) is not int or type(queued_at) is not float or not isfinite(queued_at):
            return attempt_json(number, worker_id, queued_at, started_at)
        return f"[{number},{worker},{queued_at!r},{tail}"

    return text


def read_run_ids(tx: Tx) -> list[str]:
    """Oldest first: ids are inserted in creation order, so rowid order is that order."""
    return [row[0] for row in tx.execute("SELECT id FROM runs ORDER BY rowid")]


def read_views(tx: Tx, run_ids: Sequence[str], with_attempts: bool = True) -> list[RunView]:
    """The runs, in the order asked (their attempts too, if ``with_attempts``);
    ``RunNotFoundError`` names the first unknown id."""
    wanted = list(dict.fromkeys(run_ids))
    ids = id_list(wanted)
    runs = tx.execute(_RUNS, (ids,)).fetchall()
    require_runs({row[0]: row for row in runs}, wanted)
    tasks = _read_tasks(tx, ids, wanted, with_attempts)
    # the runs' inputs and metadata decoded together (load_all), as the outputs are
    inputs = load_all([row[3] for row in runs])
    metadata = load_all([row[4] for row in runs])
    views = {
        row[0]: run_view(
            (*row[:3], given, meta, *row[5:13], None if row[13] is None else loads(row[13])),
            STATUS[row[2]],
            tasks[row[0]],
        )
        for row, given, meta in zip(runs, inputs, metadata, strict=True)
    }
    return [views[run_id] for run_id in run_ids]


def read_progress(tx: Tx, run_ids: Sequence[str]) -> list[RunProgress]:
    """``read_views(tx, run_ids, with_attempts=False)`` without what never changes after a
    run is created (``RunStore.get_progress``)."""
    wanted = list(dict.fromkeys(run_ids))
    ids = id_list(wanted)
    runs = {row[0]: row for row in tx.execute(_PROGRESS, (ids,))}
    require_runs(runs, wanted)
    tasks = _read_tasks(tx, ids, wanted, with_attempts=False)
    progress = {
        run_id: RunProgress(run_id, STATUS[status], finished_at, tasks[run_id])
        for run_id, status, finished_at in runs.values()
    }
    return [progress[run_id] for run_id in run_ids]


def _read_tasks(
    tx: Tx, ids: str, wanted: Sequence[str], with_attempts: bool
) -> dict[str, dict[str, TaskView]]:
    """The task runs of the runs ``wanted`` (``ids``: their JSON list), by run and name."""
    # task_view's columns, run_id, attempts; the outputs decoded together (load_all),
    # each error alone (few have one)
    task_rows = tx.execute(_TASKS if with_attempts else _TASKS_WITHOUT_ATTEMPTS, (ids,)).fetchall()
    outputs = iter(load_all([row[4] for row in task_rows if row[4] is not None]))
    attempts = iter(load_all([row[8] for row in task_rows if row[8] != NO_ATTEMPTS]))
    tasks: dict[str, dict[str, TaskView]] = {run_id: {} for run_id in wanted}
    for row in task_rows:
        task_id, name, status, retry_count, output, error, worker_id, run_id, attempt_text = row
        tasks[run_id][name] = task_view(
            (
                task_id, name, status, retry_count,
                None if output is None else next(outputs),
                None if error is None else loads(error),
                worker_id,
            ),
            ()
            if attempt_text == NO_ATTEMPTS
            else tuple(attempt_view(attempt) for attempt in next(attempts)),
        )  # fmt: skip
    return tasks
