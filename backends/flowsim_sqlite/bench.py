"""How fast the SQLite store is on this machine's disk: ``python -m flowsim_sqlite.bench``.

Measures the store's hot operations on a fresh file in a temporary directory (or
``--dir``), each the best of ``--rounds`` rounds, since a shared machine's noise only ever
slows a round down: ``create_runs`` in batches of 1,000, ``claim`` in batches of 100,
``complete`` one at a time, and then worker processes claiming and completing from one
file at once (one writer at a time: the total stays about that of one process; what
matters is that each gets a fair share without long waits).
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

from flowsim.rules import SlotPool
from flowsim.store.protocol import Claim, RunRequest
from flowsim.store.records import TaskSpec, WorkflowSpec
from flowsim_sqlite.store import open_store

SPEC = WorkflowSpec("bench", {"t": TaskSpec("t", (), 0, None, None, 60.0, 3600.0, False)})


def _requests(count: int) -> list[RunRequest]:
    return [RunRequest(SPEC, {"i": i}) for i in range(count)]


def single_process(folder: Path, runs: int) -> dict[str, float]:
    store = open_store(f"sqlite:///{folder / 'single.db'}")
    batch = _requests(1000)
    started = time.perf_counter()
    for _ in range(runs // 1000):
        store.create_runs(batch, 1.0)
    create = runs / (time.perf_counter() - started)
    claims: list[Claim] = []
    started = time.perf_counter()
    while len(claims) < runs:
        claims.extend(store.claim("w", ["bench"], SlotPool.DEFAULT, 100, 2.0, 60.0))
    claim = len(claims) / (time.perf_counter() - started)
    started = time.perf_counter()
    for c in claims:
        store.complete(c.task_run_id, c.token, {"ok": True}, 3.0)
    complete = len(claims) / (time.perf_counter() - started)
    store.close()
    return {
        "create_runs, batches of 1,000 (runs/s)": create,
        "claim, batches of 100 (task runs/s)": claim,
        "complete (/s)": complete,
    }


def _worker(url: str, name: str, start: Any, results: Any) -> None:
    store = open_store(url)
    start.wait()
    done, slowest, began = 0, 0.0, time.perf_counter()
    while True:
        before = time.perf_counter()
        batch = store.claim(name, ["bench"], SlotPool.DEFAULT, 50, 2.0, 60.0)
        slowest = max(slowest, time.perf_counter() - before)
        if not batch:
            break
        for c in batch:
            before = time.perf_counter()
            store.complete(c.task_run_id, c.token, {"ok": True}, 3.0)
            slowest = max(slowest, time.perf_counter() - before)
        done += len(batch)
    store.close()
    results.put((name, done, time.perf_counter() - began, slowest))


def processes(folder: Path, count: int, runs: int) -> dict[str, float]:
    url = f"sqlite:///{folder / f'processes-{count}.db'}"
    store = open_store(url)
    for _ in range(runs // 1000):
        store.create_runs(_requests(1000), 1.0)
    store.close()
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(count + 1), context.Queue()
    workers = [
        context.Process(target=_worker, args=(url, f"p{i}", start, results)) for i in range(count)
    ]
    for process in workers:
        process.start()
    start.wait()
    reports = [results.get() for _ in workers]
    for process in workers:
        process.join()
    elapsed = max(report[2] for report in reports)
    shares = sorted(report[1] for report in reports)
    return {
        f"{count} processes: claim+complete (task runs/s)": runs / elapsed,
        f"{count} processes: smallest share (%)": 100 * shares[0] / runs,
        f"{count} processes: slowest call (ms)": 1000 * max(report[3] for report in reports),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=None, help="where the files go")
    args = parser.parse_args()
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(dir=args.dir) as folder:
            found = single_process(Path(folder), args.runs)
            if args.processes > 1:
                found.update(processes(Path(folder), args.processes, args.runs))
        for key, value in found.items():
            better = min if "slowest" in key else max
            best[key] = better(best.get(key, value), value)
    for key, value in best.items():
        print(f"{key:50s} {value:>10,.1f}")


if __name__ == "__main__":
    main()
