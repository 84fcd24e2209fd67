"""Which backend a client talks to, and who shares state with whom."""

from pathlib import Path

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


@pytest.mark.parametrize("url", ["postgresql://u:secret@[::1", "sqlite://[/x.db", "memory://[x"])
def test_a_malformed_url_is_a_configuration_error_that_does_not_echo_it(url: str) -> None:
    with pytest.raises(ConfigurationError, match="malformed flowsim backend URL") as raised:
        Hatchet(url).engine  # noqa: B018
    assert "secret" not in str(raised.value)
    assert "sqlite://" in str(raised.value)  # it lists the schemes to use


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://bob:s3cret@db:5432/app", "postgresql://bob:***@db:5432/app"),
        ("postgresql://bob@db/app?password=s3cret&sslmode=require",
         "postgresql://bob@db/app?password=***&sslmode=require"),
        ("memory://", "memory://"),
        ("postgresql://bob:pw@db:notaport/app", "<malformed URL>"),
    ],
)  # fmt: skip
def test_every_place_masks_a_password_alike(url: str, shown: str) -> None:
    """One masking for errors, logs, the pytest header and the worker's banner: a
    password given as a query parameter is masked too, and ``MaskedUrl`` (what the
    pytest plugin hands to fixtures) shows itself masked in a traceback's arguments."""
    from flowsim.dsn import MaskedUrl, mask_url

    assert mask_url(url) == shown
    assert repr(MaskedUrl(url)) == repr(shown)
    assert str(MaskedUrl(url)) == url  # still the URL to connect with


def test_a_broken_third_party_backend_fails_only_its_own_scheme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "flowsim_broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: flowsim-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[flowsim.backends]\nbroken = flowsim_broken_missing:backend\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    backend._discovered.cache_clear()
    try:
        assert Hatchet("memory://still-works").engine is not None
        assert "sqlite" in backend.plugins()
        with pytest.raises(ConfigurationError, match=r"entry point 'broken'.*failed to load"):
            Hatchet("broken://x").engine  # noqa: B018
    finally:
        monkeypatch.undo()
        backend._discovered.cache_clear()


@pytest.mark.parametrize("value", ["0", "-3", "abc", "inf"])
def test_a_lease_that_is_no_positive_number_of_seconds_is_refused(
    value: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(backend.LEASE_VAR, value)
    with pytest.raises(ConfigurationError, match=r"\$FLOWSIM_LEASE_SECONDS = .* above 0"):
        Hatchet(f"sqlite:///{tmp_path / 'lease.db'}").engine  # noqa: B018
