"""Numbered ``.sql`` migrations, applied in order under an advisory lock.

Every migrator takes the same transaction-scoped advisory lock before looking at the
schema, so two worker processes starting at once on a fresh database apply each migration
exactly once: the second waits, then finds the work done. The schema name reaches the SQL
only as a ``psycopg.sql.Identifier`` put where the files say ``{schema}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from flowsim.errors import ConfigurationError

#: pg_advisory_xact_lock key shared by every flowsim migrator ("flowsim" in ASCII)
ADVISORY_LOCK_KEY = 0x666C6F7773696D
VERSION_TABLE = "flowsim_schema"
PLACEHOLDER = "{schema}"
_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    text: str

    def statement(self, schema: str) -> sql.Composed:
        """The file's SQL with the quoted schema name wherever it says ``{schema}``."""
        pieces: list[sql.Composable] = []
        for index, part in enumerate(self.text.split(PLACEHOLDER)):
            if index:
                pieces.append(sql.Identifier(schema))
            pieces.append(sql.SQL(part))
        return sql.Composed(pieces)


def migrations() -> list[Migration]:
    """The package's migrations, by version (numbers must run 1, 2, 3, ... without gaps)."""
    found: list[Migration] = []
    folder = resources.files("flowsim_postgres").joinpath("migrations")
    for entry in folder.iterdir():
        match = _FILE.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"flowsim_postgres migrations are not numbered 1..n: {found}")
    return found


def latest_version() -> int:
    return len(migrations())


def migrate(conn: psycopg.Connection[TupleRow], schema: str, display_url: str) -> int:
    """Bring ``schema`` up to the latest version in one transaction; return the version.

    Refuses (``ConfigurationError``) a schema recorded at a newer version than this package
    knows, and a schema that holds tables but no flowsim version table (not ours)."""
    known = migrations()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
        tables = {
            str(name)
            for (name,) in conn.execute(
                "SELECT c.relname FROM pg_catalog.pg_class c "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
                (schema,),
            )
        }
        current = 0
        if VERSION_TABLE in tables:
            row = conn.execute(
                sql.SQL("SELECT max(version) FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(VERSION_TABLE)
                )
            ).fetchone()
            current = int(row[0]) if row is not None and row[0] is not None else 0
        elif tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise ConfigurationError(
                f"schema {schema!r} at {display_url} holds tables that are not flowsim's "
                f"({shown}) and no {VERSION_TABLE} table; point flowsim at its own schema "
                f"with ?schema=NAME (e.g. ?schema=flowsim_runs) or drop those tables"
            )
        if current > len(known):
            raise ConfigurationError(
                f"schema {schema!r} at {display_url} is at flowsim schema version {current}, "
                f"newer than this flowsim knows (up to {len(known)}); upgrade flowsim on this "
                "machine, or use another schema with ?schema=NAME"
            )
        if current == len(known):
            return current
        schema_id = sql.Identifier(schema)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema_id))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(schema_id, sql.Identifier(VERSION_TABLE))
        )
        for migration in known[current:]:
            conn.execute(migration.statement(schema))
            conn.execute(
                sql.SQL("INSERT INTO {}.{} (version, name) VALUES (%s, %s)").format(
                    schema_id, sql.Identifier(VERSION_TABLE)
                ),
                (migration.version, migration.name),
            )
        return len(known)
