"""Fan-out benchmark: N children through flowsim, beside the asyncio floor and peers.

    python -m benchmarks.fanout [--children 10000] [--repeat 3] [--json out.json]

Each case runs in a fresh subprocess (``python -m benchmarks.fanout --case KEY``, through
``benchmarks._driver``), so its peak RSS (``ru_maxrss``) is its own and no library's
import cost or memory leaks into another's figure. Each case is repeated ``--repeat``
times on fresh state, in rounds (every case once a round, so a drift in the machine's
speed reaches every case alike), and the best repeat is reported. Every repeat has a time budget
(``--budget``) and every subprocess a hard timeout, so the benchmark always finishes; a
case that runs out of budget is reported as partial, with the rate it reached, and a peer
that is not installed as skipped.
"""

from __future__ import annotations

import argparse
import sys

from benchmarks._common import Config
from benchmarks._driver import (
    Case,
    Result,
    Suite,
    case_main,
    check_positive,
    describe_environment,
    environment,
    parser_for,
    print_not_run,
    print_rates,
    run_cases,
    selected_keys,
    unknown_cases,
    write_json,
)

TARGET_RUNS_PER_SECOND = 50_000
#: Worker slots for the flowsim cases. On 2 cores, 10,000 slots (all children claimed in one
#: dispatch pass) ran aio_run_many ~8% faster than 1,000 (16.8k vs 15.5k runs/s); gather
#: and the parent-task case measured the same with either.
DEFAULT_SLOTS = 10_000


CASES = [
    Case(
        "floor",
        "asyncio.gather floor",
        "benchmarks._peer_cases",
        "floor",
        None,
        "asyncio.gather of N trivial coroutines returning a dict; no engine",
    ),
    Case(
        "flowsim-run-many",
        "flowsim aio_run_many",
        "benchmarks._flowsim_cases",
        "run_many",
        "flowsim",
        "await child.aio_run_many([N bulk items]) from the top-level coroutine",
    ),
    Case(
        "flowsim-gather",
        "flowsim gather(aio_run)",
        "benchmarks._flowsim_cases",
        "gather",
        "flowsim",
        "await asyncio.gather(*(child.aio_run(...) for N)) from the top-level coroutine",
    ),
    Case(
        "flowsim-parent",
        "flowsim parent task fan-out",
        "benchmarks._flowsim_cases",
        "parent",
        "flowsim",
        "a parent task awaits child.aio_run_many([N bulk items]); timed around parent.aio_run()",
    ),
    Case(
        "celery",
        "Celery eager group",
        "benchmarks._peer_cases",
        "celery",
        "celery",
        "task_always_eager=True; group(child.s(i) for i in range(N))().get()",
    ),
    Case(
        "pgqueuer",
        "pgqueuer in-memory",
        "benchmarks._peer_cases",
        "pgqueuer",
        "pgqueuer",
        "PgQueuer.in_memory(): enqueue N, then qm.run(mode=drain) until the queue is empty",
    ),
    Case(
        "procrastinate",
        "procrastinate in-memory",
        "benchmarks._peer_cases",
        "procrastinate",
        "procrastinate",
        "InMemoryConnector: batch_defer_async N, then run_worker_async(wait=False)",
    ),
]
SUITE = Suite(
    module="benchmarks.fanout",
    cases=CASES,
    reference="flowsim-run-many",
    floor="floor",
    reference_header="× flowsim aio_run_many",
    floor_header="× asyncio floor",
)


def verdict(results: list[Result]) -> list[str]:
    by_key = {r.key: r for r in results}
    lines = []
    reference = by_key.get(SUITE.reference)
    if reference is not None and reference.rate is not None:
        met = reference.rate >= TARGET_RUNS_PER_SECOND and reference.status == "ok"
        lines.append(
            f"target: flowsim aio_run_many >= {TARGET_RUNS_PER_SECOND:,} child runs/s: "
            f"{'MET' if met else 'NOT MET'} ({reference.rate:,.0f} runs/s, "
            f"{reference.rate / TARGET_RUNS_PER_SECOND:.2f}× the target)"
        )
    peers = [
        r
        for r in results
        if not r.key.startswith("flowsim") and r.key != SUITE.floor and r.status == "ok" and r.rate
    ]
    if peers and reference is not None and reference.rate:
        best = max(peers, key=lambda r: r.rate or 0.0)
        assert best.rate is not None
        lines.append(
            f"best peer: {best.label} at {best.rate:,.0f} runs/s; flowsim aio_run_many is "
            f"{reference.rate / best.rate:.2f}× that"
        )
    return lines


def driver_main(args: argparse.Namespace, config: Config) -> int:
    keys = selected_keys(SUITE, args)
    problem = unknown_cases(SUITE, keys)
    if problem:
        print(problem)
        return 2
    env = environment()
    print(
        f"fan-out of {config.children:,} children, best of {config.repeat} repeat(s), "
        f"flowsim worker slots={config.slots}, budget {config.budget:.0f} s per repeat\n"
        + describe_environment(env),
        flush=True,
    )
    results = run_cases(SUITE, keys, config)
    print()
    print_rates(SUITE, results, args.plain)
    print()
    for line in verdict(results):
        print(line)
    print_not_run(results)
    if args.json:
        write_json(
            args.json,
            env,
            SUITE,
            keys,
            config,
            results,
            target_runs_per_second=TARGET_RUNS_PER_SECOND,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(
        SUITE,
        "python -m benchmarks.fanout",
        "Fan out N children through flowsim and peers; print runs/s, ratios, peak RSS.",
        DEFAULT_SLOTS,
    )
    args = parser.parse_args(argv)
    if args.case:
        return case_main(SUITE, args.case, args.config)
    check_positive(parser, args)
    return driver_main(args, Config(args.children, args.repeat, args.slots, args.budget))


if __name__ == "__main__":
    sys.exit(main())
