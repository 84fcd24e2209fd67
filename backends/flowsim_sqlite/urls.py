"""``sqlite://`` URLs: which file a store lives in.

The convention is SQLAlchemy's: after ``sqlite://`` comes an empty host and then the path,
so ``sqlite:///runs/flowsim.db`` (three slashes) is ``runs/flowsim.db`` relative to the
working directory of the process that opens it, and ``sqlite:////var/lib/flowsim.db``
(four) is absolute. A relative path is made absolute once, when the store opens, so a
later ``chdir`` does not move the store. Worker processes started from another directory
must therefore be given an absolute path.

``:memory:`` is refused: an in-memory SQLite database belongs to one connection of one
process, while the point of this backend is that worker processes share the file (for a
store inside one process, ``memory://`` is faster and needs no file).
"""

from __future__ import annotations

import os
from pathlib import Path

from flowsim.errors import ConfigurationError

SCHEME = "sqlite"
EXPECTED = (
    "expected sqlite:///relative/path.db (three slashes: relative to the working directory) "
    "or sqlite:////absolute/path.db (four slashes)"
)


def parse_url(url: str) -> Path:
    """The absolute path of the database file a ``sqlite://`` URL names;
    ``ConfigurationError`` saying what was expected otherwise."""
    prefix = f"{SCHEME}://"
    if not url.startswith(prefix):
        raise ConfigurationError(f"{url!r} is not a SQLite URL: {EXPECTED}")
    rest = url[len(prefix) :]
    if ":memory:" in rest or "mode=memory" in rest:
        raise ConfigurationError(
            f"{url!r}: an in-memory SQLite database cannot be shared by worker processes, "
            "which is what this backend is for; use memory:// for a store inside one "
            f"process, or a file: {EXPECTED}"
        )
    if not rest.startswith("/"):
        raise ConfigurationError(
            f"{url!r} names a host ({rest.split('/', 1)[0]!r}); SQLite URLs have none: {EXPECTED}"
        )
    path = rest[1:]
    if not path:
        raise ConfigurationError(f"{url!r} names no database file: {EXPECTED}")
    if "?" in path or "#" in path:
        raise ConfigurationError(
            f"{url!r}: SQLite URLs take no query parameters or fragments: {EXPECTED}"
        )
    if path.endswith("/"):
        raise ConfigurationError(f"{url!r} names a directory, not a database file: {EXPECTED}")
    return Path(os.path.abspath(path))
