"""Rows in, views out: how stored values become the protocol's data types, and the cache of
workflow specs a store has stored or read (immutable per content digest)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from flowsim.rules import RunStatus, SlotPool
from flowsim.store.protocol import AttemptView, TaskView, WorkerInfo, WorkerState
from flowsim.store.records import JSON, WorkflowSpec, error_from_json, spec_from_json, spec_to_json

Conn = psycopg.Connection[TupleRow]

#: SET clause releasing a task run from the attempt that held it (no token fits any more)
RELEASE = (
    "held_token = NULL, lease_expires_at = NULL, lease_batch = NULL, lease_pos = NULL, "
    "waiting_on = NULL"
)


def dumps(value: JSON) -> str:
    """JSON text for a jsonb parameter (never pickle)."""
    return json.dumps(value, separators=(",", ":"))


def dumps_or_null(value: JSON) -> str | None:
    """``None`` stays SQL NULL, so an empty output costs nothing to store."""
    return None if value is None else dumps(value)


@dataclass(slots=True)
class Session:
    """One transaction's connection, and whether it changed something other processes
    should hear about (the store then sends one NOTIFY before committing)."""

    conn: Conn
    specs: SpecCache
    changed: bool = False


@dataclass(slots=True)
class SpecCache:
    """Workflow specs by content digest. A digest names one spec forever, so a spec read
    once is never read again, and one stored once is not offered again (unless the schema
    is emptied under us: the store then forgets ``stored`` and retries)."""

    by_digest: dict[str, WorkflowSpec] = field(default_factory=dict)
    stored: set[str] = field(default_factory=set)
    _digests: dict[int, tuple[WorkflowSpec, str, str]] = field(default_factory=dict)

    def digest(self, spec: WorkflowSpec) -> tuple[str, str]:
        """(digest, JSON text) of a spec object, computed once per object."""
        known = self._digests.get(id(spec))
        if known is not None and known[0] is spec:
            return known[1], known[2]
        text = json.dumps(spec_to_json(spec), sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(text.encode()).hexdigest()
        self._digests[id(spec)] = (spec, digest, text)
        self.by_digest.setdefault(digest, spec)
        return digest, text

    def load(self, conn: Conn, digests: Sequence[str]) -> None:
        missing = sorted({d for d in digests if d not in self.by_digest})
        if not missing:
            return
        for digest, data in conn.execute(
            "SELECT digest, spec FROM workflow_specs WHERE digest = ANY(%s)", (missing,)
        ):
            self.by_digest[digest] = spec_from_json(data)

    def get(self, conn: Conn, digest: str) -> WorkflowSpec:
        if digest not in self.by_digest:
            self.load(conn, [digest])
        return self.by_digest[digest]


def task_view(row: Sequence[Any], attempts: tuple[AttemptView, ...]) -> TaskView:
    """From ``id, name, status, retry_count, output, error, worker_id``."""
    task_id, name, status, retry_count, output, error, worker_id = row
    return TaskView(
        id=task_id,
        name=name,
        status=RunStatus(status),
        retry_count=retry_count,
        output=output,
        error=error_from_json(error) if error is not None else None,
        worker_id=worker_id,
        attempts=attempts,
    )


def attempt_view(row: Sequence[Any]) -> AttemptView:
    """From ``number, worker_id, queued_at, started_at, finished_at, outcome, error``."""
    number, worker_id, queued_at, started_at, finished_at, outcome, error = row
    return AttemptView(number, worker_id, queued_at, started_at, finished_at, outcome, error)


def run_status(terminal_status: str | None, started: bool) -> RunStatus:
    """A run is QUEUED until one of its task runs is claimed, RUNNING until it ends."""
    if terminal_status is not None:
        return RunStatus(terminal_status)
    return RunStatus.RUNNING if started else RunStatus.QUEUED


def worker_state(row: Sequence[Any]) -> WorkerState:
    """From ``id, name, capacity, workflows, lease_expires_at, accepting``."""
    worker_id, name, capacity, workflows, lease_expires_at, accepting = row
    info = WorkerInfo(
        worker_id,
        name,
        {SlotPool(pool): int(slots) for pool, slots in capacity.items()},
        tuple(workflows),
    )
    return WorkerState(info, lease_expires_at, accepting)
