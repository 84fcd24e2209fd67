"""When the Postgres database goes away: at start, mid-operation, mid-COMMIT, mid-run.

- A COMMIT whose connection is cut (by a TCP proxy: a real dropped socket) is settled by
  asking the server about the transaction's id: applied once, never twice, whether the
  cut came before or after the server committed.
- A private server (``cluster.py``; the machine's shared one is never stopped) is stopped
  and restarted under a store, its listener and two ``flowsim worker`` processes: they
  wait with backoff, listen again and finish; a database gone for longer than
  ``reconnect_seconds`` is a ``DatabaseLostError`` naming it and for how long.
- A database unreachable at start is a clear error within seconds, not a retry window.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from flowsim_postgres import open_store

from flowsim import ConfigurationError, DatabaseLostError, Hatchet, backend
from flowsim.rules import SlotPool
from flowsim.store.protocol import RunRequest
from flowsim.store.records import TaskSpec, WorkflowSpec
from tests.backends import servers
from tests.backends.cluster import CommitCutter, PrivateCluster, free_port, private_cluster
from tests.backends.processes import FLOWSIM, ROOT, Workers, fan_in, fan_out
from tests.backends.servers import rows, with_query

servers.require_driver(module=True)  # skips the module (fails it under CI) without psycopg

import psycopg  # noqa: E402 - only once the driver is known to be there
from flowsim_postgres.reconnect import commit_status  # noqa: E402


def single(name: str) -> WorkflowSpec:
    return WorkflowSpec(name, {"a": TaskSpec("a", (), 0, None, None, 60.0, 300.0, False)})


PARENT, CHILD, TOP = single("cut-parent"), single("cut-child"), single("cut-top")


# ---------------------------------------------------------------- a COMMIT cut off


@pytest.fixture
def cut() -> Iterator[tuple[Any, CommitCutter, str, str]]:
    """(store reaching the test server through a CommitCutter, the cutter, the server's
    DSN, the schema); one pooled connection, so every operation crosses the proxy."""
    with servers.postgres_schema("cut") as (dsn, schema):
        parts = urlsplit(dsn)
        user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        template = urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{{port}}"))
        cutter = CommitCutter(parts.hostname or "127.0.0.1", parts.port or 5432, template)
        store: Any = open_store(
            with_query(cutter.dsn, schema=schema, pool_min=1, pool_max=1, reconnect_seconds=20)
        )
        try:
            yield store, cutter, dsn, schema
        finally:
            store.close()
            cutter.close()


@pytest.mark.parametrize("when", ["after", "before"])
def test_a_commit_cut_off_is_applied_exactly_once(
    cut: tuple[Any, CommitCutter, str, str], when: str
) -> None:
    """``after``: the server committed and the client never heard: running the transaction
    again would spawn the children twice, claim task runs under tokens nobody holds and
    create a second top-level run. ``before``: the server rolled back: it must run again."""
    store, cutter, dsn, schema = cut
    store.create_runs([RunRequest(PARENT, {})], 0.0)
    (held,) = store.claim("w1", ["cut-parent"], SlotPool.DEFAULT, 10, 1.0, 30.0)

    cutter.arm(when)
    children = store.create_runs(
        [RunRequest(CHILD, {"i": i}) for i in range(5)], 2.0, held.task_run_id
    )
    spawned = rows(
        dsn, f"SELECT id FROM {schema}.runs WHERE parent_task_run_id = %s", held.task_run_id
    )
    assert sorted(r[0] for r in spawned) == sorted(c.id for c in children)
    assert [c.child_index for c in children] == [0, 1, 2, 3, 4]

    cutter.arm(when)
    claims = store.claim("w1", ["cut-child"], SlotPool.DEFAULT, 10, 3.0, 30.0)
    assert sorted(c.run_id for c in claims) == sorted(c.id for c in children)
    taken = rows(
        dsn,
        f"SELECT id, token, attempt_count FROM {schema}.task_runs "
        "WHERE workflow = 'cut-child' AND status = 'RUNNING'",
    )
    assert sorted(taken) == sorted((c.task_run_id, c.token, 1) for c in claims)  # once each

    cutter.arm(when)
    outcome = store.complete(claims[0].task_run_id, claims[0].token, {"ok": True}, 4.0)
    assert outcome.accepted and outcome.finished == (claims[0].run_id,)
    (view,) = store.get_runs([claims[0].run_id])
    assert [a.outcome for a in view.tasks["a"].attempts] == ["COMPLETED"]

    cutter.arm(when)
    (top,) = store.create_runs([RunRequest(TOP, {})], 5.0)
    assert rows(dsn, f"SELECT id FROM {schema}.runs WHERE workflow = 'cut-top'") == [(top.id,)]
    assert cutter.cuts == [when] * 4  # every cut really happened, at a COMMIT


def test_a_driver_error_after_commit_is_settled_not_run_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server ending a session as it commits can surface as an error of psycopg's own,
    with no SQLSTATE and the connection still looking healthy ("cannot exit pipeline mode
    while busy", seen in a restart). The transaction may have committed: a claim run again
    would take more task runs under a new token and leave the first ones held by this
    worker's heartbeats for ever. Here COMMIT goes through and the error is raised after
    it, once per operation: each must be settled by the transaction's id, applied once."""
    real_commit = psycopg.Connection.commit
    raised: list[str] = []

    def commit_then_fail(conn: psycopg.Connection[Any]) -> None:
        real_commit(conn)
        if armed:
            armed.clear()
            raised.append("after commit")
            raise psycopg.OperationalError("cannot exit pipeline mode while busy")

    armed: list[bool] = []
    monkeypatch.setattr(psycopg.Connection, "commit", commit_then_fail)
    with servers.postgres_schema("aftercommit") as (dsn, schema):
        store: Any = open_store(with_query(dsn, schema=schema, reconnect_seconds=10))
        try:
            armed.append(True)
            (parent,) = store.create_runs([RunRequest(PARENT, {})], 0.0)
            armed.append(True)
            claims = store.claim("w1", ["cut-parent"], SlotPool.DEFAULT, 10, 1.0, 30.0)
            armed.append(True)
            outcome = store.complete(claims[0].task_run_id, claims[0].token, {"ok": 1}, 2.0)
        finally:
            store.close()
        assert raised == ["after commit"] * 3  # each operation really met the error
        assert rows(dsn, f"SELECT id FROM {schema}.runs") == [(parent.id,)]  # created once
        assert [c.run_id for c in claims] == [parent.id]
        taken = rows(dsn, f"SELECT token, attempt_count, status FROM {schema}.task_runs")
        assert taken == [(claims[0].token, 1, "COMPLETED")]  # claimed once, by that token
        assert outcome.accepted and outcome.finished == (parent.id,)


def test_a_transaction_left_open_by_a_lost_session_is_ended_so_its_fate_is_known() -> None:
    """When the server has not yet noticed that a client is gone, its transaction is still
    in progress: asking about it ends that session (same pid and transaction only), after
    which the answer is final."""
    dsn = servers.postgres_dsn()
    with psycopg.connect(dsn) as lost, psycopg.connect(dsn) as asking:
        (xid,) = lost.execute("SELECT pg_current_xact_id()::text").fetchone() or ("",)
        pid = lost.info.backend_pid
        assert commit_status(asking, xid, pid + 100_000) == "in progress"  # not that one
        assert commit_status(asking, xid, pid) == "in progress"
        for _ in range(100):
            if commit_status(asking, xid, pid) != "in progress":
                break
            time.sleep(0.05)
        assert commit_status(asking, xid, pid) == "aborted"
        with pytest.raises(psycopg.OperationalError):
            lost.execute("SELECT 1")  # that session was ended


# ---------------------------------------------------------------- a private server


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    with private_cluster() as running:
        yield running


@pytest.fixture
def on_cluster(cluster: PrivateCluster) -> Iterator[Callable[..., str]]:
    """URLs of fresh schemas on the private server (which is running again afterwards)."""
    schemas: list[str] = []

    def url(**params: object) -> str:
        schemas.append(servers.new_schema("outage"))
        return with_query(cluster.dsn, schema=schemas[-1], **params)

    yield url
    if not _accepting(cluster.dsn):
        cluster.start()
    for schema in schemas:
        servers.drop_schema(cluster.dsn, schema)


def _accepting(dsn: str) -> bool:
    try:
        psycopg.connect(dsn, connect_timeout=2).close()
    except psycopg.Error:
        return False
    return True


def test_an_operation_waits_out_a_server_that_comes_back(
    cluster: PrivateCluster, on_cluster: Callable[..., str]
) -> None:
    store: Any = open_store(on_cluster(reconnect_seconds=20))
    try:
        (first,) = store.create_runs([RunRequest(TOP, {})], 0.0)
        cluster.stop()
        back = threading.Timer(1.5, cluster.start)
        back.start()
        started = time.monotonic()
        (second,) = store.create_runs([RunRequest(TOP, {})], 1.0)  # waits, then succeeds
        waited = time.monotonic() - started
        back.join()
        assert 1.4 <= waited < 10, waited
        assert [v.id for v in store.get_runs([first.id, second.id])] == [first.id, second.id]
    finally:
        store.close()


def test_a_database_gone_for_longer_than_the_window_is_named_with_how_long(
    cluster: PrivateCluster, on_cluster: Callable[..., str]
) -> None:
    url = on_cluster(reconnect_seconds=1.5).replace("postgres@", "postgres:s3cret@")
    store: Any = open_store(url)  # trust auth: the password is only there to be masked
    try:
        (run,) = store.create_runs([RunRequest(TOP, {})], 0.0)
        cluster.stop()
        started = time.monotonic()
        with pytest.raises(DatabaseLostError) as caught:
            store.get_runs([run.id])
        gave_up = time.monotonic() - started
    finally:
        store.close()
    assert 1.5 <= gave_up < 5, gave_up
    error = caught.value
    assert error.display_url == url.replace(":s3cret@", ":***@")
    assert error.seconds >= 1.5 and error.action == "get_runs"
    message = str(error)
    assert error.display_url in message and "s3cret" not in message
    assert "reconnect_seconds=" in message and "Traceback" not in message
    assert isinstance(error, ConnectionError)


def test_the_listener_listens_again_when_the_server_is_back_and_says_to_look(
    cluster: PrivateCluster, on_cluster: Callable[..., str]
) -> None:
    """A notification sent while the listener was away is never delivered; returning at
    once after listening again makes every waiter re-read (poll once), and a change after
    that is heard again."""
    url = on_cluster()
    listener: Any = open_store(url)
    try:
        listener.wait_for_change(0)  # listening
        cluster.stop()
        for _ in range(6):  # while the server is down, each wait returns by its timeout
            started = time.monotonic()
            listener.wait_for_change(0.1)
            assert time.monotonic() - started < 1.0
        cluster.start()
        writer: Any = open_store(url)
        writer.create_runs([RunRequest(TOP, {})], 0.0)  # while the listener was away
        started = time.monotonic()
        listener.wait_for_change(10.0)  # listens again (after at most a 1 s backoff) ...
        assert time.monotonic() - started < 2.0  # ... and returns at once: look again
        woke: list[float] = []
        waiter = threading.Thread(
            target=lambda: (listener.wait_for_change(10.0), woke.append(time.monotonic()))
        )
        waiter.start()
        time.sleep(0.3)
        assert woke == []  # listening, not polling
        sent = time.monotonic()
        writer.create_runs([RunRequest(TOP, {})], 1.0)
        waiter.join(timeout=10)
        writer.close()
        assert woke and woke[0] - sent < 1.0
    finally:
        listener.close()


def test_worker_processes_ride_out_a_server_restart_mid_run(
    cluster: PrivateCluster, on_cluster: Callable[..., str], tmp_path: Path
) -> None:
    """Two worker processes serve 2 parents x 100 children; the server is restarted (fast
    mode: every session ended) mid-run. Everything finishes, once, and the workers stay
    up, heartbeating. Leases are 10 s: a restart shorter than that must not cost a single
    attempt."""
    url = on_cluster()
    workers = Workers(url, "tests.backends.crashflows:worker", tmp_path, lease=str(LEASE))
    parents, children = 2, 100
    started = time.monotonic()
    with backend.redirected(url):
        for _ in range(2):
            workers.start()
        try:
            refs = fan_out(parents, children)
            done_before = _wait_for_progress(cluster.dsn, url, parents * children // 5)
            restarting, restarted_at = time.monotonic(), time.time()
            cluster.restart()
            try:
                outcomes = fan_in(refs, children, 40)
            except TimeoutError:  # say where it stood: the store's counts, the workers' logs
                raise AssertionError(_stalled(cluster.dsn, url, tmp_path)) from None
            recovered = time.monotonic() - restarting
            time.sleep(LEASE / 3 + 0.5)  # a heartbeat's interval, and some
            schema = url.rsplit("schema=", 1)[1]
            leases = rows(cluster.dsn, f"SELECT lease_expires_at FROM {schema}.workers")
            alive = [process.poll() is None for process in workers.processes]
        finally:
            workers.stop_all()
            backend.reset()
    took = time.monotonic() - started
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("worker-*.log"))
    assert alive == [True, True], logs
    # both workers heartbeat again after the restart (the renewal is stored, not assumed)
    assert len(leases) == 2 and all(lease > restarted_at + LEASE for (lease,) in leases), leases
    assert done_before < parents * children, "the restart came after the work was done"
    for attempts in outcomes:
        assert attempts == ["COMPLETED"], attempts  # completed once; no attempt lost
    assert "Traceback" not in logs, logs
    print(
        f"restarted after {done_before} of {parents * children} children; the rest done "
        f"{recovered:.1f} s later; {took:.1f} s in all (with starting two workers)"
    )


def test_a_worker_whose_database_stays_away_exits_with_the_error(
    cluster: PrivateCluster, on_cluster: Callable[..., str], tmp_path: Path
) -> None:
    """Never hang: past the window, the worker says what happened and exits with code 2
    (its held runs are re-run elsewhere when their leases lapse, as after a SIGKILL)."""
    url = on_cluster(reconnect_seconds=1).replace("postgres@", "postgres:s3cret@")
    workers = Workers(url, "tests.backends.crashflows:worker", tmp_path)
    (process,) = [workers.start()]
    try:
        _wait_for_log(tmp_path / "worker-1.log", "flowsim worker 'crash-worker' on")
        cluster.stop()
        stopped = time.monotonic()
        code = process.wait(timeout=30)
        took = time.monotonic() - stopped
    finally:
        workers.stop_all()
    log = (tmp_path / "worker-1.log").read_text(errors="replace")
    print(f"exit {code} {took:.1f} s after the server stopped")
    assert code == 2, log
    assert took < 10, took
    (last,) = [line for line in log.splitlines() if line.startswith("flowsim worker: ")]
    assert "lost the database at " + url.replace(":s3cret@", ":***@") in last
    assert "s3cret" not in log and "Traceback" not in log, log


def _wait_for_log(path: Path, text: str) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in {path} after 40 s")


async def test_an_in_process_worker_outlives_an_outage_longer_than_the_window(
    cluster: PrivateCluster, on_cluster: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside your own process nothing exits: the heartbeat that gave up is logged, and
    once the database is back the worker heartbeats and runs work again."""
    monkeypatch.setenv("FLOWSIM_LEASE_SECONDS", "0.6")  # a heartbeat every 0.2 s
    url = on_cluster(reconnect_seconds=0.3)
    schema = url.rsplit("schema=", 1)[1].split("&", 1)[0]
    hatchet = Hatchet(backend=url)
    task = hatchet.task(name="after-outage")(_noop)
    try:
        async with hatchet.worker("outlives", slots=1, workflows=[task]):
            assert await task.aio_run() == {}
            cluster.stop()
            await asyncio.sleep(1.0)  # heartbeats give up meanwhile (window 0.3 s)
            cluster.start()
            back = time.time()
            assert await task.aio_run() == {}
            await asyncio.sleep(0.6)
            ((lease,),) = rows(cluster.dsn, f"SELECT lease_expires_at FROM {schema}.workers")
    finally:
        backend.reset()
    assert lease > back + 0.6  # renewed after the outage


async def test_a_result_the_database_missed_is_written_when_it_is_back(
    cluster: PrivateCluster, on_cluster: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task that ends while the database is away for longer than the window: its
    completion gives up, is kept, and the first heartbeat that reaches the database
    writes it. (Dropping it would strand the run: the task run stays held under a lease
    the live worker keeps renewing.)"""
    monkeypatch.setenv("FLOWSIM_LEASE_SECONDS", "6")  # no lease lapses during the outage
    url = on_cluster(reconnect_seconds=0.3)
    hatchet = Hatchet(backend=url)
    started = asyncio.Event()

    @hatchet.task(name="ends-in-the-dark")
    async def slow(input: Any, ctx: Any) -> dict[str, str]:
        started.set()
        await asyncio.sleep(1.0)
        return {"done": "yes"}

    try:
        async with hatchet.worker("keeps-results", slots=1, workflows=[slow]):
            ref = await slow.aio_run(wait_for_result=False)
            await asyncio.wait_for(started.wait(), 20)
            cluster.stop()
            await asyncio.sleep(1.5)  # the task ends at 1.0 s, its completion gives up
            cluster.start()
            result = await asyncio.wait_for(ref.aio_result(), 10)
            (view,) = hatchet.engine.run_views([ref.workflow_run_id])
    finally:
        backend.reset()
    assert result == {"done": "yes"}
    assert [a.outcome for a in view.tasks["ends-in-the-dark"].attempts] == ["COMPLETED"]


#: seconds a claim lives without a heartbeat in the restart test: longer than a restart
LEASE = 10.0


def _stalled(dsn: str, url: str, tmp_path: Path) -> str:
    schema = url.rsplit("schema=", 1)[1].split("&", 1)[0]
    counts = rows(dsn, f"SELECT workflow, status, count(*) FROM {schema}.task_runs "
                       "GROUP BY workflow, status ORDER BY 1, 2")  # fmt: skip
    logs = "".join(p.read_text(errors="replace")[-3000:] for p in tmp_path.glob("worker-*.log"))
    return f"the fan-out did not finish within 40 s of the restart; task runs {counts}\n{logs}"


def _wait_for_progress(dsn: str, url: str, at_least: int) -> int:
    """Children completed so far, once at least ``at_least`` have (read off the server)."""
    schema = url.rsplit("schema=", 1)[1].split("&", 1)[0]
    deadline = time.monotonic() + 40  # starting two worker processes on a busy machine
    while time.monotonic() < deadline:
        try:
            ((done,),) = rows(
                dsn,
                f"SELECT count(*) FROM {schema}.task_runs WHERE workflow = 'crash-child' "
                "AND status = 'COMPLETED'",
            )
        except psycopg.errors.UndefinedTable:
            done = 0
        if done >= at_least:
            return int(done)
        time.sleep(0.02)
    raise AssertionError(f"fewer than {at_least} children completed in 40 s")


# ---------------------------------------------------------------- unreachable at start


def test_a_worker_whose_database_is_unreachable_at_start_exits_at_once() -> None:
    url = f"postgresql://bob:s3cret@127.0.0.1:{free_port()}/x?schema=app"
    started = time.monotonic()
    done = subprocess.run(
        [str(FLOWSIM), "worker", "tests.backends.crashflows:worker", "--backend", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    print(f"exit {done.returncode} after {took:.2f} s: {done.stderr.strip()}")
    assert done.returncode == 2
    assert took < 5
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1, message  # one paragraph, no traceback
    assert message.startswith("flowsim worker: cannot open the Postgres run store at ")
    assert url.replace(":s3cret@", ":***@") in message and "s3cret" not in message
    assert "Connection refused" in message  # the reason
    assert "check that the server runs" in message  # what to do


def test_a_client_on_an_unreachable_database_raises_the_typed_error_at_first_use() -> None:
    url = f"postgresql://bob:s3cret@127.0.0.1:{free_port()}/x"
    hatchet = Hatchet(backend=url)  # a URL is checked here; the database at first use
    task = hatchet.task(name="unreachable")(_noop)
    started = time.monotonic()
    try:
        with pytest.raises(ConfigurationError, match="cannot open the Postgres run store"):
            task.run(wait_for_result=False)
    finally:
        backend.reset()
    assert time.monotonic() - started < 5


def _noop(input: Any, ctx: Any) -> dict[str, int]:
    return {}
