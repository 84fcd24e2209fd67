"""One read of the store per change for every waiter in a process.

Each waiter on a durable backend re-reads its runs whenever the change feed moves, and
looks for a deadlock on a fresh snapshot a few times a second. Done per waiter, 70 sync
parents blocked in ``child.run()`` made 70 ``get_runs`` per child completion plus 350
``expire`` + ``snapshot`` calls a second; on Postgres that starved the connection pool and
the children never got a connection to finish on. Here the waiters share: one
``get_runs`` of every awaited run serves every waiter that saw the same change
generation, and one ``expire`` + ``snapshot`` + deadlock analysis serves every stall
check in its period. Re-reads are also spaced apart by as long as the last one took: a
fan-out of N children changes the store N times, and reading every remaining child after
each change is quadratic; spaced out, one read covers every change of the pause, and no
more than half the time goes to re-reading. The pause is never longer than reading every
run still awaited would take at the last read's cost per run: at the end of a fan-out the
last hundred children are read at once, not after a pause as long as the read of the
thousands before them (60 ms at the end of a 10,000-child parent, here). A read of one
run takes a fraction of a millisecond, so a single round trip gains no latency from it
(a fixed 10 ms spacing tripled SQLite's p50, 3 to 11 ms).

A re-read asks the store only which runs ended since the last one (``finished_since``, a
cursor over the order runs ended) and reads those of them awaited here (with only a few
runs awaited, it reads them directly: the same one round trip, and none extra on the
latency of a single ``aio_run``): a parent waiting
on 10,000 children pays per change for what changed, not for every child still pending.
A pending run's cached view is not refreshed until it ends (a waiter wants terminal
statuses; a run's QUEUED-to-RUNNING move is not worth a read of every pending run).

One analysis seeded with every awaited run finds each run stuck exactly when an analysis
seeded with that run alone would: the runs slot holders wait on seed both, and progress
only flows from a run to the holders waiting on it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass

from flowsim.engine.attempt_waits import release
from flowsim.engine.deadlock import Stall
from flowsim.engine.snapshot_stall import find_stall_in_snapshot
from flowsim.store.protocol import Outcome, RunStore, RunView
from flowsim.store.views import with_progress

#: with this many runs awaited or fewer, a re-read reads them directly (one round trip, as
#: cheap as asking what ended, and a round trip fewer on a single run's latency path)...
DIRECT_READ_LIMIT = 16
#: ...and the ``finished_since`` cursor is still advanced this often
CURSOR_REFRESH_SECONDS = 1.0
#: cached views kept for runs nobody awaits yet (a process that only triggers runs must not
#: keep every view it ever created; past this, those not awaited are dropped and read
#: from the store if a wait on them begins later)
SEEDED_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class StallCheck:
    """What one shared stall check found: whether its ``expire`` queued work (the caller
    then asks the workers to dispatch), and the stall among the awaited runs, if any."""

    expired: Outcome
    stall: Stall | None
    #: the runs awaited when the snapshot was taken: a later wait needs a fresh one
    covers: frozenset[str]
    #: whether this caller ran the check (False: it got the cached result of another's)
    fresh: bool


class SharedReads:
    def __init__(
        self, store: RunStore, generation: Callable[[], int], period_seconds: float
    ) -> None:
        self._store = store
        self._generation = generation
        self._period = period_seconds
        # three locks: registering a wait must not queue behind a query in flight, and a
        # re-read must not queue behind a stall check's snapshot
        self._registry_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._check_lock = threading.Lock()
        #: run id -> how many open waits are on it
        self._awaited: Counter[str] = Counter()
        self._views: dict[str, RunView] = {}
        self._views_generation = -1
        #: ``finished_since`` cursor: taken before the first view is read, so no run that
        #: ends after its view was read goes unnoticed
        self._cursor: int | None = None
        self._cursor_at = 0.0
        #: when a re-read last found that some run in the store had ended (progress)
        self.ended_at = 0.0
        #: ids of runs whose cached view became terminal, in that order; ``_log_base`` is
        #: the position of its first entry (older ones are dropped)
        self._log: list[str] = []
        self._log_base = 0
        #: seconds the last stall check took (a snapshot of a large backlog is costly)
        self.check_cost = 0.0
        #: when the last full re-read ended, how long it took, and how many views it read
        self._read_at = 0.0
        self._read_cost = 0.0
        self._read_count = 0
        self._check: StallCheck | None = None
        self._check_due = 0.0

    def watch(self, run_ids: Iterable[str]) -> None:
        with self._registry_lock:
            self._awaited.update(run_ids)

    def unwatch(self, run_ids: Iterable[str]) -> None:
        with self._registry_lock:
            release(self._awaited, run_ids)

    def _awaited_now(self) -> list[str]:
        with self._registry_lock:
            return list(self._awaited)

    def views(self, run_ids: Sequence[str], seen: int) -> list[RunView]:
        """The runs as stored after every change up to generation ``seen`` at least.

        Runs not read before (a wait just begun), or cached as ended (a replay may have
        run them again), are read alone, fresh: a parent starting
        a thousand ``aio_run`` waits must not re-read every earlier child a thousand
        times. Runs read before are re-read once the cache is older than ``seen`` and
        the store says they ended (one ``finished_since`` serves every awaited run);
        the waiter loops pause for ``read_delay`` first,
        where an async waiter can await the pause instead of blocking its loop."""
        return self.first_views(run_ids, seen)[0]

    def first_views(self, run_ids: Sequence[str], seen: int) -> tuple[list[RunView], int]:
        """``views``, and the position in the log of ended runs it covers: from there,
        ``ended_views`` tells a waiter only what ended since.

        A run cached as ended is read again too: the waiter holds it as not ended, and
        one of the two is out of date. The cache can be: ``hatchet.runs.replay`` in any
        process runs an ended run again, and this process hears of it only when the run
        ends again, so a parent replayed together with a child it waited on before would
        otherwise take the child's earlier end for its new one."""
        self.start_cursor()
        with self._read_lock:
            views = self._views
            missing = [r for r in run_ids if r not in views or views[r].status.is_terminal]
            if len(missing) < len(run_ids):
                self._refresh(seen, missing)
            if missing:
                self._views.update((view.id, view) for view in self._read(missing))
            return [self._views[run_id] for run_id in run_ids], self._log_base + len(self._log)

    def ended_views(
        self, pending: Container[str], seen: int, position: int
    ) -> tuple[list[RunView], int] | None:
        """The views of the runs among ``pending`` (all read before) that ended after
        ``position`` of the log, and the new position: a waiter's step costs what ended,
        not what it still waits on. None when the log no longer reaches back that far
        (the caller reads everything with ``first_views``)."""
        self.start_cursor()
        with self._read_lock:
            self._refresh(seen, ())
            if position < self._log_base:
                return None
            views = self._views
            ended = [
                views[run_id]
                for run_id in self._log[position - self._log_base :]
                if run_id in pending and run_id in views
            ]
            return ended, self._log_base + len(self._log)

    def _read(self, run_ids: Sequence[str]) -> list[RunView]:
        """Views for waiters: statuses and results, without the attempts nobody reads."""
        return self._store.get_runs(run_ids, attempts=False)

    def _refresh(self, seen: int, missing: Sequence[str]) -> None:
        """Read what ended, if the cache is older than generation ``seen``."""
        if self._views_generation >= seen:
            return
        generation = self._generation()  # read before the query: it covers this
        started = time.monotonic()
        self._read_count = self._read_ended(missing)
        self._views_generation = generation
        self._read_at = time.monotonic()
        self._read_cost = self._read_at - started

    def progressed(self, since: float) -> bool:
        """Whether any run in the store ended after ``since`` (monotonic): asked of the
        store through the cursor when this process's reads have not seen one. A caller
        awaiting one parent reads only that run, so without asking it would take a
        fan-out of 10,000 children for a standstill and snapshot the whole backlog."""
        with self._read_lock:
            if self.ended_at <= since:
                self._read_ended((), use_cursor=True)
            return self.ended_at > since

    def _read_ended(self, missing: Sequence[str], use_cursor: bool = False) -> int:
        """Refresh the cached views of the runs that ended since the cursor, log those
        now terminal, and drop the views (and log entries) no wait needs any more, once
        they outnumber the awaited runs. Returns how many views were read."""
        views = self._views
        awaited = self._awaited_now()
        now = time.monotonic()
        if (
            not use_cursor
            and len(awaited) <= DIRECT_READ_LIMIT
            and now < self._cursor_at + CURSOR_REFRESH_SECONDS
        ):
            # a few runs awaited: re-read them, one round trip (the cursor is advanced
            # now and then all the same, so switching back to it reads little)
            ended = [r for r in awaited if r in views and not views[r].status.is_terminal]
        else:
            found = self._store.finished_since(self._cursor)
            self._cursor, self._cursor_at = found.cursor, now
            if found.run_ids:
                self.ended_at = now
            ended = [
                run_id
                for run_id in dict.fromkeys(found.run_ids)
                if run_id in views and not views[run_id].status.is_terminal
            ]
        if ended:  # read before: only what a run changes is read again
            for progress in self._store.get_progress(ended):
                view = views[progress.id] = with_progress(views[progress.id], progress)
                if view.status.is_terminal:
                    self._log.append(view.id)
                    self.ended_at = now
        limit = 2 * len(awaited) + 64
        if len(views) > limit:
            keep = set(awaited).union(missing)
            self._views = {run_id: view for run_id, view in views.items() if run_id in keep}
        if len(self._log) > limit:
            drop = len(self._log) - limit // 2
            self._log_base += drop
            del self._log[:drop]
        return len(ended)

    def seed(self, views: Sequence[RunView]) -> None:
        """Views of runs just created, read by ``create_runs`` after ``start_cursor``:
        the cursor will report them when they end, so a wait on them reads nothing
        until then (a fan-out of 10,000 need not read its 10,000 children back)."""
        with self._read_lock:
            if len(self._views) > SEEDED_LIMIT:  # runs created and never awaited here
                awaited = set(self._awaited_now())
                self._views = {r: view for r, view in self._views.items() if r in awaited}
            for view in views:
                self._views.setdefault(view.id, view)

    def start_cursor(self) -> None:
        """Take the ``finished_since`` cursor now, if not yet taken (see ``seed``)."""
        with self._read_lock:
            if self._cursor is None:
                self._cursor = self._store.finished_since(None).cursor
                self._cursor_at = time.monotonic()

    def read_delay(self, pending: int) -> float:
        """Seconds a waiter woken by a change should let pass before it re-reads: as long
        as the last re-read took, or as reading the ``pending`` runs it still awaits would
        take at that read's cost per run, whichever is less."""
        pause = self._read_cost
        if self._read_count:
            pause = min(pause, self._read_cost * pending / self._read_count)
        return max(0.0, self._read_at + pause - time.monotonic())

    def stall_check(self, now: float, awaited: Iterable[str]) -> StallCheck:
        """Expire what is due and snapshot, at most once per period for all waiters. A
        wait that began after the last snapshot gets no verdict until the next one:
        a fan-out starting a thousand waits must not take a thousand snapshots."""
        with self._check_lock:
            check = self._check
            if check is not None and time.monotonic() < self._check_due:
                if check.covers.issuperset(awaited):
                    return StallCheck(check.expired, check.stall, check.covers, fresh=False)
                return StallCheck(Outcome(), None, check.covers, fresh=False)
            covers = frozenset(self._awaited_now())
            started = time.monotonic()
            expired = self._store.expire(now)
            snapshot = self._store.snapshot(now, list(covers))
            stall = find_stall_in_snapshot(
                self._store.display_url, snapshot, dict.fromkeys(covers, 1)
            )
            self._check = StallCheck(expired, stall, covers, fresh=True)
            self._check_due = time.monotonic() + self._period
            self.check_cost = self._check_due - self._period - started
            return self._check
