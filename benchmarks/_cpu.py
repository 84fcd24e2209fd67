"""CPU time a fan-out costs, per child, by part: the worker processes, the Postgres
backends serving this repeat's database, and the calling process.

Runs/s says how fast, not where the work is: whether a change moved cost from the workers
to the server, or how far both are from the 100 µs per child that 20,000 children/s on 2
cores allow. These figures move with the machine's phases as runs/s does (144-192 µs per
child on Postgres for the same code within an hour), so comparing two versions still takes
alternated runs. Read from ``/proc`` (Linux); a part whose processes cannot be read (a
Postgres server on another machine, another OS) is left out, not guessed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds ``pid`` has used so far, or None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces: fields 14 and 15 count from its ")"
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def postgres_backend_pids(admin_url: str, database: str) -> list[int]:
    """The server processes connected to ``database``, if the server runs on this machine
    (their ``/proc`` entries say ``postgres``); none otherwise."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchall()
    pids = []
    for (pid,) in rows:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if cmdline.read().startswith(b"postgres"):
                    pids.append(int(pid))
        except OSError:
            continue
    return pids


@dataclass
class CpuMeter:
    """CPU seconds of named groups of processes between ``start`` and ``stop``. A process
    that exits in between loses what it used since ``start`` (a pooled connection's
    backend lives as long as its worker, so none does in a fan-out)."""

    groups: dict[str, list[int]]
    _before: dict[int, float] = field(default_factory=dict)
    _caller_before: float = 0.0

    def start(self) -> None:
        self._before = self._read(pid for pids in self.groups.values() for pid in pids)
        self._caller_before = time.process_time()

    def stop(self, children: int) -> dict[str, float]:
        """Microseconds per child by group, and ``caller`` for this process."""
        caller = time.process_time() - self._caller_before
        after = self._read(self._before)
        per_child: dict[str, float] = {}
        for name, pids in self.groups.items():
            used = [after[pid] - self._before[pid] for pid in pids if pid in after]
            if used:
                per_child[name] = 1e6 * sum(used) / children
        per_child["caller"] = 1e6 * caller / children
        return per_child

    @staticmethod
    def _read(pids: Iterable[int]) -> dict[int, float]:
        seconds = {pid: process_cpu_seconds(pid) for pid in pids}
        return {pid: value for pid, value in seconds.items() if value is not None}


def workers_and_server(url: str, worker_pids: Sequence[int], admin_url: str) -> CpuMeter:
    """A meter of the worker processes and, for a Postgres database (``url``) on this
    machine, of the server processes connected to it when this is called: the workers'
    backends, not those of a caller that connects later and polls."""
    groups = {"workers": list(worker_pids)}
    if not url.startswith("sqlite"):
        database = urlsplit(url).path.lstrip("/")
        groups["server"] = postgres_backend_pids(admin_url, database)
    return CpuMeter(groups)
