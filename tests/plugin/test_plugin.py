"""The pytest plugin, exercised the way a user's repository uses it (through pytester)."""

import pytest

APP = """
from pydantic import BaseModel
from flowsim import Context, Hatchet

hatchet = Hatchet()   # module-level, defined once at import

class Msg(BaseModel):
    text: str

shout = hatchet.workflow(name="shout", input_validator=Msg)

@shout.task()
def upper(input: Msg, ctx: Context) -> dict:
    return {"text": input.text.upper()}
"""

TESTS = """
import pytest
from flowsim import Hatchet
from app import Msg, shout

@pytest.mark.parametrize("word", ["a", "b", "c"])
def test_each_test_sees_fresh_state(flowsim_worker, hatchet, word):
    flowsim_worker(slots=1, workflows=[shout])
    assert shout.run(Msg(text=word)) == {"upper": {"text": word.upper()}}
    assert len(hatchet.engine.store.runs) == 1

def test_backend_url_is_the_configured_one(hatchet, flowsim_backend_url):
    assert Hatchet().backend_url == hatchet.backend_url == flowsim_backend_url
    print("URL", flowsim_backend_url)
"""


@pytest.fixture
def user_repo(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(app=APP, test_app=TESTS)
    pytester.syspathinsert()
    return pytester


def test_module_level_workflows_run_in_every_test_on_fresh_state(
    user_repo: pytest.Pytester,
) -> None:
    result = user_repo.runpytest("-p", "no:asyncio", "-s")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["flowsim: backend memory://", "*URL memory://"])


def test_backend_from_command_line_option(user_repo: pytest.Pytester) -> None:
    result = user_repo.runpytest("-p", "no:asyncio", "-s", "--flowsim-backend", "memory://cli")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["flowsim: backend memory://cli", "*URL memory://cli"])


def test_backend_from_ini_key(user_repo: pytest.Pytester) -> None:
    user_repo.makeini("[pytest]\nflowsim_backend = memory://ini\n")
    result = user_repo.runpytest("-p", "no:asyncio", "-s")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["flowsim: backend memory://ini"])


def test_backend_from_environment_beats_ini(
    user_repo: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_repo.makeini("[pytest]\nflowsim_backend = memory://ini\n")
    monkeypatch.setenv("FLOWSIM_BACKEND", "memory://env")
    result = user_repo.runpytest("-p", "no:asyncio", "-s")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["flowsim: backend memory://env"])


def test_a_bad_backend_url_stops_the_session_with_a_clear_error(
    user_repo: pytest.Pytester,
) -> None:
    result = user_repo.runpytest("-p", "no:asyncio", "--flowsim-backend", "mongodb://x")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*unknown flowsim backend URL 'mongodb://x'*memory://*"])


def test_a_malformed_backend_url_stops_the_session_without_echoing_it(
    user_repo: pytest.Pytester,
) -> None:
    url = "postgresql://u:s3cret@[::1"
    result = user_repo.runpytest("-p", "no:asyncio", "--flowsim-backend", url)
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*malformed flowsim backend URL*"])
    assert "s3cret" not in str(result.stdout) + str(result.stderr)


def test_an_unreachable_database_fails_the_tests_without_showing_its_password(
    user_repo: pytest.Pytester,
) -> None:
    """Failures and teardown errors show the URL masked: the plugin's fixtures hold it as
    a ``MaskedUrl`` (a traceback shows arguments by their repr) and psycopg's frames,
    which show the connection string, are cut from the causes flowsim raises."""
    pytest.importorskip("psycopg")
    url = "postgresql://u:s3cret@127.0.0.1:1/x?password=s3cret"
    result = user_repo.runpytest("-p", "no:asyncio", "--flowsim-backend", url)
    lines = [*result.stdout.lines, *result.stderr.lines]
    output = "\n".join(line for line in lines if not line.startswith("URL "))  # the test's own
    assert result.ret != 0
    assert "cannot open the Postgres run store at postgresql://u:***@127.0.0.1:1/x" in output
    assert "s3cret" not in output


def test_clock_fixture_drives_time(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_clock="""
        import asyncio
        from flowsim import Context, EmptyModel

        def test_retry_waits_on_the_manual_clock(hatchet, flowsim_clock, flowsim_worker):
            @hatchet.task(name="flaky", retries=1, backoff_factor=3.0)
            def flaky(input: EmptyModel, ctx: Context) -> dict:
                if ctx.retry_count == 0:
                    raise RuntimeError("first attempt")
                return {"attempt": ctx.attempt_number}

            flowsim_worker(slots=1, workflows=[flaky])
            ref = flaky.run(wait_for_result=False)
            run = hatchet.engine.store.get_run(ref.workflow_run_id)
            import time
            deadline = time.monotonic() + 5
            while run.tasks["flaky"].status != "QUEUED" or not run.tasks["flaky"].attempts:
                assert time.monotonic() < deadline
                time.sleep(0.001)
            assert flowsim_clock.pending()[0] == 3.0
            flowsim_clock.advance(3)
            assert ref.result() == {"attempt": 2}
        """
    )
    pytester.runpytest("-p", "no:asyncio").assert_outcomes(passed=1)


def test_async_tests_work_with_the_worker_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(
        test_async="""
        import asyncio
        from flowsim import Context, EmptyModel, SlotDeadlockError
        import pytest

        async def test_fan_out_from_an_async_test(hatchet, flowsim_worker):
            @hatchet.task(name="leaf")
            async def leaf(input: EmptyModel, ctx: Context) -> dict:
                return {"ok": True}

            @hatchet.task(name="root")
            async def root(input: EmptyModel, ctx: Context) -> dict:
                items = [leaf.create_bulk_run_item() for _ in range(50)]
                return {"n": len(await leaf.aio_run_many(items))}

            flowsim_worker(slots=2, workflows=[leaf, root])
            assert await root.aio_run() == {"n": 50}
            assert await asyncio.gather(*(leaf.aio_run() for _ in range(5))) == [{"ok": True}] * 5

        async def test_deadlock_from_an_async_test(hatchet, flowsim_worker):
            @hatchet.task(name="leaf")
            async def leaf(input: EmptyModel, ctx: Context) -> dict:
                return {"ok": True}

            @hatchet.task(name="root")
            async def root(input: EmptyModel, ctx: Context) -> dict:
                return await leaf.aio_run()

            flowsim_worker(slots=1, workflows=[leaf, root])
            with pytest.raises(SlotDeadlockError):
                await asyncio.wait_for(root.aio_run(), 5)
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)
