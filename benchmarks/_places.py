"""Where the durable-backend benchmark's cases run: a fresh Postgres database or SQLite
file per repeat (dropped or deleted afterwards), and the worker processes serving it.

Every repeat gets its own database so no case sees another's rows, indexes bloated by an
earlier repeat, or a peer's tables; creating one costs well under a second and is outside
the timed part.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from benchmarks._common import Skipped
from benchmarks._driver import ROOT, subprocess_env

#: The server the benchmark uses: a database of its own is created there per repeat.
DSN_VARIABLE = "FLOWSIM_BENCH_POSTGRES"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
#: seconds a worker process may take to start (imports, connecting, migrating)
READY_SECONDS = 60.0


def server_dsn() -> str:
    """The admin DSN, after checking that the server answers (else the case is skipped)."""
    dsn = os.environ.get(DSN_VARIABLE, DEFAULT_DSN)
    try:
        import psycopg
    except ImportError as exc:
        raise Skipped(f"psycopg is not installed ({exc}); pip install -e '.[postgres]'") from None
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except psycopg.Error as exc:
        raise Skipped(f"PostgreSQL unreachable ({exc}); set ${DSN_VARIABLE}") from None
    return dsn


def _admin(dsn: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(statement)


@contextmanager
def postgres_database(tag: str) -> Iterator[str]:
    """A URL of a new, empty database for the ``with`` block; dropped afterwards, with any
    connection a worker left open."""
    dsn = server_dsn()
    name = f"flowsim_bench_{tag.replace('-', '_')}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _admin(dsn, f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))
    finally:
        _admin(dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def sqlite_file(tag: str) -> Iterator[Path]:
    """A path for a new SQLite file in a temporary directory, deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"flowsim-bench-{tag}-") as folder:
        yield Path(folder) / f"{tag}.db"


@contextmanager
def sqlite_url(tag: str) -> Iterator[str]:
    """``sqlite:///PATH`` of a new SQLite file, deleted afterwards."""
    with sqlite_file(tag) as path:
        yield f"sqlite:///{path}"


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll ``condition`` every 20 ms until it holds; RuntimeError naming ``what`` if not."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not after {seconds:.0f} s")
        time.sleep(0.02)


class Processes:
    """Worker processes of one repeat. Their output goes to a log file each, shown if the
    case fails; ``stop`` sends SIGTERM (so each drains and exits), then SIGKILL."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, command: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.log_dir / f"worker-{len(self.processes) + 1}.log").open("wb")
        self.processes.append(
            subprocess.Popen(
                command,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**subprocess_env(), **(env or {})},
            )
        )

    def python(self, *args: str, env: dict[str, str] | None = None) -> None:
        """Start ``python ARGS`` with this interpreter."""
        self.start([sys.executable, *args], env)

    def check_alive(self) -> None:
        for index, process in enumerate(self.processes, 1):
            if process.poll() is not None:
                raise RuntimeError(
                    f"worker {index} exited with {process.returncode}: {self.log_tail(index)}"
                )

    def wait_for_output(self, marker: str, what: str) -> None:
        """Until every process has printed ``marker`` (each prints it once ready)."""

        def ready() -> bool:
            self.check_alive()
            return all(marker in self.log_text(i) for i in self.indices())

        wait_until(ready, READY_SECONDS, what)

    def indices(self) -> range:
        return range(1, len(self.processes) + 1)

    def log_text(self, index: int) -> str:
        return (self.log_dir / f"worker-{index}.log").read_text(errors="replace")

    def log_tail(self, index: int) -> str:
        return " | ".join(self.log_text(index).strip().splitlines()[-5:]) or "no output"

    def signal(self, signum: int) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signum)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def processes(tag: str) -> Iterator[Processes]:
    """Worker processes for the ``with`` block, stopped at its end."""
    with tempfile.TemporaryDirectory(prefix=f"flowsim-bench-{tag}-logs-") as folder:
        workers = Processes(Path(folder))
        try:
            yield workers
        except Skipped:
            raise
        except Exception as exc:
            tails = "; ".join(f"worker {i}: {workers.log_tail(i)}" for i in workers.indices())
            raise RuntimeError(f"{exc} (worker logs: {tails})") from exc
        finally:
            workers.stop()
