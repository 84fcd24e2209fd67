"""Rate limits in Postgres: the ``rate_limits`` table and parked task runs.

The claim (``claims.claim``) walks its queue heads with ``flowsim.store.rate_screen.choose``
and this module's ``screener``, ``park`` and ``finish``. Claimers lock their candidate rows
with SKIP LOCKED and never wait on each other, but a key's units are read, decided on and
written back: so a claim that meets a rate-limited task run, and ``put``, first take a
transaction-level advisory lock (one per schema). Rate-limited claims are serialised by
it, and two workers never take the same units; claims of other task runs never touch it.
Nothing holding that lock waits for a row lock (releases use SKIP LOCKED), so it cannot
deadlock with a claim that holds rows and waits for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from flowsim.rate_limits import Bucket, put
from flowsim.store.rate_screen import FOREVER_THRESHOLD, Screener
from flowsim_postgres.rows import Conn, Session

_LOCK = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.flowsim.rate_limits'))"
_RUNS = "SELECT id, input, additional_metadata FROM runs WHERE id = ANY(%s)"
_BUCKETS = (
    "SELECT key, limit_units, window_seconds, units_left, last_refill FROM rate_limits "
    "WHERE key = ANY(%s)"
)
_STORE = """
INSERT INTO rate_limits (key, limit_units, window_seconds, units_left, last_refill)
SELECT * FROM unnest(%s::text[], %s::bigint[], %s::float8[], %s::bigint[], %s::float8[])
ON CONFLICT (key) DO UPDATE SET limit_units = excluded.limit_units,
    window_seconds = excluded.window_seconds, units_left = excluded.units_left,
    last_refill = excluded.last_refill
"""
_PARK = """
UPDATE task_runs t SET rate_wait_until = p.until
FROM unnest(%s::text[], %s::float8[]) AS p(id, until) WHERE t.id = p.id
"""
_RELEASE_CHANGED = """
UPDATE task_runs SET rate_wait_until = NULL
WHERE id IN (SELECT id FROM task_runs WHERE status = 'QUEUED' AND rate_wait_until > %s
             FOR NO KEY UPDATE SKIP LOCKED)
RETURNING id
"""
_RELEASE_DUE = """
UPDATE task_runs SET rate_wait_until = NULL
WHERE id IN (SELECT id FROM task_runs WHERE status = 'QUEUED' AND rate_wait_until <= %s
             FOR NO KEY UPDATE SKIP LOCKED)
RETURNING id
"""
#: the earliest refill a parked task run waits for (for next_wakeup's least(...))
NEXT_REFILL = (
    "(SELECT rate_wait_until FROM task_runs WHERE status = 'QUEUED' "
    f"AND rate_wait_until <= {FOREVER_THRESHOLD:.0e} ORDER BY rate_wait_until LIMIT 1)"
)


def _load(conn: Conn, keys: Sequence[str]) -> dict[str, Bucket]:
    rows = conn.execute(_BUCKETS, (list(keys),)).fetchall()
    return {key: Bucket(int(lim), float(window), int(left), float(at))
            for key, lim, window, left, at in rows}  # fmt: skip


def _inputs(conn: Conn, run_ids: Sequence[str]) -> Mapping[str, tuple[Any, Any]]:
    rows = conn.execute(_RUNS, (list(run_ids),)).fetchall()
    return {run_id: (data, metadata) for run_id, data, metadata in rows}


def _store(conn: Conn, buckets: Mapping[str, Bucket]) -> None:
    items = sorted(buckets.items())
    conn.execute(
        _STORE,
        (
            [k for k, _ in items], [b.limit for _, b in items], [b.window for _, b in items],
            [b.value for _, b in items], [b.last_refill for _, b in items],
        ),
    )  # fmt: skip


def screener(session: Session, now: float) -> Screener:
    """The claim's view of the keys: the advisory lock is taken before the first key is
    read, so only claims that meet a rate-limited run wait for it."""
    conn = session.conn
    locked = False

    def load(keys: Sequence[str]) -> dict[str, Bucket]:
        nonlocal locked
        if not locked:
            conn.execute(_LOCK)
            locked = True
        return _load(conn, keys)

    return Screener(lambda ids: _inputs(conn, ids), load, now)


def park(conn: Conn, parked: Sequence[tuple[str, float]]) -> None:
    conn.execute(_PARK, ([task_id for task_id, _ in parked], [until for _, until in parked]))


def finish(session: Session, screen: Screener) -> None:
    """Write the keys' states as the claim left them; release the runs waiting for a key
    if the claim created one."""
    if screen.touched:
        _store(session.conn, screen.dirty())
    if screen.changed:
        session.conn.execute(_RELEASE_CHANGED, (FOREVER_THRESHOLD,))
        session.changed = True


def put_rate_limit(session: Session, key: str, limit: int, window: float, now: float) -> int:
    """Create or change a key; release the task runs that waited for a change."""
    conn = session.conn
    conn.execute(_LOCK)
    _store(conn, {key: put(_load(conn, [key]).get(key), limit, window, now)})
    released = len(conn.execute(_RELEASE_CHANGED, (FOREVER_THRESHOLD,)).fetchall())
    session.changed = True
    return released


def release_due(conn: Conn, now: float) -> int:
    """Parked task runs whose keys have refilled by ``now`` become claimable again."""
    return len(release_due_unread(conn, now).fetchall())


def release_due_unread(conn: Conn, now: float) -> psycopg.Cursor[TupleRow]:
    """``release_due`` whose count is not wanted (a claim's): in pipeline mode the
    statement then travels with the claim's next read instead of costing a round trip."""
    return conn.cursor().execute(_RELEASE_DUE, (now,))
