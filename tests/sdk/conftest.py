"""These tests run unchanged on every backend (issue 3: the same definitions give the same
results on memory, SQLite and Postgres)."""

from tests.every_backend import flowsim_base_url

__all__ = ["flowsim_base_url"]
