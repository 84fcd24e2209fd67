"""Hatchet's own Python examples (sdks/python/examples in hatchet-dev/hatchet) as acceptance
tests. Each module here mirrors one example: the workflows are written anew from the
example's behaviour, take their Hatchet names from ``hatchet_sdk`` through flowsim's alias,
and the tests assert what the example's end-to-end test asserts. Every test runs on the
memory, SQLite and Postgres backends."""

from tests.compat.conftest import _restore_import_state, hatchet_sdk
from tests.every_backend import flowsim_base_url

__all__ = ["_restore_import_state", "flowsim_base_url", "hatchet_sdk"]
