"""The SQLite run store on real files: the protocol's semantics (each scripted sequence run
on the in-memory reference too, with equal observations required), what a file on disk
adds (migrations, corrupt and foreign files left untouched, a newer schema refused),
several processes on one file (claim races, concurrent migration, a crash inside a
transaction), and the SQLite specifics (exact floats through JSON, atomic batches, index
use, the busy timeout, threads, change polling).

Expected values come from ``flowsim.rules`` or from the arithmetic of the script, and the
same assertions run against ``ReferenceStore`` first, so a failure here on SQLite alone is
the SQLite store's.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import multiprocessing
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from flowsim_sqlite import SqliteStore, StoreError, backend, open_store, parse_url
from flowsim_sqlite import claims as claim_queries
from flowsim_sqlite.migrate import LATEST, VERSION_TABLE

from flowsim import backend as backends
from flowsim import rules
from flowsim.errors import ConfigurationError, RunNotFoundError
from flowsim.rules import RunStatus, SlotPool
from flowsim.store.protocol import Claim, Completion, Outcome, RunStore, RunView, WorkerInfo
from flowsim.store.reference import ReferenceStore
from flowsim.testing.contract import (
    LEASE,
    canonical_views,
    claim_all,
    create_run,
    diamond_spec,
    first_difference,
    get_run,
    just_before,
    run_request,
    single_spec,
    task_error,
)
from tests.backends.endtoend import run_parent_and_children

SPAWN = multiprocessing.get_context("spawn")


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "runs.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteStore]:
    opened = open_store(url_of(db_path))
    yield opened
    opened.close()


def only(claims: Sequence[Claim]) -> Claim:
    assert len(claims) == 1, claims
    return claims[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- URLs and the plug-in


def test_three_slashes_name_a_path_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_url("sqlite:///data/runs.db") == tmp_path / "data" / "runs.db"
    assert parse_url("sqlite:////var/lib/runs.db") == Path("/var/lib/runs.db")


def test_a_relative_path_is_fixed_when_the_store_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///rel.db")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    view = create_run(store, single_spec(), 0.0)
    store.close()
    assert not (elsewhere / "rel.db").exists()
    reopened = open_store(url_of(tmp_path / "rel.db"))
    assert get_run(reopened, view.id).status is RunStatus.QUEUED
    reopened.close()


@pytest.mark.parametrize("url", ["sqlite://:memory:", "sqlite:///:memory:"])
def test_an_in_memory_database_is_refused_saying_why(url: str) -> None:
    with pytest.raises(ConfigurationError, match="cannot be shared by worker processes") as info:
        parse_url(url)
    assert "sqlite:///relative/path.db" in str(info.value)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("sqlite://host/runs.db", "names a host"),
        ("sqlite://runs.db", "names a host"),
        ("sqlite:///", "names no database file"),
        ("sqlite:///runs.db?mode=ro", "no query parameters"),
        ("sqlite:///somewhere/", "names a directory"),
        ("postgresql:///runs.db", "is not a SQLite URL"),
    ],
)
def test_a_malformed_url_is_refused_with_the_expected_form(url: str, complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint) as info:
        parse_url(url)
    assert "sqlite:////absolute/path.db" in str(info.value)


def test_the_plugin_is_found_through_the_entry_points(db_path: Path) -> None:
    assert backends.plugins()["sqlite"] is backend
    assert backend.schemes == ("sqlite",)
    assert backends.available()["sqlite"].startswith("sqlite:///path/to/file.db")
    opened = backend.open_store(url_of(db_path))
    try:
        assert isinstance(opened, RunStore)
        assert opened.display_url == url_of(db_path)
    finally:
        opened.close()


def test_an_unopenable_path_is_a_configuration_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "runs.db"
    with pytest.raises(ConfigurationError, match="directory exists") as info:
        open_store(url_of(missing))
    assert str(missing) in str(info.value)
    with pytest.raises(ConfigurationError, match="is a directory"):
        open_store(url_of(tmp_path))


# ---------------------------------------------------------------- the semantics, scripted


class Trace:
    """What a script observed on one store, with ids replaced by labels in order of first
    appearance, so two stores' traces compare equal when they behaved alike."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.items: list[Any] = []
        self._labels: dict[str, str] = {}

    def label(self, id_: str | None) -> str | None:
        if id_ is None:
            return None
        return self._labels.setdefault(id_, f"#{len(self._labels)}")

    def claims(self, claims: Sequence[Claim]) -> list[Claim]:
        self.items.append(
            [
                {
                    "task_run": self.label(c.task_run_id),
                    "run": self.label(c.run_id),
                    "parent_run": self.label(c.parent_run_id),
                    **{
                        key: getattr(c, key)
                        for key in (
                            "workflow", "task", "pool", "slot_cost", "retry_count", "token",
                            "input", "additional_metadata", "parent_outputs", "lease_expires_at",
                        )
                    },
                }
                for c in claims
            ]
        )  # fmt: skip
        return list(claims)

    def outcome(self, outcome: Outcome) -> Outcome:
        self.items.append(
            (outcome.accepted, [self.label(r) for r in outcome.finished], outcome.queued)
        )
        return outcome

    def views(self, run_ids: Sequence[str]) -> list[RunView]:
        views = self.store.get_runs(run_ids)
        for view in views:
            self.label(view.id)
        self.items.append(canonical_views(views))
        return views

    def note(self, value: Any) -> None:
        self.items.append(value)


Script = Callable[[RunStore, Trace], None]


def run_on_both(script: Script, db_path: Path) -> None:
    """Run the script (and its assertions) on the reference, then on SQLite; the two
    traces must be equal."""
    traces = []
    for store in (ReferenceStore(), open_store(url_of(db_path))):
        trace = Trace(store)
        try:
            script(store, trace)
        finally:
            store.close()
        traces.append(trace.items)
    difference = first_difference(traces[0], traces[1])
    assert difference is None, f"SQLite differs from the reference at {difference}"


def children_script(store: RunStore, trace: Trace) -> None:
    child = single_spec("child")
    parent = create_run(
        store, single_spec("parent", retries=1), 0.0, metadata={"tenant": "a", "x": 1}
    )
    first = only(trace.claims(claim_all(store, ["parent"], 1.0, lease=10.0)))

    def spawn(now: float) -> list[RunView]:
        items = [
            run_request(child, {"n": 0}),
            run_request(child, {"n": 1}),
            run_request(child, {"n": 9}, child_key="k", metadata={"x": 2}),
        ]
        return store.create_runs(items, now, first.task_run_id)

    kids = spawn(2.0)
    assert [k.child_index for k in kids] == [0, 1, 2]
    assert [k.parent_task_run_id for k in kids] == [first.task_run_id] * 3
    assert kids[0].additional_metadata == {"tenant": "a", "x": 1}
    assert kids[2].additional_metadata == {"tenant": "a", "x": 2}  # its own key wins
    again = spawn(2.5)  # the same attempt spawns more: indexes 3, 4 are new, "k" exists
    assert [k.child_index for k in again[:2]] == [3, 4]
    assert again[2].id == kids[2].id
    assert {k.id for k in again[:2]}.isdisjoint(k.id for k in kids)
    trace.outcome(store.fail(first.task_run_id, first.token, task_error(), False, 3.0))
    trace.claims(claim_all(store, ["parent"], 3.0, lease=10.0))
    assert [k.id for k in spawn(4.0)] == [k.id for k in kids]  # a retry restarts at index 0
    trace.outcome(store.expire(13.0))  # the retry's lease ends at 13: reclaimed
    third = only(trace.claims(claim_all(store, ["parent"], 14.0, lease=10.0)))
    assert third.retry_count == 1  # the lost attempt used no retry
    assert [k.id for k in spawn(15.0)] == [k.id for k in kids]
    child_claims = trace.claims(claim_all(store, ["child"], 16.0))
    assert {c.parent_run_id for c in child_claims} == {parent.id}
    trace.views([parent.id, *(k.id for k in kids), *(k.id for k in again[:2])])


def test_children_are_deduplicated_and_respawned_after_retry_and_reclaim(db_path: Path) -> None:
    run_on_both(children_script, db_path)


def claim_order_script(store: RunStore, trace: Trace) -> None:
    light, heavy = single_spec("light"), single_spec("heavy", slot_cost=3)
    low_first = create_run(store, light, 0.0, priority=1)
    high = create_run(store, light, 1.0, priority=3)
    low_second = create_run(store, light, 2.0, priority=1)
    big = create_run(store, heavy, 3.0, priority=2)
    medium = create_run(store, light, 4.0, priority=2)
    # free 3: the priority-3 run takes one slot; the heavy run (priority 2, created before
    # the medium one) needs 3 of the 2 left, so the claim stops there
    first = trace.claims(claim_all(store, ["light", "heavy"], 5.0, free=3))
    assert [c.run_id for c in first] == [high.id]
    second = trace.claims(claim_all(store, ["light", "heavy"], 5.0, free=3))
    assert [(c.run_id, c.slot_cost) for c in second] == [(big.id, 3)]
    rest = trace.claims(claim_all(store, ["light", "heavy"], 5.0, free=10))
    assert [c.run_id for c in rest] == [medium.id, low_first.id, low_second.id]
    assert claim_all(store, ["light", "heavy"], 5.0) == []


def test_claims_go_by_priority_then_sequence_and_stop_at_a_slot_cost(db_path: Path) -> None:
    run_on_both(claim_order_script, db_path)


def retry_script(store: RunStore, trace: Trace) -> None:
    spec = single_spec("flaky", retries=2, backoff_factor=2.0, backoff_max_seconds=3.0)
    view = create_run(store, spec, 0.0)
    first = only(trace.claims(claim_all(store, ["flaky"], 1.0)))
    trace.outcome(store.fail(first.task_run_id, first.token, task_error("one"), False, 2.0))
    ready = 2.0 + rules.backoff_delay(1, 2.0, 3.0)
    assert store.next_wakeup(2.0) == ready
    assert claim_all(store, ["flaky"], just_before(ready)) == []
    second = only(trace.claims(claim_all(store, ["flaky"], ready)))
    assert (second.retry_count, second.token) == (1, 2)
    trace.outcome(store.fail(second.task_run_id, second.token, task_error("two"), False, 5.0))
    capped = 5.0 + rules.backoff_delay(2, 2.0, 3.0)
    assert capped == 8.0  # 2**2 = 4 capped at 3
    stale = store.complete(first.task_run_id, first.token, {"late": True}, 6.0)
    assert not trace.outcome(stale).accepted
    third = only(trace.claims(claim_all(store, ["flaky"], capped)))
    done = trace.outcome(store.complete(third.task_run_id, third.token, {"ok": 1}, 9.0))
    assert done.finished == (view.id,)
    again = trace.outcome(store.complete(third.task_run_id, third.token, {"ok": 2}, 9.5))
    assert not again.accepted
    (run,) = trace.views([view.id])
    assert run.tasks["t"].output == {"ok": 1}
    assert [a.outcome for a in run.tasks["t"].attempts] == ["FAILED", "FAILED", "COMPLETED"]


def test_retries_wait_out_their_backoff_and_stale_results_are_fenced(db_path: Path) -> None:
    run_on_both(retry_script, db_path)


def non_retryable_script(store: RunStore, trace: Trace) -> None:
    view = create_run(store, single_spec("doomed", retries=5), 0.0)
    claim = only(trace.claims(claim_all(store, ["doomed"], 1.0)))
    error = task_error("fatal", "PermissionError")
    outcome = trace.outcome(store.fail(claim.task_run_id, claim.token, error, True, 2.0))
    assert outcome.finished == (view.id,)
    (run,) = trace.views([view.id])
    assert run.status is RunStatus.FAILED and run.tasks["t"].retry_count == 0
    assert run.errors()[0].exc_type == "PermissionError"


def test_a_non_retryable_failure_ends_the_run_at_once(db_path: Path) -> None:
    run_on_both(non_retryable_script, db_path)


def schedule_timeout_script(store: RunStore, trace: Trace) -> None:
    view = create_run(store, single_spec("slow", schedule_timeout=90.0), 0.0)
    deadline = rules.schedule_deadline(0.0, 90.0)
    assert store.next_wakeup(0.0) == deadline
    assert trace.outcome(store.expire(just_before(deadline))).finished == ()
    assert trace.outcome(store.expire(deadline)).finished == (view.id,)  # deadline <= now
    (run,) = trace.views([view.id])
    error = run.tasks["t"].error
    expected = f"schedule timeout of {rules.format_duration(90.0)} (SCHEDULING_TIMED_OUT)"
    assert error is not None and expected in error.exc
    assert claim_all(store, ["slow"], deadline) == []


def test_a_schedule_timeout_cancels_at_its_deadline_exactly(db_path: Path) -> None:
    run_on_both(schedule_timeout_script, db_path)


def lease_script(store: RunStore, trace: Trace) -> None:
    info = WorkerInfo("w1", "one", {SlotPool.DEFAULT: 4}, ("leased",))
    store.register_worker(info, 0.0, 5.0)
    view = create_run(store, single_spec("leased"), 0.0)
    first = only(trace.claims(store.claim("w1", ["leased"], SlotPool.DEFAULT, 4, 1.0, 5.0)))
    store.heartbeat("w1", 4.0, 5.0)  # the lease now ends at 9, not 6
    assert store.next_wakeup(4.0) == 9.0
    assert trace.outcome(store.expire(just_before(9.0))).queued == 0
    assert trace.outcome(store.expire(9.0)).queued == 1
    second = only(trace.claims(claim_all(store, ["leased"], 10.0, worker="w2")))
    assert (second.retry_count, second.token) == (0, first.token + 1)
    late = store.complete(first.task_run_id, first.token, {"from": "w1"}, 11.0)
    assert not trace.outcome(late).accepted
    trace.outcome(store.complete(second.task_run_id, second.token, {"from": "w2"}, 12.0))
    (run,) = trace.views([view.id])
    attempts = run.tasks["t"].attempts
    assert [(a.worker_id, a.outcome, a.number) for a in attempts] == [
        ("w1", "LOST", 1),
        ("w2", "COMPLETED", 1),
    ]
    assert run.tasks["t"].output == {"from": "w2"}


def test_an_expired_lease_requeues_without_using_a_retry(db_path: Path) -> None:
    run_on_both(lease_script, db_path)


def parked_script(store: RunStore, trace: Trace) -> None:
    """A durable task run evicted until its child ends is released by the next ``expire``
    once the child has ended, though no clock is due then (SQLite's ``expire`` first looks
    for work due in a read transaction: that look must see the parked task run too)."""
    parent_view = create_run(store, single_spec("parent"), 0.0)
    parent = only(trace.claims(claim_all(store, ["parent"], 1.0)))
    (child_view,) = store.create_runs(
        [run_request(single_spec("child"))], 2.0, parent.task_run_id, parent.token
    )
    evicted = store.evict(parent.task_run_id, parent.token, None, [child_view.id], "ttl", 3.0)
    assert trace.outcome(evicted).accepted
    child = only(trace.claims(claim_all(store, ["child", "parent"], 4.0)))
    assert child.run_id == child_view.id  # the parent stays parked while its child runs
    done = store.complete(child.task_run_id, child.token, {"c": 1}, 5.0)
    assert trace.outcome(done).finished == (child_view.id,)
    wakeup = store.next_wakeup(6.0)
    assert wakeup is None or wakeup > 6.0  # nothing is due by the clock
    assert trace.outcome(store.expire(6.0)).queued == 1
    restored = only(trace.claims(claim_all(store, ["parent"], 7.0)))
    assert restored.run_id == parent_view.id


def test_an_evicted_task_run_is_released_by_expire_once_its_child_ended(db_path: Path) -> None:
    run_on_both(parked_script, db_path)


def diamond_script(store: RunStore, trace: Trace) -> None:
    view = create_run(store, diamond_spec(), 0.0, {"x": 1})
    assert list(view.tasks) == ["a"]
    a = only(trace.claims(claim_all(store, ["diamond"], 1.0)))
    assert a.parent_outputs == {}
    assert trace.outcome(store.complete(a.task_run_id, a.token, {"a": 1}, 2.0)).queued == 2
    b, c = trace.claims(claim_all(store, ["diamond"], 3.0))
    assert (b.task, c.task) == ("b", "c")
    assert b.parent_outputs == c.parent_outputs == {"a": {"a": 1}}
    assert store.complete(b.task_run_id, b.token, {"b": 2}, 4.0).queued == 0  # d waits for c
    assert store.complete(c.task_run_id, c.token, {"c": 3}, 5.0).queued == 1
    d = only(trace.claims(claim_all(store, ["diamond"], 6.0)))
    assert list(d.parent_outputs.items()) == [("b", {"b": 2}), ("c", {"c": 3})]
    assert trace.outcome(store.complete(d.task_run_id, d.token, {}, 7.0)).finished == (view.id,)
    (run,) = trace.views([view.id])
    assert run.status is RunStatus.COMPLETED
    assert run.result() == {"a": {"a": 1}, "b": {"b": 2}, "c": {"c": 3}}


def test_a_diamond_runs_each_task_after_its_parents_with_their_outputs(db_path: Path) -> None:
    run_on_both(diamond_script, db_path)


def diamond_failure_script(store: RunStore, trace: Trace) -> None:
    view = create_run(store, diamond_spec(), 0.0)
    a = only(claim_all(store, ["diamond"], 1.0))
    store.complete(a.task_run_id, a.token, {"a": 1}, 2.0)
    b, c = trace.claims(claim_all(store, ["diamond"], 3.0))
    failed = trace.outcome(store.fail(b.task_run_id, b.token, task_error(), False, 4.0))
    assert failed.finished == ()  # c still runs
    mid = get_run(store, view.id)
    assert mid.tasks["d"].status is RunStatus.CANCELLED  # can never run: cancelled at once
    assert mid.status is RunStatus.RUNNING
    last = trace.outcome(store.complete(c.task_run_id, c.token, {"c": 1}, 5.0))
    assert last.finished == (view.id,)
    (run,) = trace.views([view.id])
    assert run.status is RunStatus.FAILED
    assert {n: t.status for n, t in run.tasks.items()} == {
        "a": RunStatus.COMPLETED,
        "b": RunStatus.FAILED,
        "c": RunStatus.COMPLETED,
        "d": RunStatus.CANCELLED,
    }


def test_an_upstream_failure_cancels_downstream_tasks(db_path: Path) -> None:
    run_on_both(diamond_failure_script, db_path)


def cancel_script(store: RunStore, trace: Trace) -> None:
    view = create_run(store, diamond_spec(), 0.0)
    a = only(trace.claims(claim_all(store, ["diamond"], 1.0)))
    outcome = trace.outcome(store.cancel_run(view.id, "stopped by the user", 2.0))
    assert outcome.finished == (view.id,)
    assert not trace.outcome(store.complete(a.task_run_id, a.token, {"late": 1}, 3.0)).accepted
    assert not store.fail(a.task_run_id, a.token, task_error(), False, 3.0).accepted
    (run,) = trace.views([view.id])
    task = run.tasks["a"]
    assert task.status is RunStatus.CANCELLED and task.output is None
    assert task.error is not None and task.error.exc_type == "CancelledError"
    assert task.attempts[-1].outcome == "CANCELLED" and task.attempts[-1].finished_at == 2.0
    assert set(run.tasks) == {"a", "b", "c", "d"}  # the rest cancelled without being created
    assert store.cancel_run(view.id, "again", 4.0) == Outcome(True, (), 0)
    with pytest.raises(RunNotFoundError, match="no-such-run"):
        store.cancel_run("no-such-run", "x", 5.0)


def test_cancel_run_fences_off_a_running_task(db_path: Path) -> None:
    run_on_both(cancel_script, db_path)


def snapshot_script(store: RunStore, trace: Trace) -> None:
    parent_spec, child = single_spec("holder"), single_spec("kid", retries=1, backoff_factor=3.0)
    store.register_worker(WorkerInfo("alive", "a", {SlotPool.DEFAULT: 2}, ("holder",)), 0.0, 50.0)
    store.register_worker(WorkerInfo("dead", "d", {SlotPool.DURABLE: 1}, ("kid",)), 0.0, 5.0)
    store.stop_worker("alive")
    parent = create_run(store, parent_spec, 0.0)
    held = only(claim_all(store, ["holder"], 1.0, worker="alive"))
    kids = store.create_runs([run_request(child), run_request(child)], 2.0, held.task_run_id)
    store.set_waiting(held.task_run_id, [k.id for k in kids])
    kid = claim_all(store, ["kid"], 3.0, free=1)[0]
    store.fail(kid.task_run_id, kid.token, task_error(), False, 4.0)  # backoff until 7
    other = create_run(store, single_spec("lonely"), 5.0)
    snap = store.snapshot(6.0, awaited=[other.id])
    assert [(w.info.id, w.accepting) for w in snap.workers] == [("alive", False)]
    (holder,) = snap.held
    assert (holder.task_run_id, holder.worker_id) == (held.task_run_id, "alive")
    assert holder.waiting_on == tuple(k.id for k in kids)
    assert [(q.run_id, q.ready_at) for q in snap.queued] == [
        (kids[0].id, 4.0 + rules.backoff_delay(1, 3.0, None)),
        (kids[1].id, 2.0),
        (other.id, 5.0),
    ]
    assert snap.run_status == {
        parent.id: RunStatus.RUNNING,
        kids[0].id: RunStatus.RUNNING,
        kids[1].id: RunStatus.QUEUED,
        other.id: RunStatus.QUEUED,
    }
    trace.note(
        [
            [(trace.label(q.task_run_id), trace.label(q.run_id), q.task, q.pool, q.ready_at)
             for q in snap.queued],
            sorted((trace.label(k), str(v)) for k, v in snap.run_status.items()),
        ]
    )  # fmt: skip
    # earliest of: the backoff (7), schedule deadlines (2 + 300 ...), the lease (1 + 30)
    assert store.next_wakeup(6.0) == 7.0
    store.complete(held.task_run_id, held.token, {}, 8.0)
    assert store.snapshot(8.0).held == ()


def test_the_snapshot_and_next_wakeup(db_path: Path) -> None:
    run_on_both(snapshot_script, db_path)


# ---------------------------------------------------------------- files: migrations and refusals


def schema_versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [v for (v,) in conn.execute(f"SELECT version FROM {VERSION_TABLE}")]


def test_migrating_again_changes_nothing(db_path: Path) -> None:
    store = open_store(url_of(db_path))
    view = create_run(store, single_spec(), 0.0)
    store.migrate()
    store.migrate()
    store.close()
    reopened = open_store(url_of(db_path))
    reopened.migrate()
    assert get_run(reopened, view.id).status is RunStatus.QUEUED
    assert only(claim_all(reopened, ["single"], 1.0)).run_id == view.id
    reopened.close()
    assert schema_versions(db_path) == [LATEST]


def test_an_empty_existing_file_becomes_a_store(db_path: Path) -> None:
    db_path.touch()
    store = open_store(url_of(db_path))
    create_run(store, single_spec(), 0.0)
    store.close()
    assert schema_versions(db_path) == [LATEST]


def _leaves_untouched(path: Path, match: str) -> ConfigurationError:
    before = sha256(path)
    siblings = sorted(p.name for p in path.parent.iterdir())
    with pytest.raises(ConfigurationError, match=match) as info:
        open_store(url_of(path))
    assert sha256(path) == before, "the refused file was modified"
    assert sorted(p.name for p in path.parent.iterdir()) == siblings, "files were created"
    assert str(path) in str(info.value)
    return info.value


def test_a_file_that_is_not_a_database_is_refused_and_left_untouched(db_path: Path) -> None:
    db_path.write_bytes(os.urandom(8192))
    _leaves_untouched(db_path, "is not a SQLite database")


def test_a_corrupt_database_is_refused_and_left_untouched(db_path: Path) -> None:
    db_path.write_bytes(b"SQLite format 3\x00" + os.urandom(8192 - 16))
    _leaves_untouched(db_path, "is not a SQLite database")


def test_a_foreign_database_is_refused_and_left_untouched(db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices (total) VALUES (12.5)")
    conn.close()
    error = _leaves_untouched(db_path, "not a flowsim run store")
    assert "invoices" in str(error)
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()


def test_a_store_at_a_newer_schema_version_is_refused(db_path: Path) -> None:
    open_store(url_of(db_path)).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version = ?", (LATEST + 1,))
    conn.close()
    error = _leaves_untouched(db_path, "newer than this flowsim knows")
    assert f"schema version {LATEST + 1}" in str(error) and f"up to {LATEST}" in str(error)


def test_a_store_at_an_unknown_schema_version_is_refused(db_path: Path) -> None:
    open_store(url_of(db_path)).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version = -3")
    conn.close()
    _leaves_untouched(db_path, "records schema version -3")


# ---------------------------------------------------------------- several processes, one file


def _claim_until_empty(url: str, worker: str, start: Any, results: Any) -> None:
    store = open_store(url)
    start.wait()
    taken: list[tuple[str, int]] = []
    free = 1
    while batch := store.claim(worker, ["race"], SlotPool.DEFAULT, free, 1.0, 600.0):
        taken.extend((c.task_run_id, c.token) for c in batch)
        free = free % 7 + 1  # vary the batch size: 1..7
        time.sleep(0.0005)  # some work, so that the two claim loops overlap for a while
    store.close()
    results.put((worker, taken))


def test_two_processes_claiming_from_one_file_never_take_the_same_task_run(
    db_path: Path,
) -> None:
    store = open_store(url_of(db_path))
    spec = single_spec("race")
    views = store.create_runs([run_request(spec, {"i": i}) for i in range(2000)], 0.0)
    everything = {view.tasks["t"].id for view in views}
    start, results = SPAWN.Barrier(3), SPAWN.Queue()
    workers = [
        SPAWN.Process(target=_claim_until_empty, args=(url_of(db_path), name, start, results))
        for name in ("p1", "p2")
    ]
    for process in workers:
        process.start()
    start.wait(timeout=60)
    taken = dict(results.get(timeout=120) for _ in workers)
    for process in workers:
        process.join(timeout=30)
        assert process.exitcode == 0
    first, second = ({task for task, _ in taken[name]} for name in ("p1", "p2"))
    assert first and second, "one process claimed everything: the race did not happen"
    assert first.isdisjoint(second)
    assert first | second == everything
    assert len(taken["p1"]) + len(taken["p2"]) == 2000
    assert {token for name in taken for _, token in taken[name]} == {1}
    by_worker = {task: name for name in taken for task, _ in taken[name]}
    for view in store.get_runs([view.id for view in views]):
        task = view.tasks["t"]
        assert task.status is RunStatus.RUNNING and len(task.attempts) == 1
        assert task.worker_id == by_worker[task.id]
    store.close()


def _open_and_migrate(url: str, start: Any, results: Any) -> None:
    start.wait()
    try:
        store = SqliteStore(url)
        store.migrate()
        store.close()
        results.put("ok")
    except Exception as exc:  # reported to the test, which fails naming it
        results.put(f"{type(exc).__name__}: {exc}")


def test_processes_migrating_a_fresh_file_at_once_apply_the_schema_once(db_path: Path) -> None:
    start, results = SPAWN.Barrier(4), SPAWN.Queue()
    processes = [
        SPAWN.Process(target=_open_and_migrate, args=(url_of(db_path), start, results))
        for _ in range(3)
    ]
    for process in processes:
        process.start()
    start.wait(timeout=60)
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert outcomes == ["ok"] * 3
    assert schema_versions(db_path) == [LATEST]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM counters").fetchone() == (1,)
    conn.close()
    store = open_store(url_of(db_path))
    view = create_run(store, single_spec(), 0.0)
    assert only(claim_all(store, ["single"], 1.0)).run_id == view.id
    store.close()


def _die_inside_a_transaction(url: str, ready: Any) -> None:
    store = open_store(url)
    spec = single_spec("crash")
    store.create_runs([run_request(spec, {"i": i}) for i in range(10)], 0.0)
    claim_all(store, ["crash"], 1.0, worker="doomed", free=3, lease=5.0)
    # a write transaction left open, as if the process died in the middle of one
    conn = store._conn
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE task_runs SET status = 'COMPLETED' WHERE status = 'QUEUED'")
    ready.set()
    time.sleep(60)


def test_a_process_killed_inside_a_transaction_loses_only_that_transaction(
    db_path: Path,
) -> None:
    ready = SPAWN.Event()
    victim = SPAWN.Process(target=_die_inside_a_transaction, args=(url_of(db_path), ready))
    victim.start()
    assert ready.wait(timeout=60)
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(timeout=30)
    store = open_store(url_of(db_path))  # the lock died with the process: no wait
    started = time.monotonic()
    queued = claim_all(store, ["crash"], 2.0, worker="survivor")
    assert time.monotonic() - started < 1.0
    assert len(queued) == 7  # the open transaction's update never happened
    assert store.expire(6.0).queued == 3  # the dead worker's leases ran out
    reclaimed = claim_all(store, ["crash"], 7.0, worker="survivor")
    assert [(c.retry_count, c.token) for c in reclaimed] == [(0, 2)] * 3
    store.close()


# ---------------------------------------------------------------- SQLite specifics


def test_times_and_payloads_keep_every_digit_through_json(store: SqliteStore) -> None:
    created = just_before(1.0)
    started = math.nextafter(1.0, 2.0)
    finished = 0.1 + 0.2
    payload = {"pi": math.pi, "tiny": 5e-324, "big": 2**62, "text": "zoë ☃", "nested": [[{}]]}
    view = create_run(store, single_spec(), created, payload, metadata={"k": finished})
    claim = only(claim_all(store, ["single"], started))
    assert claim.input == payload
    store.complete(claim.task_run_id, claim.token, {"at": finished}, finished + 1)
    run = get_run(store, view.id)
    (attempt,) = run.tasks["t"].attempts
    assert (attempt.queued_at, attempt.started_at) == (created, started)
    assert attempt.finished_at == finished + 1
    assert run.created_at == created and run.input == payload
    assert run.tasks["t"].output == {"at": finished}
    assert run.additional_metadata == {"k": finished}


def test_a_batch_that_fails_half_way_creates_nothing(store: SqliteStore) -> None:
    parent = create_run(store, single_spec("parent"), 0.0)
    held = only(claim_all(store, ["parent"], 0.0))
    items = [run_request(single_spec("kid"), {"i": i}) for i in range(3)]
    items.append(run_request(single_spec("kid"), {"bad": {1, 2}}))  # not JSON
    with pytest.raises(TypeError):
        store.create_runs(items, 1.0, held.task_run_id)
    assert store.snapshot(1.0).queued == ()
    (first,) = store.create_runs(items[:1], 2.0, held.task_run_id)
    assert first.child_index == 0  # the failed batch did not move the spawn index
    assert get_run(store, parent.id).status is RunStatus.RUNNING


def test_a_batch_of_ten_thousand_is_one_transaction(store: SqliteStore) -> None:
    spec = single_spec("bulk")
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    views = store.create_runs([run_request(spec, {"i": i}) for i in range(10_000)], 0.0)
    store._conn.set_trace_callback(None)
    assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]
    assert len({v.id for v in views}) == 10_000
    assert [v.input["i"] for v in views[:3]] == [0, 1, 2]
    taken = 0
    while batch := claim_all(store, ["bulk"], 1.0, free=1000):
        taken += len(batch)
    assert taken == 10_000


def test_completions_are_fenced_alike_by_the_store_that_claimed_and_by_another(
    db_path: Path,
) -> None:
    """A store remembers the specs of what it claimed, so its completions skip looking
    them up; another process's store completing the same task runs looks them up. Either
    way each is written once: the claimer's remembered entries for task runs completed
    elsewhere refuse as any stale completion does."""
    claimer, other = open_store(url_of(db_path)), open_store(url_of(db_path))
    try:
        runs = [create_run(claimer, single_spec(), 0.0) for _ in range(4)]
        diamond = create_run(claimer, diamond_spec(), 0.0)
        held = claim_all(claimer, ["single", "diamond"], 1.0)
        done = [Completion(c.task_run_id, c.token, {"by": "other"}) for c in held[:2]]
        assert [o.finished for o in other.complete_many(done, 2.0)] == [
            (runs[0].id,), (runs[1].id,),
        ]  # fmt: skip
        mine = [Completion(c.task_run_id, c.token, {"by": "claimer"}) for c in held]
        outcomes = claimer.complete_many(mine, 3.0)
        assert [(o.accepted, o.finished, o.queued) for o in outcomes] == [
            (False, (), 0),
            (False, (), 0),
            (True, (runs[2].id,), 0),
            (True, (runs[3].id,), 0),
            (True, (), 2),  # the diamond's a: b and c queued
        ]
        outputs = [get_run(other, run.id).tasks["t"].output for run in runs]
        assert outputs == [{"by": "other"}] * 2 + [{"by": "claimer"}] * 2
        assert get_run(other, diamond.id).tasks["a"].output == {"by": "claimer"}
    finally:
        claimer.close()
        other.close()


def test_a_claim_whose_task_runs_cannot_be_read_back_gives_them_back(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim commits, then its runs' inputs are read in a second transaction. If that
    read fails the caller gets the error, and the task runs are queued again as lost
    attempts: left held, this worker's heartbeats would renew them and nothing would run
    them."""
    runs = [create_run(store, single_spec(), 0.0) for _ in range(2)]

    def unreadable(*args: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(claim_queries, "build", unreadable)
    with pytest.raises(StoreError, match="claim failed: disk I/O error"):
        store.claim("w1", ["single"], SlotPool.DEFAULT, 10, 1.0, LEASE)
    monkeypatch.undo()
    store.heartbeat("w1", 2.0, LEASE)  # renews nothing: w1 holds nothing now
    again = claim_all(store, ["single"], 3.0, worker="w2")
    assert sorted(c.run_id for c in again) == sorted(run.id for run in runs)
    for run in runs:
        attempts = get_run(store, run.id).tasks["t"].attempts
        assert [(a.worker_id, a.outcome) for a in attempts] == [("w1", "LOST"), ("w2", "RUNNING")]
        assert get_run(store, run.id).tasks["t"].retry_count == 0


def test_claims_and_timers_read_their_indexes_not_the_table(store: SqliteStore) -> None:
    conn = store._conn

    def plan(sql: str, params: Sequence[Any]) -> str:
        return " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))

    claim_plan = plan(claim_queries._CANDIDATES, ("wf", "default", 10))
    assert "USING INDEX task_runs_queue" in claim_plan and "TEMP B-TREE" not in claim_plan
    for sql, index in [
        ("SELECT ready_at FROM task_runs WHERE status = 'QUEUED' AND in_backoff = 1 "
         "ORDER BY ready_at LIMIT 1", "task_runs_backoff"),
        ("SELECT deadline FROM task_runs WHERE status = 'QUEUED' AND in_backoff = 0 "
         "ORDER BY deadline LIMIT 1", "task_runs_deadline"),
        ("SELECT lease_expires_at FROM task_runs WHERE status = 'RUNNING' "
         "ORDER BY lease_expires_at LIMIT 1", "task_runs_lease"),
    ]:  # fmt: skip
        assert f"USING INDEX {index}" in plan(sql, ())


def test_a_write_lock_held_past_the_busy_timeout_is_a_clear_store_error(db_path: Path) -> None:
    store = SqliteStore(url_of(db_path), busy_timeout=0.3)
    store.migrate()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    with pytest.raises(StoreError, match="lock") as info:
        create_run(store, single_spec(), 0.0)
    waited = time.monotonic() - started
    assert 0.3 <= waited < 3.0
    assert str(db_path) in str(info.value) and "create_runs" in str(info.value)
    blocker.execute("ROLLBACK")
    blocker.close()
    create_run(store, single_spec(), 0.0)  # and it works once the lock is gone
    store.close()


def test_threads_sharing_one_store_never_take_a_task_run_twice(store: SqliteStore) -> None:
    views = store.create_runs([run_request(single_spec("t"), {}) for _ in range(400)], 0.0)
    taken: list[list[str]] = [[] for _ in range(4)]

    def claim_loop(index: int) -> None:
        while batch := store.claim(f"w{index}", ["t"], SlotPool.DEFAULT, 3, 1.0, LEASE):
            for claim in batch:
                taken[index].append(claim.task_run_id)
                store.complete(claim.task_run_id, claim.token, {"by": index}, 2.0)

    threads = [threading.Thread(target=claim_loop, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    flat = [task for tasks in taken for task in tasks]
    assert len(flat) == len(set(flat)) == 400
    assert all(v.status is RunStatus.COMPLETED for v in store.get_runs([v.id for v in views]))


def test_wait_for_change_returns_on_another_connections_commit(store: SqliteStore) -> None:
    other = open_store(store.display_url)
    store.wait_for_change(0.0)  # forget what happened so far
    started = time.monotonic()
    store.wait_for_change(0.15)  # nothing happens: waits out the timeout
    assert time.monotonic() - started >= 0.15
    timer = threading.Timer(0.2, lambda: create_run(other, single_spec(), 0.0))
    timer.start()
    started = time.monotonic()
    store.wait_for_change(10.0)
    assert time.monotonic() - started < 2.0
    timer.join()
    create_run(other, single_spec(), 1.0)
    started = time.monotonic()
    store.wait_for_change(10.0)  # a commit made while nobody waited is not missed
    assert time.monotonic() - started < 0.5
    other.close()


def test_wait_for_change_polls_often_while_commits_come_and_backs_off_when_quiet(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within a second of a commit the poll interval stops growing at 1 ms (the next batch
    of a fan-out, or a caller's result, is noticed at once); a second later it grows to
    50 ms (an idle worker reads the counter 20 times a second, not 1,000)."""
    other = open_store(store.display_url)
    create_run(other, single_spec(), 0.0)
    store.wait_for_change(1.0)  # sees that commit: the file is "hot"
    reads: list[float] = []
    real = store._data_version

    def counted() -> int:
        reads.append(time.monotonic())
        return real()

    monkeypatch.setattr(store, "_data_version", counted)
    store.wait_for_change(0.3)
    hot = len(reads)
    time.sleep(1.0)
    reads.clear()
    store.wait_for_change(0.3)
    quiet = len(reads)
    other.close()
    assert hot >= 150, f"{hot} polls in 0.3 s right after a commit"
    assert quiet <= 15, f"{quiet} polls in 0.3 s after a quiet second"


def test_a_closed_store_refuses_work_and_closes_once(db_path: Path) -> None:
    store = open_store(url_of(db_path))
    store.close()
    store.close()
    with pytest.raises(StoreError, match="after close"):
        create_run(store, single_spec(), 0.0)
    store.wait_for_change(1.0)  # returns at once: nothing to wait for


def test_unknown_ids_are_named(store: SqliteStore) -> None:
    view = create_run(store, single_spec(), 0.0)
    with pytest.raises(RunNotFoundError, match="'missing'"):
        store.get_runs([view.id, "missing"])
    with pytest.raises(RunNotFoundError, match="'no-task'"):
        store.create_runs([run_request(single_spec())], 0.0, "no-task")
    assert not store.complete("no-task", 1, {}, 1.0).accepted


# ---------------------------------------------------------------- the engine on a SQLite file


async def test_a_parent_and_its_children_run_end_to_end_on_sqlite(db_path: Path) -> None:
    url = url_of(db_path)
    hatchet = await run_parent_and_children(url, "sq")
    assert hatchet.engine.display_url == url
    watcher = open_store(url)
    snap = watcher.snapshot(time.time())
    assert (snap.queued, snap.held) == ((), ())
    watcher.close()


def test_snapshots_and_cancels_read_the_work_at_hand_not_every_run_ever_run(
    store: SqliteStore, db_path: Path
) -> None:
    """The deadlock snapshot's queries read the held and the queued task runs through
    their partial indexes, and a cancel finds a run's children through the spawn key's
    index, never by scanning a table (which holds every run the file ever ran); the
    snapshot still finds each kind of task run."""
    from flowsim_sqlite import outcomes, workers

    store.create_runs([run_request(single_spec())] * 3, 0.0)
    claim_all(store, ["single"], 1.0, free=1)
    snap = store.snapshot(2.0, [])
    assert (len(snap.held), len(snap.queued)) == (1, 2)
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        for query in (workers.HELD_ROWS, workers.QUEUED_ROWS):
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {query}")]
            assert [step for step in plan if step.startswith("SCAN t")] != [], plan
            assert all("USING" in step for step in plan if step.startswith("SCAN t")), plan
        family = conn.execute(f"EXPLAIN QUERY PLAN {outcomes.FAMILY_TASKS}", ("x",))
        plan = [row[3] for row in family]
        # an AUTOMATIC index is built for the query by reading the whole table
        tables = ("SCAN c", "SCAN p", "SCAN r", "SCAN t")
        assert not any(step.startswith(tables) and "USING" not in step for step in plan), plan
        assert not any("AUTOMATIC" in step for step in plan), plan
