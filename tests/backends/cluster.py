"""A private PostgreSQL server for the tests that stop or restart one, and a TCP proxy
that cuts a connection at its COMMIT.

The machine's server is shared with other test sessions and must never be restarted, so
outage tests run ``initdb``/``pg_ctl`` on a throwaway data directory: trust auth, a random
free port on 127.0.0.1, its socket in its own directory, removed afterwards. As root the
commands run as the ``postgres`` user (initdb refuses root). Without the binaries the
tests skip, saying why; with ``$CI`` set they fail instead, as in ``servers.py``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.backends.servers import under_ci


def _unavailable(reason: str) -> None:
    if under_ci():
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    return Path(versions[-1]).parent if versions else None


def _version(path: str) -> tuple[int, ...]:
    part = Path(path).parts[-3]
    return tuple(int(p) for p in part.split(".") if p.isdigit())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivateCluster:
    """One throwaway server: ``dsn`` reaches its ``postgres`` database."""

    def __init__(self, bin_dir: Path, root: Path, run_as: list[str]) -> None:
        self.bin_dir, self.root, self.run_as = bin_dir, root, run_as
        self.data = root / "data"
        self.port = free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.log = str(root / "server.log")

    def _ctl(self, *args: str, timeout: float = 60) -> None:
        """pg_ctl with its output (and the server's, which it hands its descriptors to)
        in a file: a pipe would be held open by the server and never reach EOF."""
        command = [*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args]
        with (self.root / "pg_ctl.out").open("ab") as out:
            done = subprocess.run(command, stdout=out, stderr=out, timeout=timeout)
        if done.returncode != 0:
            tail = (self.root / "pg_ctl.out").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {tail}")

    def init(self) -> None:
        command = [*self.run_as, str(self.bin_dir / "initdb"), "-D", str(self.data),
                   "-A", "trust", "-U", "postgres", "--no-sync"]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=60"
        )
        self._ctl("-l", self.log, "-w", "-o", options, "start")

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every session is ended, in-flight transactions
        roll back, and the server comes back on the same port."""
        self._ctl("-l", self.log, "-w", "-m", "fast", "restart")

    def stop(self) -> None:
        self._ctl("-w", "-m", "fast", "stop")

    def destroy(self) -> None:
        with suppress(RuntimeError, subprocess.TimeoutExpired):  # already stopped
            self._ctl("-w", "-m", "immediate", "stop", timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A running private server for the ``with`` block, stopped and deleted afterwards."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        _unavailable("initdb/pg_ctl not found (PATH, /usr/lib/postgresql/*/bin)")
        raise AssertionError("unreachable")
    run_as: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="flowsim-pg-"))
    if os.geteuid() == 0:  # initdb refuses root: run the server as postgres
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            _unavailable("running as root and there is no postgres user to run initdb as")
            raise AssertionError("unreachable") from None
        os.chown(root, account.pw_uid, account.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    cluster = PrivateCluster(bin_dir, root, run_as)
    try:
        cluster.init()
        cluster.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        cluster.destroy()
        _unavailable(f"cannot run a private PostgreSQL server: {exc}")
    try:
        yield cluster
    finally:
        cluster.destroy()


class CommitCutter:
    """A TCP proxy in front of a server that, once armed, cuts the next connection that
    sends COMMIT: ``after`` the server answered it (the transaction committed, the client
    never hears so), or ``before`` forwarding it (the server rolls the transaction back).
    The store under test connects through ``dsn``; the fault is a real dropped socket."""

    def __init__(self, host: str, port: int, dsn_template: str) -> None:
        self._target = (host, port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.dsn = dsn_template.format(port=self.port)
        self._armed: str | None = None
        self._lock = threading.Lock()
        self.cuts: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, when: str) -> None:
        assert when in ("after", "before")
        with self._lock:
            self._armed = when

    def close(self) -> None:
        with suppress(OSError):  # wakes the accepting thread, which then ends
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            cut = threading.Event()
            threading.Thread(target=self._up, args=(client, upstream, cut), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client, cut), daemon=True).start()

    def _take(self, chunk: bytes) -> str | None:
        with self._lock:
            if self._armed is None or b"COMMIT" not in chunk:
                return None
            when, self._armed = self._armed, None
            self.cuts.append(when)
            return when

    def _up(self, client: socket.socket, upstream: socket.socket, cut: threading.Event) -> None:
        while chunk := _recv(client):
            when = self._take(chunk)
            if when == "before":
                _close(client, upstream)
                return
            try:
                upstream.sendall(chunk)
            except OSError:
                break
            if when == "after":
                cut.set()  # the next bytes from the server (COMMIT's answer) are dropped
        _close(client, upstream)

    def _down(self, upstream: socket.socket, client: socket.socket, cut: threading.Event) -> None:
        heard = b""
        while chunk := _recv(upstream):
            if cut.is_set():  # swallow the answers until COMMIT's own (CommandComplete)
                heard += chunk
                if b"COMMIT\x00" in heard:
                    _close(client, upstream)
                    return
                continue
            try:
                client.sendall(chunk)
            except OSError:
                break
        _close(client, upstream)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
