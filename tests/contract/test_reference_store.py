"""The shipped contract suite against the in-memory reference store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flowsim.store.protocol import RunStore
from flowsim.store.reference import ReferenceStore
from flowsim.testing.contract import RunStoreContract


class TestReferenceStore(RunStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[RunStore]:
        store = ReferenceStore()
        store.migrate()
        yield store
        store.close()
