"""WAL checkpoints off the caller's path.

By default the commit that takes the write-ahead log past 1,000 pages copies it back into
the database file, with two fsyncs, inside the caller's operation: a claim or a completion
now and then takes milliseconds instead of microseconds (about a quarter of all the time
spent in a claim-and-complete loop here). Instead each open store runs a passive
checkpoint every ``INTERVAL`` seconds on a thread with its own connection: passive
checkpoints run beside writers and never wait for them, and the sqlite3 module releases
the GIL while they do I/O. SQLite's own automatic checkpoint stays on at a larger size,
as a backstop should this thread fall behind.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

INTERVAL = 0.1
#: pages in the WAL before a commit checkpoints by itself (SQLite's default is 1,000)
BACKSTOP_PAGES = 10_000


class Checkpointer:
    def __init__(self, path: Path, interval: float = INTERVAL) -> None:
        self._path = path
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flowsim-sqlite-wal", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(str(self._path), isolation_level=None, timeout=0)
        except sqlite3.Error:
            return  # the store's own connection reports what is wrong with the file
        try:
            while not self._stop.wait(self._interval):
                # busy (another process is checkpointing) or failing (disk trouble, which
                # the next operation reports): try again next time
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
