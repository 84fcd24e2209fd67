"""The simulator: the users' real workflow code on the real engine, in virtual time.

``simulate(load_scenario("scenarios/seed-deadlock.toml"))`` runs a scenario and returns a
``SimulationResult`` (runs, attempts, metrics, deadlock reports, assertion outcomes).
simpy is the clock and the world (arrivals, crashes); the engine is the only scheduler.
"""

from flowsim.sim.loop import (
    LoopClock,
    SimulationStalledError,
    VirtualTimeLoop,
    run_virtual,
    virtual_backend,
)
from flowsim.sim.results import SimulationResult
from flowsim.sim.runner import simulate
from flowsim.sim.scenario import Scenario, load_scenario, parse_scenario
from flowsim.sim.work import InjectedFault

__all__ = [
    "InjectedFault",
    "LoopClock",
    "Scenario",
    "SimulationResult",
    "SimulationStalledError",
    "VirtualTimeLoop",
    "load_scenario",
    "parse_scenario",
    "run_virtual",
    "simulate",
    "virtual_backend",
]
