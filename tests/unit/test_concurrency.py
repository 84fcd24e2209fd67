"""The pure concurrency planning every store shares (``flowsim.concurrency``)."""

import pytest

from flowsim.concurrency import (
    Gate,
    Group,
    Waiting,
    admit_until_settled,
    check_limits,
    gates,
    plan_admissions,
    plan_arrival,
)
from flowsim.errors import InvalidInputError, WorkflowDefinitionError
from flowsim.rules import ConcurrencyStrategy
from flowsim.store.records import ConcurrencyLimit

GRR = ConcurrencyStrategy.GROUP_ROUND_ROBIN
CIP = ConcurrencyStrategy.CANCEL_IN_PROGRESS
CN = ConcurrencyStrategy.CANCEL_NEWEST
EXCEPT_NEWEST = ConcurrencyStrategy.CANCEL_QUEUED_EXCEPT_NEWEST
EXCEPT_OLDEST = ConcurrencyStrategy.CANCEL_QUEUED_EXCEPT_OLDEST


def gate(
    key: str, max_runs: int = 1, strategy: ConcurrencyStrategy = GRR, sid: str = "w/#0"
) -> Gate:
    return Gate(sid, key, max_runs, strategy)


def test_keys_are_evaluated_on_input_and_metadata_per_limit() -> None:
    limits = [ConcurrencyLimit("input.group", 2, GRR),
              ConcurrencyLimit("'t-' + additional_metadata.tenant", 1, CIP)]  # fmt: skip
    found = gates("wf", "step", limits, {"group": "A"}, {"tenant": "x"})
    assert found == (gate("A", 2, GRR, "wf/step#0"), gate("t-x", 1, CIP, "wf/step#1"))


def test_a_key_that_cannot_be_evaluated_names_the_workflow_task_and_expression() -> None:
    limits = [ConcurrencyLimit("input.group", 1, GRR)]
    with pytest.raises(InvalidInputError, match=r"workflow 'wf' task 'step'.*input\.group"):
        gates("wf", "step", limits, {}, {})


def test_an_unmodelled_expression_is_refused_naming_the_workflow() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"workflow 'wf'.*'input\.a > 1'"):
        check_limits("wf", "", [ConcurrencyLimit("input.a > 1", 1, GRR)])


def _arrival(gates_: tuple[Gate, ...], holders: dict[Group, list[str]],
             waiting: dict[Group, list[str]]) -> tuple[bool, bool, tuple[str, ...]]:  # fmt: skip
    plan = plan_arrival(
        gates_, lambda g: holders.get(g, []), lambda g, most: waiting.get(g, [])[:most]
    )
    return plan.admit, plan.cancel_new, plan.cancel_holders + plan.cancel_waiting


def test_round_robin_admits_while_room_and_nobody_waits_first() -> None:
    g = gate("A", 2)
    assert _arrival((g,), {g.group: ["u1"]}, {}) == (True, False, ())
    assert _arrival((g,), {g.group: ["u1", "u2"]}, {}) == (False, False, ())
    assert _arrival((g,), {g.group: ["u1"]}, {g.group: ["w"]}) == (False, False, ())


def test_cancel_in_progress_cancels_the_oldest_holders_and_admits() -> None:
    g = gate("A", 2, CIP)
    assert _arrival((g,), {g.group: ["old", "mid"]}, {}) == (True, False, ("old",))


def test_cancel_newest_cancels_the_newcomer_whatever_else_it_names() -> None:
    full_cn, cip = gate("A", 1, CN), gate("B", 1, CIP, "w/#1")
    found = _arrival((full_cn, cip), {full_cn.group: ["x"], cip.group: ["y"]}, {})
    assert found == (False, True, ())  # nothing cancelled in B for a run that never starts


def test_a_place_a_cancelled_holder_frees_counts_for_round_robin() -> None:
    cip, grr = gate("A", 1, CIP), gate("B", 1, GRR, "w/#1")
    found = _arrival((cip, grr), {cip.group: ["old"], grr.group: ["old"]}, {})
    assert found == (True, False, ("old",))


def test_a_queue_kept_short_in_one_group_holds_the_newcomer_back_in_all() -> None:
    """CANCEL_QUEUED_EXCEPT_NEWEST in A (full, one waiting) cancels that waiter; the
    newcomer waits there, so it takes no place in B either, though B has room."""
    newest, grr = gate("A", 1, EXCEPT_NEWEST), gate("B", 2, GRR, "w/#1")
    found = _arrival((newest, grr), {newest.group: ["h"]}, {newest.group: ["old"]})
    assert found == (False, False, ("old",))
    oldest = gate("A", 1, EXCEPT_OLDEST)
    found = _arrival((oldest, grr), {oldest.group: ["h"]}, {oldest.group: ["old"]})
    assert found == (False, True, ())  # cancelled: the queue already holds its oldest


def test_admissions_go_round_robin_across_groups_first_come_within_one() -> None:
    candidates = [
        Waiting("a1", (gate("A"),), 1),
        Waiting("a2", (gate("A"),), 2),
        Waiting("a3", (gate("A"),), 3),
        Waiting("b1", (gate("B"),), 4),
        Waiting("c1", (gate("C"),), 5),
    ]
    # one place per group: a1, b1, c1 in the first round (by arrival), no second A
    assert plan_admissions(candidates, lambda g: 0) == ["a1", "b1", "c1"]
    # B's place is taken: it is skipped, the others keep their turn
    held = {("w/#0", "A"): 0, ("w/#0", "B"): 1, ("w/#0", "C"): 0}
    assert plan_admissions(candidates, lambda g: held[g]) == ["a1", "c1"]
    # two places per group: a second round, in which only A has anyone left
    wide = [Waiting(w.unit, (gate(w.gates[0].key, 2),), w.seq) for w in candidates]
    assert plan_admissions(wide, lambda g: 0) == ["a1", "b1", "c1", "a2"]


def test_a_unit_is_admitted_only_when_every_group_has_room() -> None:
    both = Waiting("u", (gate("1"), gate("anna", sid="w/#1")), 1)
    held = {("w/#0", "1"): 0, ("w/#1", "anna"): 1}
    assert plan_admissions([both], lambda g: held[g]) == []
    held[("w/#1", "anna")] = 0
    assert plan_admissions([both], lambda g: held[g]) == ["u"]


def test_admission_looks_again_where_an_admitted_unit_stopped_waiting() -> None:
    """u1 waits on digit 1 (freed) and name anna; u2 waits behind it on anna only. Freeing
    digit 1 admits u1, whose groups are then looked at again: nothing more fits."""
    digit, anna = gate("1"), gate("anna", 2, sid="w/#1")
    waiting = {"u1": Waiting("u1", (digit, anna), 1), "u2": Waiting("u2", (anna,), 2)}
    held: dict[Group, int] = {digit.group: 0, anna.group: 0}
    looked: list[set[Group]] = []

    def candidates(groups: set[Group]) -> list[Waiting]:
        looked.append(set(groups))
        return sorted((w for w in waiting.values() if {g.group for g in w.gates} & groups),
                      key=lambda w: w.seq)  # fmt: skip

    def admit(units: list[Waiting]) -> None:
        for unit in units:
            del waiting[unit.unit]
            for g in unit.gates:
                held[g.group] += 1

    assert admit_until_settled({digit.group}, candidates, held.__getitem__, admit) == ["u1", "u2"]
    assert looked[0] == {digit.group} and anna.group in looked[1]


def test_an_arrival_reads_no_more_of_a_queue_than_its_strategy_needs() -> None:
    """A group with a long queue (10,000 waiting under GROUP_ROUND_ROBIN, say) is not read
    whole on every arrival: the stores are asked for at most what the strategy looks at."""
    asked: list[tuple[str, int | None]] = []

    def waiting(group: Group, most: int | None) -> list[str]:
        asked.append((group[1], most))
        return [f"w{i}" for i in range(10_000)][:most]

    for strategy in (GRR, CIP, CN, EXCEPT_NEWEST, EXCEPT_OLDEST):
        plan_arrival((gate(strategy.value, 3, strategy),), lambda g: ["h1", "h2", "h3"], waiting)
    # (the groups are full, so admitting reads no queue: it needs a free place first)
    assert asked == [
        ("GROUP_ROUND_ROBIN", 1),
        ("CANCEL_QUEUED_EXCEPT_NEWEST", None),  # kept max_runs deep by its arrivals
        ("CANCEL_QUEUED_EXCEPT_OLDEST", 3),
    ]
