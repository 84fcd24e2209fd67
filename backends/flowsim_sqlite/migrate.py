"""Schema migrations: numbered ``migrations/NNNN_name.sql`` files, applied in order.

``flowsim_schema`` records the version reached. Migrating runs in one ``BEGIN IMMEDIATE``
transaction, which takes SQLite's write lock before reading the version, so two processes
migrating a fresh file at once are serialised: the second finds the work done. Before any
of that, ``inspect`` looks at the file with reads only, so a file that is not a database,
or is someone else's database, is refused without a byte of it changing (switching to WAL
alone would rewrite its header).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from flowsim.errors import ConfigurationError
from flowsim_sqlite import errors

VERSION_TABLE = "flowsim_schema"
HEADER = b"SQLite format 3\x00"
_NAME = re.compile(r"(\d{4})_[A-Za-z0-9_]+\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def split_statements(script: str) -> tuple[str, ...]:
    """One statement per entry, split where SQLite itself says a statement is complete
    (``executescript`` cannot be used: it commits the open transaction first)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        if not pending and (not line.strip() or line.lstrip().startswith("--")):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"unterminated SQL statement at the end of a migration: {pending!r}")
    return tuple(statements)


def load_migrations() -> tuple[Migration, ...]:
    folder = resources.files("flowsim_sqlite") / "migrations"
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.fullmatch(entry.name)
        if match is None:
            continue
        found.append(
            Migration(int(match.group(1)), entry.name, split_statements(entry.read_text("utf-8")))
        )
    found.sort(key=lambda m: m.version)
    expected = list(range(1, len(found) + 1))
    if [m.version for m in found] != expected:
        raise RuntimeError(f"flowsim_sqlite migrations are not numbered 1..n: {found}")
    return tuple(found)


MIGRATIONS = load_migrations()
LATEST = MIGRATIONS[-1].version


def check_header(path: Path) -> None:
    """Refuse a non-empty file that does not start with SQLite's magic header, before
    SQLite is given a chance to touch it."""
    if path.is_dir():
        raise ConfigurationError(f"{str(path)!r} is a directory, not a SQLite database file")
    try:
        with path.open("rb") as handle:
            head = handle.read(len(HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise errors.cannot_open(path, exc) from exc
    if head and head != HEADER:
        raise errors.not_a_database(path, "it does not start with the SQLite file header")


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
        "ESCAPE '\\'"
    ).fetchall()
    return {name for (name,) in rows}


def _recorded_version(conn: sqlite3.Connection) -> int:
    row = conn.execute(f"SELECT max(version) FROM {VERSION_TABLE}").fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


def _refuse_version(path: Path, version: int) -> None:
    known = {m.version for m in MIGRATIONS}
    if version > LATEST:
        raise ConfigurationError(
            f"the SQLite run store {str(path)!r} is at schema version {version}, newer than "
            f"this flowsim knows (up to {LATEST}): upgrade flowsim on this machine, or point "
            "sqlite:/// at another file"
        )
    if version != 0 and version not in known:
        raise ConfigurationError(
            f"the SQLite run store {str(path)!r} records schema version {version}, which no "
            f"flowsim migration has (known: 1..{LATEST}); the file was changed by hand: point "
            "sqlite:/// at another file"
        )


def _refuse_foreign(path: Path, tables: set[str]) -> None:
    listed = ", ".join(sorted(tables)[:8]) + (", ..." if len(tables) > 8 else "")
    raise ConfigurationError(
        f"{str(path)!r} is a SQLite database that is not a flowsim run store (it has tables "
        f"{listed} and no {VERSION_TABLE}); flowsim left it untouched. Point sqlite:/// at a "
        "new file."
    )


def inspect(conn: sqlite3.Connection, path: Path) -> None:
    """Read-only checks before anything is written: the file is a database, and either
    empty or a flowsim store at a version this code knows."""
    try:
        tables = _tables(conn)
        version = _recorded_version(conn) if VERSION_TABLE in tables else 0
    except sqlite3.OperationalError:
        raise  # busy, or cannot open: not a verdict on the contents
    except sqlite3.DatabaseError as exc:  # SQLITE_NOTADB, SQLITE_CORRUPT
        raise errors.not_a_database(path, str(exc)) from exc
    if tables and VERSION_TABLE not in tables:
        _refuse_foreign(path, tables)
    _refuse_version(path, version)


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Bring the schema to ``LATEST`` in one write transaction; return the version found."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        tables = _tables(conn)
        if VERSION_TABLE in tables:
            found = _recorded_version(conn)
        elif tables:
            _refuse_foreign(path, tables)
        else:
            found = 0
            conn.execute(f"CREATE TABLE {VERSION_TABLE} (version INTEGER NOT NULL)")
        _refuse_version(path, found)
        for migration in MIGRATIONS:
            if migration.version > found:
                for statement in migration.statements:
                    conn.execute(statement)
        if found < LATEST:
            conn.execute(f"DELETE FROM {VERSION_TABLE}")
            conn.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (?)", (LATEST,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return found
