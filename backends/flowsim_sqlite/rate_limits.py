"""Rate limits in SQLite: the ``rate_limits`` table and parked task runs.

The claim (``claims.claim``) walks its queue heads with ``flowsim.store.rate_screen.choose``
and this module's ``screener``, ``park`` and ``finish``. Everything runs inside the claim's
``BEGIN IMMEDIATE``, so the read of a key's units and their consumption cannot interleave
with another process's claim.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flowsim.rate_limits import Bucket, put
from flowsim.store.rate_screen import FOREVER_THRESHOLD, Screener
from flowsim_sqlite.rows import Tx, id_list, loads

_RUNS = (
    "SELECT id, input, additional_metadata FROM runs WHERE id IN (SELECT value FROM json_each(?))"
)
_BUCKETS = (
    "SELECT key, limit_units, window_seconds, units_left, last_refill FROM rate_limits "
    "WHERE key IN (SELECT value FROM json_each(?))"
)
_STORE = (
    "INSERT INTO rate_limits (key, limit_units, window_seconds, units_left, last_refill) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET limit_units = excluded.limit_units, "
    "window_seconds = excluded.window_seconds, units_left = excluded.units_left, "
    "last_refill = excluded.last_refill"
)
_PARK = "UPDATE task_runs SET rate_wait_until = ? WHERE id = ?"
_RELEASE_CHANGED = (
    "UPDATE task_runs SET rate_wait_until = NULL WHERE status = 'QUEUED' AND rate_wait_until > ?"
)
_RELEASE_DUE = (
    "UPDATE task_runs SET rate_wait_until = NULL "
    "WHERE status = 'QUEUED' AND rate_wait_until IS NOT NULL AND rate_wait_until <= ?"
)
_NEXT = (
    "SELECT min(rate_wait_until) FROM task_runs "
    "WHERE status = 'QUEUED' AND rate_wait_until IS NOT NULL AND rate_wait_until <= ?"
)


def _load(tx: Tx, keys: Sequence[str]) -> dict[str, Bucket]:
    rows = tx.execute(_BUCKETS, (id_list(keys),)).fetchall()
    return {key: Bucket(int(lim), float(window), int(left), float(at))
            for key, lim, window, left, at in rows}  # fmt: skip


def _inputs(tx: Tx, run_ids: Sequence[str]) -> Mapping[str, tuple[Any, Any]]:
    rows = tx.execute(_RUNS, (id_list(run_ids),)).fetchall()
    return {run_id: (loads(data), loads(metadata)) for run_id, data, metadata in rows}


def _store(tx: Tx, buckets: Mapping[str, Bucket]) -> None:
    tx.executemany(
        _STORE,
        [(k, b.limit, b.window, b.value, b.last_refill) for k, b in sorted(buckets.items())],
    )


def screener(tx: Tx, now: float) -> Screener:
    """The claim's view of the keys (read under the write lock the claim holds)."""
    return Screener(lambda ids: _inputs(tx, ids), lambda keys: _load(tx, keys), now)


def park(tx: Tx, parked: Sequence[tuple[str, float]]) -> None:
    tx.executemany(_PARK, [(until, task_id) for task_id, until in parked])


def finish(tx: Tx, screen: Screener) -> None:
    """Write the keys' states as the claim left them; release the runs waiting for a key
    if the claim created one."""
    if screen.touched:
        _store(tx, screen.dirty())
    if screen.changed:
        tx.execute(_RELEASE_CHANGED, (FOREVER_THRESHOLD,))


def put_rate_limit(tx: Tx, key: str, limit: int, window: float, now: float) -> int:
    """Create or change a key; release the task runs that waited for a change."""
    existing = _load(tx, [key]).get(key)
    _store(tx, {key: put(existing, limit, window, now)})
    return tx.execute(_RELEASE_CHANGED, (FOREVER_THRESHOLD,)).rowcount


def release_due(tx: Tx, now: float) -> int:
    """Parked task runs whose keys have refilled by ``now`` become claimable again."""
    return tx.execute(_RELEASE_DUE, (now,)).rowcount


def next_refill(tx: Tx) -> float | None:
    """The earliest instant a parked task run may be admitted (waits for a put excluded)."""
    (when,) = tx.execute(_NEXT, (FOREVER_THRESHOLD,)).fetchone()
    return None if when is None else float(when)
