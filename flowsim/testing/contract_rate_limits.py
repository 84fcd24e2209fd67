"""The rate limit part of the store contract (``RunStoreContract`` inherits it).

What every store must do with ``rate_limits`` (``flowsim.rate_limits`` has the rules and
their Hatchet sources): a task run whose units are short stays QUEUED and is skipped, the
runs behind it are claimed, it becomes claimable exactly when its key's window has passed
(``next_wakeup`` says when), a key never put or a demand above the limit waits for a
``put_rate_limit``, dynamic keys are upserted per rendered key, a run takes all of its keys'
units or none, and its schedule timeout still applies.
"""

from __future__ import annotations

from typing import Any

import flowsim.testing.contract as c
from flowsim.rate_limits import RateLimitSpec
from flowsim.rules import RunStatus
from flowsim.store.protocol import RunStore
from flowsim.store.records import WorkflowSpec

SECOND = 1.0
MINUTE = 60.0
#: leases and schedule deadlines far enough out not to be the next wakeup
LONG = 1_000.0


def static(key: str, units: int | str = 1) -> RateLimitSpec:
    return RateLimitSpec(key, False, units, None, 0.0)


def dynamic(key: str, limit: int | str, window: float, units: int | str = 1) -> RateLimitSpec:
    return RateLimitSpec(key, True, units, limit, window)


def limited_spec(name: str, *limits: RateLimitSpec, **task: Any) -> WorkflowSpec:
    """A one-task workflow (task ``t``) using the given rate limits."""
    task.setdefault("schedule_timeout", LONG)
    return c.workflow_spec(name, c.task_spec("t", rate_limits=limits, **task))


def _claim(store: RunStore, workflows: list[str], now: float, **options: Any) -> list[str]:
    """The run ids claimed, in claim order."""
    options.setdefault("lease", LONG)
    return [claim.run_id for claim in c.claim_all(store, workflows, now, **options)]


class RateLimitContract:
    def test_rate_limited_runs_wait_queued_until_the_window_refills(self, store: RunStore) -> None:
        store.put_rate_limit("k", 2, SECOND, 0.0)
        spec = limited_spec("limited", static("k"))
        first, second, third = c.created(store, [c.run_request(spec)] * 3, 0.0)
        assert _claim(store, ["limited"], 0.0) == [first.id, second.id]
        assert c.get_run(store, third.id).tasks["t"].status is RunStatus.QUEUED
        assert store.next_wakeup(0.0) == SECOND
        assert _claim(store, ["limited"], c.just_before(SECOND)) == []
        assert _claim(store, ["limited"], SECOND) == [third.id]

    def test_windows_follow_each_other_from_the_put_used_or_not(self, store: RunStore) -> None:
        store.put_rate_limit("k", 1, SECOND, 0.0)
        spec = limited_spec("limited", static("k"))
        runs = c.created(store, [c.run_request(spec)] * 3, 0.0)
        assert _claim(store, ["limited"], 0.0) == [runs[0].id]
        # nothing used the key from 0 to 2.5: 2.5 falls in the window from 2 to 3
        assert _claim(store, ["limited"], 2.5) == [runs[1].id]
        assert _claim(store, ["limited"], c.just_before(3.0)) == []
        assert _claim(store, ["limited"], 3.0) == [runs[2].id]

    def test_a_run_refused_its_units_does_not_hold_up_the_runs_behind_it(
        self, store: RunStore
    ) -> None:
        store.put_rate_limit("k", 1, MINUTE, 0.0)
        spec = limited_spec("limited", static("k"))
        free = c.single_spec("free", schedule_timeout=LONG)
        a, b = c.created(store, [c.run_request(spec)] * 2, 0.0)
        d = c.create_run(store, free, 1.0)
        assert _claim(store, ["limited", "free"], 1.0, free=2) == [a.id, d.id]
        assert c.get_run(store, b.id).tasks["t"].status is RunStatus.QUEUED

    def test_units_are_taken_from_every_key_or_from_none(self, store: RunStore) -> None:
        store.put_rate_limit("a", 1, MINUTE, 0.0)
        store.put_rate_limit("b", 1, MINUTE, 0.0)
        only_b = limited_spec("only_b", static("b"))
        both = limited_spec("both", static("a"), static("b"))
        only_a = limited_spec("only_a", static("a"))
        b_run = c.create_run(store, only_b, 0.0)
        assert _claim(store, ["only_b"], 0.0) == [b_run.id]
        c.create_run(store, both, 1.0)
        a_run = c.create_run(store, only_a, 2.0)
        # "both" finds b empty, so it takes nothing from a either
        assert _claim(store, ["both", "only_a"], 3.0) == [a_run.id]

    def test_units_above_one_are_taken_and_counted(self, store: RunStore) -> None:
        store.put_rate_limit("k", 5, MINUTE, 0.0)
        spec = limited_spec("limited", static("k", units=2))
        runs = c.created(store, [c.run_request(spec)] * 3, 0.0)
        assert _claim(store, ["limited"], 0.0) == [runs[0].id, runs[1].id]
        assert store.next_wakeup(0.0) == MINUTE

    def test_a_key_never_put_keeps_its_runs_queued_until_it_is_put(self, store: RunStore) -> None:
        spec = limited_spec("limited", static("absent"))
        view = c.create_run(store, spec, 0.0)
        assert _claim(store, ["limited"], 0.0) == []
        assert store.next_wakeup(0.0) == LONG  # only its schedule deadline: no refill to wait
        outcome = store.put_rate_limit("absent", 1, SECOND, 5.0)
        assert outcome.queued == 1
        assert _claim(store, ["limited"], 5.0) == [view.id]

    def test_units_above_the_limit_wait_for_the_limit_to_be_raised(self, store: RunStore) -> None:
        store.put_rate_limit("k", 2, MINUTE, 0.0)
        view = c.create_run(store, limited_spec("limited", static("k", units=3)), 0.0)
        assert _claim(store, ["limited"], 0.0) == []
        assert _claim(store, ["limited"], 20.0) == []  # no refill can give it 3 units
        store.put_rate_limit("k", 3, MINUTE, 30.0)
        # raised, but the units left stay at 2 until the window passes
        assert _claim(store, ["limited"], 30.0) == []
        assert store.next_wakeup(30.0) == MINUTE
        assert _claim(store, ["limited"], MINUTE) == [view.id]

    def test_put_keeps_the_units_left_capped_at_a_lower_limit(self, store: RunStore) -> None:
        store.put_rate_limit("k", 5, MINUTE, 0.0)
        spec = limited_spec("limited", static("k"))
        runs = c.created(store, [c.run_request(spec)] * 4, 0.0)
        assert _claim(store, ["limited"], 0.0, free=1) == [runs[0].id]  # 4 units left
        store.put_rate_limit("k", 2, MINUTE, 1.0)  # capped at 2; the window still ends at 60
        assert _claim(store, ["limited"], 1.0) == [runs[1].id, runs[2].id]
        assert _claim(store, ["limited"], c.just_before(MINUTE)) == []
        assert _claim(store, ["limited"], MINUTE) == [runs[3].id]

    def test_dynamic_keys_are_upserted_per_rendered_key(self, store: RunStore) -> None:
        spec = limited_spec("limited", dynamic("'user:' + input.user", 1, MINUTE))
        u1, again, u2 = c.created(
            store,
            [
                c.run_request(spec, {"user": "a"}),
                c.run_request(spec, {"user": "a"}),
                c.run_request(spec, {"user": "b"}),
            ],
            0.0,
        )
        assert _claim(store, ["limited"], 0.0) == [u1.id, u2.id]
        assert store.next_wakeup(0.0) == MINUTE
        assert _claim(store, ["limited"], MINUTE) == [again.id]

    def test_a_dynamic_key_is_shared_by_every_task_rendering_it(self, store: RunStore) -> None:
        one = limited_spec("one", dynamic("input.user", 1, MINUTE))
        two = limited_spec("two", dynamic("additional_metadata.user", 1, MINUTE))
        first = c.create_run(store, one, 0.0, {"user": "a"})
        c.create_run(store, two, 1.0, metadata={"user": "a"})
        assert _claim(store, ["one", "two"], 1.0) == [first.id]

    def test_a_key_created_by_a_dynamic_upsert_releases_the_runs_waiting_for_it(
        self, store: RunStore
    ) -> None:
        waiting = c.create_run(store, limited_spec("static", static("user:a")), 0.0)
        assert _claim(store, ["static"], 0.0) == []
        creator = limited_spec("dynamic", dynamic("'user:' + input.user", 2, MINUTE))
        made = c.create_run(store, creator, 1.0, {"user": "a"})
        # the claim that creates the key does not take the run it releases ...
        assert _claim(store, ["static", "dynamic"], 2.0) == [made.id]
        # ... the next one does, from the same key
        assert _claim(store, ["static", "dynamic"], 2.0) == [waiting.id]

    def test_units_and_limit_may_be_read_from_the_input(self, store: RunStore) -> None:
        limit = dynamic("input.group", "input.limit", MINUTE, units="input.units")
        spec = limited_spec("limited", limit)
        big, small, other = c.created(
            store,
            [
                c.run_request(spec, {"group": "g", "limit": 3, "units": 2}),
                c.run_request(spec, {"group": "g", "limit": 3, "units": 2}),
                c.run_request(spec, {"group": "h", "limit": 3, "units": 3}),
            ],
            0.0,
        )
        assert _claim(store, ["limited"], 0.0) == [big.id, other.id]
        assert _claim(store, ["limited"], MINUTE) == [small.id]

    def test_a_rate_limited_run_is_still_cancelled_at_its_schedule_deadline(
        self, store: RunStore
    ) -> None:
        store.put_rate_limit("k", 1, MINUTE, 0.0)
        spec = limited_spec("limited", static("k"), schedule_timeout=5.0)
        first, waiting = c.created(store, [c.run_request(spec)] * 2, 0.0)
        assert _claim(store, ["limited"], 0.0) == [first.id]
        assert store.next_wakeup(0.0) == 5.0
        outcome = store.expire(5.0)
        assert outcome.finished == (waiting.id,)
        assert c.get_run(store, waiting.id).tasks["t"].status is RunStatus.CANCELLED
        assert _claim(store, ["limited"], MINUTE) == []

    def test_expire_returns_refilled_runs_to_the_queue(self, store: RunStore) -> None:
        store.put_rate_limit("k", 1, SECOND, 0.0)
        spec = limited_spec("limited", static("k"))
        c.created(store, [c.run_request(spec)] * 2, 0.0)
        assert len(_claim(store, ["limited"], 0.0)) == 1
        assert store.expire(SECOND).queued == 1
        assert store.next_wakeup(SECOND) == LONG  # the refill was handled
        assert len(_claim(store, ["limited"], SECOND)) == 1

    def test_two_workers_claiming_at_once_share_the_units(self, store: RunStore) -> None:
        store.put_rate_limit("k", 3, MINUTE, 0.0)
        spec = limited_spec("limited", static("k"))
        c.created(store, [c.run_request(spec)] * 6, 0.0)
        first = _claim(store, ["limited"], 0.0, worker=c.WORKER, free=2)
        second = _claim(store, ["limited"], 0.0, worker=c.OTHER_WORKER, free=5)
        assert (len(first), len(second)) == (2, 1)
