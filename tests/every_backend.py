"""Run a test module on all three backends: ``memory://``, a SQLite file and a Postgres
schema. A conftest imports ``flowsim_base_url`` from here to override the plugin's
fixture of that name; the plugin then gives each test its own file or schema.

Postgres skips with the reason when unreachable, except under CI, where it fails."""

from pathlib import Path

import pytest

from tests.backends.servers import postgres_dsn

BACKENDS = ("memory", "sqlite", "postgres")


@pytest.fixture(params=BACKENDS)
def flowsim_base_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'base.db'}"
    return postgres_dsn()
