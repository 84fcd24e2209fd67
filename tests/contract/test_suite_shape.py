"""How a backend's test module uses the shipped suite: a fixture is all it adds."""

from __future__ import annotations

import pytest

from flowsim.testing.contract import RunStoreContract

#: errors reported one line each: 60-odd tracebacks would only slow the test down
OPTIONS = ("--tb=line",)


def _contract_tests() -> list[str]:
    return sorted(name for name in dir(RunStoreContract) if name.startswith("test_"))


def test_importing_the_suite_collects_nothing_by_itself(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("from flowsim.testing.contract import RunStoreContract\n")
    result = pytester.runpytest("-q", "-p", "no:cacheprovider", "-p", "no:asyncio", *OPTIONS)
    result.assert_outcomes()


def test_a_subclass_with_a_store_fixture_runs_every_contract_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from flowsim.store.reference import ReferenceStore
        from flowsim.testing.contract import RunStoreContract

        class TestMine(RunStoreContract):
            @pytest.fixture
            def store(self):
                return ReferenceStore()
        """
    )
    result = pytester.runpytest("-q", "-p", "no:cacheprovider", "-p", "no:asyncio", *OPTIONS)
    result.assert_outcomes(passed=len(_contract_tests()))


def test_a_subclass_without_a_store_fixture_fails_saying_what_to_add(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from flowsim.testing.contract import RunStoreContract

        class TestForgetful(RunStoreContract):
            pass
        """
    )
    result = pytester.runpytest("-q", "-p", "no:cacheprovider", "-p", "no:asyncio", *OPTIONS)
    result.assert_outcomes(errors=len(_contract_tests()))
    result.stdout.fnmatch_lines(
        ["*TestForgetful inherits RunStoreContract but defines no `store`*"]
    )
