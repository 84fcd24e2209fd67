"""Spawn cycles and children no worker registers, flagged; nothing flagged where the
code gives no reason."""

import time
from pathlib import Path

from flowsim.analysis import Severity, SpawnCycle, UnregisteredChild, analyse
from tests.analysis.apps import SEED_WITH_WORKER, SPAWN_CYCLE, UNREGISTERED_CHILD, write


def test_spawn_cycles_are_flagged_and_not_simulated(tmp_path: Path) -> None:
    started = time.monotonic()
    analysis = analyse(write(tmp_path, "cycle", SPAWN_CYCLE))
    # a recursion without end would never leave t=0 in a simulation: it must be skipped
    assert time.monotonic() - started < 30
    cycles = [f for f in analysis.findings if isinstance(f, SpawnCycle)]
    assert sorted(c.workflows for c in cycles) == [("echo",), ("ping", "pong")]
    assert all(c.severity is Severity.WARNING for c in cycles)
    assert '"ping" -> "pong" -> "ping"' in cycles[1].message()
    assert analysis.simulation is None
    assert any("spawn without end" in note for note in analysis.notes)
    # no threshold is searched on a cycle: it has none
    assert {f.kind for f in analysis.findings} == {"spawn-cycle"}


def test_a_child_no_worker_registers_is_flagged(tmp_path: Path) -> None:
    analysis = analyse(write(tmp_path, "unregistered", UNREGISTERED_CHILD))
    (finding,) = [f for f in analysis.findings if isinstance(f, UnregisteredChild)]
    assert (finding.workflow, finding.spawned_by, finding.workers) == (
        "child",
        ("parent",),
        ("parents-only",),
    )
    assert finding.severity is Severity.ERROR
    assert "registered by no worker" in finding.message()
    assert analysis.errors == [finding]


def test_registered_children_and_undeclared_workers_are_not_flagged(tmp_path: Path) -> None:
    registered = analyse(write(tmp_path, "seedw", SEED_WITH_WORKER.replace("{slots}", "5")))
    assert not [f for f in registered.findings if isinstance(f, UnregisteredChild)]
    # with no Worker in the code, which process registers what is unknown: no finding
    undeclared = UNREGISTERED_CHILD.replace(
        'worker = hatchet.worker("parents-only", slots=4, workflows=[parent])', ""
    )
    analysis = analyse(write(tmp_path, "noworker", undeclared))
    assert not [f for f in analysis.findings if isinstance(f, UnregisteredChild)]


def test_findings_serialise(tmp_path: Path) -> None:
    analysis = analyse(write(tmp_path, "seedw1", SEED_WITH_WORKER.replace("{slots}", "1")))
    (data,) = [f.to_dict() for f in analysis.findings]
    assert data["kind"] == "deadlock-threshold" and data["severity"] == "error"
    assert data["deadlock_at_parents"] == 1
    assert [p["slots_needed"] for p in data["points"]] == [2, 3, 4, 5]
