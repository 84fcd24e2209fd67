"""``flowsim worker`` processes for the tests, started through the installed console
script exactly as a user starts them, with their output in the test's directory."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.helpers import wait_until

ROOT = Path(__file__).parents[2]
FLOWSIM = Path(sys.executable).with_name("flowsim")
LEASE = "1.0"


class Workers:
    """``flowsim worker`` processes through the installed console script."""

    def __init__(self, url: str, target: str, log_dir: Path, lease: str = LEASE) -> None:
        self.url, self.target, self.log_dir, self.lease = url, target, log_dir, lease
        self.processes: list[subprocess.Popen[bytes]] = []
        self.started = 0

    def start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        log = (self.log_dir / f"worker-{self.started}.log").open("wb")
        process = subprocess.Popen(
            [
                str(FLOWSIM),
                "worker",
                self.target,
                "--backend",
                self.url,
                "--lease-seconds",
                self.lease,
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.processes.remove(process)

    def stop_all(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_for(awaitable: Any, seconds: float) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(awaitable, seconds)

    return asyncio.run(bounded())


def fan_out(parents: int, children: int) -> list[Any]:
    """Start ``parents`` crash-parent runs of ``children`` children each (no waiting)."""
    from tests.backends import crashflows

    return [
        crashflows.parent.run(crashflows.Fan(tag=tag, n=children), wait_for_result=False)
        for tag in range(parents)
    ]


def wait_until_every_worker_holds_work(processes: int, seconds: float) -> None:
    """Block until ``processes`` distinct live workers hold a task run: a kill then lands
    on running work even when the machine is so loaded that workers take a second to
    start (random kills alone then hit only starting processes)."""
    from flowsim.engine.durable import DurableEngine
    from tests.backends import crashflows

    engine = crashflows.hatchet.engine
    assert isinstance(engine, DurableEngine)
    store = engine.run_store
    wait_until(
        lambda: len({held.worker_id for held in store.snapshot(time.time()).held}) >= processes,
        seconds,
        f"{processes} workers holding work",
    )


def fan_in(refs: list[Any], children: int, seconds: float) -> list[list[str]]:
    """Wait for the fan-out's parents, check every result and that each run, parents and
    children, ended COMPLETED with one child per spawn; the attempts' outcomes of every
    run, for the caller to judge what a fault was allowed to cost."""
    from flowsim.engine.durable import DurableEngine
    from tests.backends import crashflows

    results = [wait_for(ref.aio_result(), seconds) for ref in refs]
    for tag, result in enumerate(results):
        assert result["sum"] == sum(tag * 100_000 + i for i in range(children))
    child_ids = [run_id for result in results for run_id in result["children"]]
    assert len(set(child_ids)) == len(refs) * children  # no child spawned twice
    engine = crashflows.hatchet.engine
    assert isinstance(engine, DurableEngine)
    views = engine.run_store.get_runs([*child_ids, *(ref.workflow_run_id for ref in refs)])
    assert len(views) == len(refs) * (children + 1)  # none lost
    outcomes = []
    for view in views:
        (task,) = view.tasks.values()
        assert view.status.value == "COMPLETED"
        outcomes.append([attempt.outcome for attempt in task.attempts])
    return outcomes
