"""What every Postgres operation shares: the transaction's session, JSON parameters, a
run's derived status, and the cache of workflow specs a store has stored or read
(immutable per content digest). The views themselves are built by ``flowsim.store.views``."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg.rows import TupleRow

from flowsim.rules import RunStatus
from flowsim.store.records import JSON, WorkflowSpec, spec_from_json, spec_to_json
from flowsim.store.views import STATUS

Conn = psycopg.Connection[TupleRow]

#: SET clause releasing a task run from the attempt that held it (no token fits any more)
RELEASE = (
    "held_token = NULL, lease_expires_at = NULL, lease_batch = NULL, lease_pos = NULL, "
    "waiting_on = NULL"
)


#: an attempt's fields, in ``views.attempt_view``'s order: columns of the attempts table,
#: and (prefixed ``att_``) of a task run's row, which holds its last attempt (migration
#: 0009: earlier attempts are rows of their own)
ATTEMPT_FIELDS = ("number", "worker_id", "queued_at", "started_at", "finished_at", "outcome",
                  "error")  # fmt: skip
ATTEMPT_COLUMNS = ", ".join(ATTEMPT_FIELDS)
LAST_ATTEMPT = ", ".join(f"att_{name}" for name in ATTEMPT_FIELDS)


def end_attempt(outcome: str, now: str, error: str = "NULL") -> str:
    """SET clause ending the attempt a task run's row holds, if it holds one still running
    (a queued task run being cancelled has none running: its last attempt stays as it
    ended). ``now`` and ``error`` are SQL: a placeholder, a column, a literal."""
    running = "att_outcome = 'RUNNING'"
    return (
        f"att_finished_at = CASE WHEN {running} THEN {now} ELSE att_finished_at END, "
        f"att_error = CASE WHEN {running} THEN {error} ELSE att_error END, "
        f"att_outcome = CASE WHEN {running} THEN '{outcome}' ELSE att_outcome END"
    )


#: Array parameters are passed in binary (``%b``): psycopg escapes every element of a text
#: array with a regular expression, which made dumping the ~20 arrays of a 10,000-run
#: ``create_runs`` cost ~0.6 s; in binary it is about a quarter of that.


#: ``json.dumps(value, separators=(",", ":"))`` builds an encoder per call: a fan-out
#: dumps two values per child, and the shared encoder halves that cost (same text)
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def dumps(value: JSON) -> str:
    """JSON text for a jsonb parameter (never pickle)."""
    return _ENCODER.encode(value)


_DECODER = json.JSONDecoder()
_BLANK = frozenset(" \t\n\r")


def loads_jsonb(data: str | bytes) -> JSON:
    """A json or jsonb value the server sent, decoded at a third of ``json.loads``'s cost
    on the small values of inputs, metadata and outputs, which claims and reads decode by
    the ten thousand. jsonb's text form is one value with nothing before or after it; a
    json value keeps the whitespace it was written with, so one that starts with some
    takes ``json.loads``."""
    text = data.decode() if isinstance(data, bytes) else data
    if text[:1] in _BLANK:
        return json.loads(text)
    value: JSON = _DECODER.raw_decode(text)[0]
    return value


#: per process: ids taken one after another sort in that order (see ``new_ids``)
_ID_COUNTER = itertools.count(int.from_bytes(os.urandom(5), "big"))
_BITS_42 = (1 << 42) - 1


def new_ids(count: int) -> list[str]:
    """``count`` time-ordered (version 7) UUIDs as text: the creation time in milliseconds,
    then a counter of this process (from a random start), then 32 random bits. Ids made
    later sort later, so the rows a fan-out inserts append to the right edge of the id
    indexes (runs, task runs, a task run's run) instead of each landing on a random page,
    as version 4 ids did, and a batch's claims and completions find their rows on a few
    adjacent pages. Unique across processes by the counter and the random bits (two ids
    alike need the same millisecond, counter value and 32 random bits)."""
    millis = time.time_ns() // 1_000_000
    stamp = f"{millis & 0xFFFF_FFFF_FFFF:012x}"
    head = f"{stamp[:8]}-{stamp[8:]}-7"
    random_hex = os.urandom(4 * count).hex()
    ids = []
    for index in range(count):
        n = next(_ID_COUNTER) & _BITS_42
        ids.append(
            f"{head}{n >> 30:03x}-{0x8000 | (n >> 16) & 0x3FFF:04x}-{n & 0xFFFF:04x}"
            f"{random_hex[8 * index : 8 * index + 8]}"
        )
    return ids


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
    #: runs with concurrency limits whose tasks ended: ``places.settle`` frees their places
    limited_runs: set[str] = field(default_factory=set)
    #: runs a concurrency strategy ended in this transaction (``places.cancel_unit``), for
    #: the outcome of an operation that reports what ended (``replay_tasks``)
    cancelled_by_limits: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SpecCache:
    """Workflow specs by content digest. A digest names one spec forever, so a spec read
    once is never read again."""

    by_digest: dict[str, WorkflowSpec] = field(default_factory=dict)
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


def ended_status(run: str) -> str:
    """SQL for the status a run ended with (NULL while it has not), the run row aliased
    ``run``. A run with one task and no concurrency limit (a fan-out child) ends when its
    task run does, and its set-wise completion (``batch.complete_many``) writes only that
    task run, marking it with ``finish_xid`` (migration 0014): such a run's own
    ``terminal_status`` stays NULL and its task run's status is the run's."""
    return (
        f"coalesce({run}.terminal_status, (SELECT e.status FROM task_runs e "
        f"WHERE e.run_id = {run}.id AND e.finish_xid IS NOT NULL))"
    )


def run_status(terminal_status: str | None, started: bool) -> RunStatus:
    """A run is QUEUED until one of its task runs is claimed, RUNNING until it ends."""
    if terminal_status is not None:
        return STATUS[terminal_status]
    return RunStatus.RUNNING if started else RunStatus.QUEUED
