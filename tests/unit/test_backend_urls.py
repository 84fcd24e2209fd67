"""Which backend a client talks to, and who shares state with whom."""

import pytest

from flowsim import ConfigurationError, Context, EmptyModel, Hatchet, backend


def test_clients_on_one_url_share_state_and_other_urls_are_isolated() -> None:
    first, second, other = Hatchet("memory://app"), Hatchet("memory://app"), Hatchet("memory://x")

    @first.task(name="hello")
    def hello(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"hello": "world"}

    ref = hello.run(wait_for_result=False)
    assert first.engine is second.engine
    assert ref.workflow_run_id in second.engine.store.runs
    assert other.engine.store.runs == {}


def test_url_comes_from_argument_then_environment_then_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backend, "configured_default", None)  # as outside pytest
    monkeypatch.delenv("FLOWSIM_BACKEND", raising=False)
    assert Hatchet().backend_url == "memory://"
    monkeypatch.setenv("FLOWSIM_BACKEND", "memory://from-env")
    assert Hatchet().backend_url == "memory://from-env"
    assert Hatchet("memory://explicit").backend_url == "memory://explicit"
    assert Hatchet(backend="memory://kw").backend_url == "memory://kw"


def test_a_bad_url_in_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "configured_default", None)
    monkeypatch.setenv("FLOWSIM_BACKEND", "postgresq://typo")
    with pytest.raises(ConfigurationError, match=r"'postgresq://typo' \(from \$FLOWSIM_BACKEND\)"):
        Hatchet().engine  # noqa: B018


def test_a_second_clock_for_a_running_backend_is_refused() -> None:
    from flowsim import ManualClock

    Hatchet("memory://clocked", clock=ManualClock())
    with pytest.raises(ConfigurationError, match="already running with another clock"):
        Hatchet("memory://clocked", clock=ManualClock())
