"""``flowsim worker`` processes for the tests, started through the installed console
script exactly as a user starts them, with their output in the test's directory."""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

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
