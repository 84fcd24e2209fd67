"""``flowsim worker`` under cProfile, for ``python -m benchmarks.backends --profile-workers``.

    python -m benchmarks._profiled_worker OUTPUT.prof worker MODULE:ATTR --backend URL

A worker that is stopped while a parent still waits drains forever and is killed, so
cProfile's own write-on-exit would be lost: the profile is written on SIGUSR1 instead,
which the benchmark sends before stopping the workers.
"""

from __future__ import annotations

import cProfile
import signal
import sys
from types import FrameType

from flowsim.cli.app import app


def main() -> None:
    output, arguments = sys.argv[1], sys.argv[2:]
    profiler = cProfile.Profile()

    def dump(signum: int, frame: FrameType | None) -> None:
        profiler.disable()
        profiler.dump_stats(output)
        profiler.enable()

    signal.signal(signal.SIGUSR1, dump)
    profiler.enable()
    try:
        app(arguments, prog_name="flowsim")
    finally:
        profiler.disable()
        profiler.dump_stats(output)


if __name__ == "__main__":
    main()
