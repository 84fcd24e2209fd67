"""A module written against hatchet_sdk is simulated without an edit."""

import sys
from pathlib import Path

from flowsim.sim import load_scenario, simulate

APP = """\
import asyncio
from hatchet_sdk import Context, EmptyModel, Hatchet

hatchet = Hatchet()

@hatchet.task(name="kid")
def kid(input: EmptyModel, ctx: Context) -> dict:
    return {"ok": 1}

@hatchet.task(name="boss")
async def boss(input: EmptyModel, ctx: Context) -> dict:
    results = await asyncio.gather(kid.aio_run(), kid.aio_run())
    return {"n": len(results)}
"""


def scenario(tmp_path: Path, slots: int) -> Path:
    (tmp_path / "hatchet_app.py").write_text(APP)
    path = tmp_path / f"s{slots}.toml"
    path.write_text(
        f'module = "hatchet_app.py"\n[[workers]]\nname = "w"\nslots = {slots}\n'
        '[[arrivals]]\nworkflow = "boss"\n'
    )
    return path


def test_a_hatchet_sdk_module_deadlocks_on_one_slot_and_runs_on_two(tmp_path: Path) -> None:
    stuck = simulate(load_scenario(scenario(tmp_path, 1)))
    assert stuck.deadlock is not None and not stuck.ok
    fine = simulate(load_scenario(scenario(tmp_path, 2)))
    assert fine.ok
    (boss,) = [run for run in fine.runs if run.workflow == "boss"]
    assert boss.output == {"boss": {"n": 2}}
    assert "hatchet_sdk" not in sys.modules  # the alias is off again afterwards
