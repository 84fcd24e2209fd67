"""Concurrency limits on a store shared by processes: two stores opened on one SQLite file
or one Postgres schema (two connections, as two worker processes have) create, claim and
complete runs of one limited group at the same time, from threads. Whatever the
interleaving, no more than ``max_runs`` of the group are ever held, and every run ends."""

from __future__ import annotations

import threading

from flowsim.rules import RunStatus, SlotPool
from flowsim.store.protocol import Claim, RunStore
from flowsim.testing.contract import run_request, single_spec
from flowsim.testing.contract_concurrency import by_group, limited
from tests.backends import servers
from tests.backends.servers import sql_url

__all__ = ["sql_url"]

MAX_RUNS = 2
RUNS_PER_STORE = 30


def test_two_stores_never_hold_more_than_max_runs_of_a_group(sql_url: str) -> None:
    spec = limited(single_spec("limited"), by_group(max_runs=MAX_RUNS))
    stores = [servers.open_shared_store(sql_url), servers.open_shared_store(sql_url)]
    total = RUNS_PER_STORE * len(stores)
    most = 0
    lock = threading.Lock()
    start = threading.Barrier(len(stores))
    failures: list[BaseException] = []
    created: list[str] = []

    def running(store: RunStore) -> tuple[int, int]:
        """(RUNNING, COMPLETED) runs in one consistent read."""
        with lock:
            ids = list(created)
        statuses = [view.status for view in store.get_runs(ids)]
        return statuses.count(RunStatus.RUNNING), statuses.count(RunStatus.COMPLETED)

    def work(store: RunStore, worker: str) -> None:
        nonlocal most
        try:
            start.wait()
            views = store.create_runs(
                [run_request(spec, {"group": "A"}) for _ in range(RUNS_PER_STORE)], 0.0
            )
            with lock:
                created.extend(view.id for view in views)
            held: list[Claim] = []
            now, completed = 0.0, 0
            while completed < total and now < 2_000:
                now += 1.0
                # claim more than the limit allows, then hold what was claimed for a round
                claims = store.claim(worker, ["limited"], SlotPool.DEFAULT, MAX_RUNS + 1, now, 60)
                count, completed = running(store)
                with lock:
                    most = max(most, count)
                for claim in held:
                    assert store.complete(claim.task_run_id, claim.token, None, now).accepted
                held = claims
            for claim in held:
                store.complete(claim.task_run_id, claim.token, None, now)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [
        threading.Thread(target=work, args=(store, f"w{i}")) for i, store in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert not failures, failures
        assert 0 < most <= MAX_RUNS
        assert running(stores[0]) == (0, total)
    finally:
        for store in stores:
            store.close()
